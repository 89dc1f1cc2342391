package report

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats lists the output formats Write accepts.
func Formats() []string { return []string{"table", "csv", "json"} }

// Write renders r in one of Formats.
func (r *Result) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return r.WriteTable(w)
	case "csv":
		return r.WriteCSV(w)
	case "json":
		return r.WriteJSON(w)
	}
	return fmt.Errorf("unknown format %q (want %s)", format, strings.Join(Formats(), ", "))
}

// textTime formats times for the table and CSV: RFC 3339, UTC, seconds.
func textTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// window describes the report window in words.
func (r *Result) window() string {
	switch {
	case r.Since.IsZero() && r.Until.IsZero():
		return "all time"
	case r.Until.IsZero():
		return "from " + textTime(r.Since)
	case r.Since.IsZero():
		return "before " + textTime(r.Until)
	}
	return "from " + textTime(r.Since) + " to before " + textTime(r.Until)
}

// deviceNames is a device's names for one text cell.
func deviceNames(d Device, sep string) string {
	var b strings.Builder
	for i, n := range d.Names {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(n.Name)
	}
	if d.More > 0 {
		fmt.Fprintf(&b, " +%d more", d.More)
	}
	return b.String()
}

// WriteTable renders r as aligned text for people.
func (r *Result) WriteTable(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "Window:  %s\n", r.window())
	if r.Group != "" || r.List != "" || r.Kind != "" {
		var f []string
		if r.Group != "" {
			f = append(f, "group "+r.Group)
		}
		if r.List != "" {
			f = append(f, "list "+r.List)
		}
		if r.Kind != "" {
			f = append(f, "kind "+r.Kind)
		}
		fmt.Fprintf(bw, "Filters: %s\n", strings.Join(f, ", "))
	}
	fmt.Fprintf(bw, "Lines:   %d read, %d skipped (malformed), %d filtered out, %d hits\n", r.LinesRead, r.LinesSkipped, r.LinesFiltered, r.Hits)

	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nDevices: %d\n", len(r.Devices))
	if len(r.Devices) > 0 {
		fmt.Fprintln(tw, "CLIENT IP\tFIRST SEEN\tLAST SEEN\tHITS\tNAMES")
		for _, d := range r.Devices {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", cell(d.IP), textTime(d.First), textTime(d.Last), d.Hits, cell(deviceNames(d, ", ")))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	fmt.Fprintf(tw, "\nTop names: %d of %d\n", len(r.TopNames), r.DistinctNames)
	if len(r.TopNames) > 0 {
		fmt.Fprintln(tw, "NAME\tHITS\tDEVICES\tFIRST SEEN\tLAST SEEN")
		for _, n := range r.TopNames {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", cell(n.Name), n.Hits, n.Devices, textTime(n.First), textTime(n.Last))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	fmt.Fprintf(tw, "\nHits per hour (UTC):\n")
	if len(r.PerHour) > 0 {
		fmt.Fprintln(tw, "HOUR\tHITS")
		for _, h := range r.PerHour {
			fmt.Fprintf(tw, "%s\t%d\n", textTime(h.Hour), h.Hits)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}

	if len(r.Notes) > 0 || len(r.InputErrors) > 0 {
		fmt.Fprintln(bw, "\nNotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(bw, "- %s\n", n)
		}
		for _, e := range r.InputErrors {
			fmt.Fprintf(bw, "- input error: %s\n", cell(e))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// cell makes a value safe for a tabwriter cell and a terminal: hit logs
// are attacker-influenced (query names), so tabs, newlines and other
// control characters are escaped rather than passed through.
func cell(s string) string {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			q := strconv.QuoteToGraphic(s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

// CSV columns; see the package comment.
const csvHeader = "section,key,count,devices,first_seen,last_seen,names,more"

// WriteCSV renders r as one CSV document with a section column. Rows are
// written as they are made, so output adds no memory per device.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, 8)
	row := func(section, key, count, devices, first, last, names, more string) {
		rec = append(rec[:0], section, key, count, devices, first, last, names, more)
		for i, v := range rec {
			// A leading = + - @ makes spreadsheets evaluate a cell; query
			// names are chosen by clients, so such cells get a leading '.
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				rec[i] = "'" + v
			}
		}
		_ = cw.Write(rec) // the error sticks; checked at the end
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	row("section", "key", "count", "devices", "first_seen", "last_seen", "names", "more")
	for _, s := range []struct {
		key string
		n   int64
	}{
		{"lines_read", r.LinesRead}, {"lines_skipped", r.LinesSkipped},
		{"lines_filtered", r.LinesFiltered}, {"hits", r.Hits},
		{"other_device_hits", r.OtherDeviceHits}, {"other_name_hits", r.OtherNameHits},
	} {
		row("summary", s.key, num(s.n), "", "", "", "", "")
	}
	row("summary", "window", "", "", textTime(r.Since), textTime(r.Until), "", "")
	if r.Group != "" {
		row("filter", "group", "", "", "", "", r.Group, "")
	}
	if r.List != "" {
		row("filter", "list", "", "", "", "", r.List, "")
	}
	if r.Kind != "" {
		row("filter", "kind", "", "", "", "", r.Kind, "")
	}
	var names strings.Builder
	for _, d := range r.Devices {
		names.Reset()
		for i, n := range d.Names {
			if i > 0 {
				names.WriteByte(' ')
			}
			names.WriteString(n.Name)
		}
		row("devices", d.IP, num(d.Hits), "", textTime(d.First), textTime(d.Last), names.String(), strconv.Itoa(d.More))
	}
	for _, n := range r.TopNames {
		row("top_names", n.Name, num(n.Hits), strconv.Itoa(n.Devices), textTime(n.First), textTime(n.Last), "", "")
	}
	for _, h := range r.PerHour {
		row("per_hour", textTime(h.Hour), num(h.Hits), "", "", "", "", "")
	}
	for _, n := range r.Notes {
		row("note", n, "", "", "", "", "", "")
	}
	for _, e := range r.InputErrors {
		row("note", "input error: "+e, "", "", "", "", "", "")
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV report: %w", err)
	}
	return nil
}

// The JSON document's members, in order; field names are the stable
// interface for scripts. WriteJSON writes the document member by member and
// the lists element by element, so that a report on many devices is never
// held in memory twice.
type jsonHead struct {
	Window        jsonWindow  `json:"window"`
	Filters       jsonFilters `json:"filters"`
	LinesRead     int64       `json:"lines_read"`
	LinesSkipped  int64       `json:"lines_skipped"`
	LinesFiltered int64       `json:"lines_filtered"`
	Hits          int64       `json:"hits"`
}

type jsonTail struct {
	DistinctNames int      `json:"distinct_names"`
	OtherDevice   int64    `json:"other_device_hits"`
	OtherName     int64    `json:"other_name_hits"`
	OtherHour     int64    `json:"other_hour_hits"`
	Notes         []string `json:"notes"`
	InputErrors   []string `json:"input_errors"`
}

type jsonWindow struct {
	Since *time.Time `json:"since"` // null: unbounded
	Until *time.Time `json:"until"`
}

type jsonFilters struct {
	Group string `json:"group,omitempty"`
	List  string `json:"list,omitempty"`
	Kind  string `json:"kind,omitempty"`
}

type jsonDevice struct {
	IP        string          `json:"client_ip"`
	FirstSeen time.Time       `json:"first_seen"`
	LastSeen  time.Time       `json:"last_seen"`
	Count     int64           `json:"count"`
	Names     []jsonNameCount `json:"names"`
	More      int             `json:"names_more"`
}

type jsonNameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

type jsonName struct {
	Name      string    `json:"name"`
	Count     int64     `json:"count"`
	Devices   int       `json:"devices"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

type jsonHour struct {
	Hour  time.Time `json:"hour"`
	Count int64     `json:"count"`
}

// WriteJSON renders r as one indented JSON object with the members
// window, filters, lines_read, lines_skipped, lines_filtered, hits,
// devices, top_names, per_hour, distinct_names, other_device_hits,
// other_name_hits, other_hour_hits, notes and input_errors. Lists are never
// null.
func (r *Result) WriteJSON(w io.Writer) error {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	jw := &jsonWriter{w: bufio.NewWriter(w)}
	jw.raw("{")
	jw.members(jsonHead{
		Window:        jsonWindow{Since: opt(r.Since), Until: opt(r.Until)},
		Filters:       jsonFilters{Group: r.Group, List: r.List, Kind: r.Kind},
		LinesRead:     r.LinesRead,
		LinesSkipped:  r.LinesSkipped,
		LinesFiltered: r.LinesFiltered,
		Hits:          r.Hits,
	})
	jw.raw(",\n  \"devices\": [")
	for i, d := range r.Devices {
		names := make([]jsonNameCount, len(d.Names))
		for j, n := range d.Names {
			names[j] = jsonNameCount{Name: n.Name, Count: n.Hits}
		}
		jw.element(i, jsonDevice{IP: d.IP, FirstSeen: d.First, LastSeen: d.Last, Count: d.Hits, Names: names, More: d.More})
	}
	jw.endList(len(r.Devices))
	jw.raw(",\n  \"top_names\": [")
	for i, n := range r.TopNames {
		jw.element(i, jsonName{Name: n.Name, Count: n.Hits, Devices: n.Devices, FirstSeen: n.First, LastSeen: n.Last})
	}
	jw.endList(len(r.TopNames))
	jw.raw(",\n  \"per_hour\": [")
	for i, h := range r.PerHour {
		jw.element(i, jsonHour{Hour: h.Hour, Count: h.Hits})
	}
	jw.endList(len(r.PerHour))
	jw.raw(",")
	jw.members(jsonTail{
		DistinctNames: r.DistinctNames,
		OtherDevice:   r.OtherDeviceHits,
		OtherName:     r.OtherNameHits,
		OtherHour:     r.OtherHourHits,
		Notes:         append([]string{}, r.Notes...),
		InputErrors:   append([]string{}, r.InputErrors...),
	})
	jw.raw("\n}\n")
	if jw.err == nil {
		jw.err = jw.w.Flush()
	}
	if jw.err != nil {
		return fmt.Errorf("write JSON report: %w", jw.err)
	}
	return nil
}

// jsonWriter writes an indented JSON document in pieces, keeping the first
// error.
type jsonWriter struct {
	w   *bufio.Writer
	err error
}

func (j *jsonWriter) raw(s string) {
	if j.err == nil {
		_, j.err = j.w.WriteString(s)
	}
}

// members writes v's members without its braces, at the top level.
func (j *jsonWriter) members(v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		j.err = cmp.Or(j.err, err)
		return
	}
	// b is "{\n  ...\n}"; keep "\n  ..." to splice into the document.
	j.raw(string(b[1 : len(b)-2]))
}

// element writes the i-th element of a top-level list.
func (j *jsonWriter) element(i int, v any) {
	b, err := json.MarshalIndent(v, "    ", "  ")
	if err != nil {
		j.err = cmp.Or(j.err, err)
		return
	}
	if i > 0 {
		j.raw(",")
	}
	j.raw("\n    ")
	j.raw(string(b))
}

func (j *jsonWriter) endList(n int) {
	if n > 0 {
		j.raw("\n  ")
	}
	j.raw("]")
}
