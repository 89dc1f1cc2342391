package soc

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

//go:embed assets/console.html assets/console.css
var assets embed.FS

// Console table sizes: enough to answer "who, since when, how often" at a
// glance; the API has the rest.
const (
	consoleDevices = 200
	consoleHits    = 50
	consoleNames   = 15
)

type console struct {
	rec   *Recorder
	opts  HandlerOptions
	tmpl  *template.Template
	style []byte
}

func newConsole(r *Recorder, opts HandlerOptions) (*console, error) {
	c := &console{rec: r, opts: opts}
	loc := opts.Location
	tmpl, err := template.New("console.html").Funcs(template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.In(loc).Format("2006-01-02 15:04:05")
		},
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago": func(t time.Time) string { return ago(r.now().Sub(t)) },
		"num": func(n any) string { return thousands(n) },
	}).ParseFS(assets, "assets/console.html")
	if err != nil {
		return nil, fmt.Errorf("soc: parse console template: %w", err)
	}
	c.tmpl = tmpl
	if c.style, err = assets.ReadFile("assets/console.css"); err != nil {
		return nil, fmt.Errorf("soc: read console stylesheet: %w", err)
	}
	return c, nil
}

// consoleData is what the template renders.
type consoleData struct {
	Observer     string
	Zone         string
	Refresh      int // seconds; 0 is off
	Stats        Stats
	Chart        chart
	Hits         []hitRow
	MoreHits     bool
	ListEntries  int
	ListFailures int
}

type hitRow struct {
	hitlog.Event
	Client string
	Name   string
}

func (c *console) page(w http.ResponseWriter, _ *http.Request) {
	s, err := c.rec.Stats(StatsQuery{Devices: consoleDevices, Names: consoleNames})
	if err != nil {
		c.fail(w, err)
		return
	}
	s.Lists = listStatus(c.opts.ListStatus)
	d := consoleData{
		Observer: c.opts.Observer,
		Zone:     zoneName(c.opts.Location, s.Generated),
		Stats:    s,
		Chart:    newChart(s.PerHour, c.opts.Location),
	}
	if c.opts.Refresh > 0 {
		d.Refresh = max(1, int(c.opts.Refresh.Seconds()))
	}
	events, more := c.rec.Hits(HitQuery{Limit: consoleHits})
	d.MoreHits = more
	for _, e := range events {
		d.Hits = append(d.Hits, hitRow{Event: e, Client: deviceAddr(e.Client.Addr()).String(), Name: strings.TrimSuffix(e.Name, ".")})
	}
	for _, l := range s.Lists {
		d.ListEntries += l.Entries
		d.ListFailures += l.Failures
	}
	// Render to a buffer so a template error becomes a 500, not half a page.
	var buf bytes.Buffer
	if err := c.tmpl.Execute(&buf, d); err != nil {
		c.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func (c *console) stylesheet(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(c.style)
}

func (c *console) fail(w http.ResponseWriter, err error) {
	c.opts.Logger.Error("render SOC console", "err", err)
	http.Error(w, "console unavailable; see the server log", http.StatusInternalServerError)
}

func zoneName(loc *time.Location, t time.Time) string {
	name, _ := t.In(loc).Zone()
	return name
}

// ago renders a duration for people: "just now", "5 min ago", "3 h ago", "2 d ago".
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in the future"
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d/time.Hour))
	}
	return fmt.Sprintf("%d d ago", int(d/(24*time.Hour)))
}

// thousands formats an integer with thin grouping commas: 12,345.
func thousands(n any) string {
	var s string
	switch v := n.(type) {
	case int:
		s = strconv.Itoa(v)
	case uint64:
		s = strconv.FormatUint(v, 10)
	default:
		return fmt.Sprint(n)
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}

// chart is the hourly bar chart, laid out here so the template only places
// numbers into SVG attributes.
type chart struct {
	Width, Height int
	Left, Right   int // plot area edges, for grid lines
	LabelX        int // right edge of the count labels
	LabelY        int // baseline of the hour labels
	Bars          []bar
	Grid          []gridLine
	Ticks         []tick
	Total         uint64
	Peak          uint64
	Summary       string
}

type bar struct {
	X, Y, W, H string
	Title      string
}

type gridLine struct {
	Y     string
	Label string
}

type tick struct {
	X     string
	Label string
}

const (
	chartWidth  = 960
	chartHeight = 220
	plotLeft    = 56
	plotRight   = 8
	plotTop     = 12
	plotBottom  = 28
)

func newChart(hours []HourCount, loc *time.Location) chart {
	c := chart{Width: chartWidth, Height: chartHeight, Left: plotLeft, Right: chartWidth - plotRight,
		LabelX: plotLeft - 8, LabelY: chartHeight - 8,
	}
	for _, h := range hours {
		c.Total += h.Count
		c.Peak = max(c.Peak, h.Count)
	}
	top := niceCeil(c.Peak)
	plotW := float64(chartWidth - plotLeft - plotRight)
	plotH := float64(chartHeight - plotTop - plotBottom)
	slot := plotW / float64(max(1, len(hours)))
	for i, h := range hours {
		bh := plotH * float64(h.Count) / float64(top)
		if h.Count > 0 {
			bh = max(bh, 1.5) // a single hit must still show
		}
		start := h.Start.In(loc)
		c.Bars = append(c.Bars, bar{
			X:     f1(plotLeft + float64(i)*slot + slot*0.15),
			Y:     f1(plotTop + plotH - bh),
			W:     f1(slot * 0.7),
			H:     f1(bh),
			Title: fmt.Sprintf("%s–%s: %s blocked", start.Format("Mon 02 Jan 15:04"), start.Add(time.Hour).Format("15:04"), thousands(h.Count)),
		})
		if start.Hour()%6 == 0 {
			label := start.Format("15:04")
			if start.Hour() == 0 {
				label = start.Format("Mon 02")
			}
			c.Ticks = append(c.Ticks, tick{X: f1(plotLeft + float64(i)*slot + slot/2), Label: label})
		}
	}
	levels := []uint64{0, top}
	if top%2 == 0 {
		levels = append(levels, top/2) // only where the label is a whole number
	}
	for _, v := range levels {
		y := plotTop + plotH - plotH*float64(v)/float64(top)
		c.Grid = append(c.Grid, gridLine{Y: f1(y), Label: thousands(v)})
	}
	c.Summary = fmt.Sprintf("Blocked queries per hour over the last %d hours: %s in total, at most %s in one hour.",
		len(hours), thousands(c.Total), thousands(c.Peak))
	return c
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten, so grid labels are
// round numbers. It never returns 0, which would divide by zero.
func niceCeil(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	for p := uint64(1); ; p *= 10 {
		for _, m := range []uint64{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		if p > math.MaxUint64/100 {
			return n
		}
	}
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
