package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

var barColors = map[string]string{"Dijk": "#1b7f79", "Unbound": "#e07b39", "dnsmasq": "#6a5acd"}

func barColor(name string) string {
	if c, ok := barColors[name]; ok {
		return c
	}
	return "#888888"
}

// niceStep returns a round tick step (1, 2, 2.5 or 5 × 10^k) near max/4.
func niceStep(max float64) float64 {
	if max <= 0 || math.IsNaN(max) {
		return 1
	}
	raw := max / 4
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// chart draws one panel per workload with a bar per resolver: the resolver's
// CPU µs per answered query, with Dijk's target as a dashed line. Each panel
// has its own scale, since a miss costs ten times a cached answer.
func (b *bench) chart() string {
	const (
		width   = 980.0
		height  = 450.0
		top     = 125.0
		bottom  = 380.0
		left    = 20.0
		gap     = 22.0
		axisPad = 40.0
	)
	var panels []string
	for _, wl := range b.workloadOrder() {
		for _, r := range b.resolvers {
			if s := b.find(r.name, wl); s != nil && len(s.cpuUS) > 0 {
				panels = append(panels, wl)
				break
			}
		}
	}
	var sb strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&sb, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%.0f" y="30" font-size="19" font-weight="bold" text-anchor="middle">Resolver CPU time per answered query (µs), lower is better</text>`+"\n", width/2)
	cpu, date := "", ""
	for _, kv := range b.machine {
		switch kv[0] {
		case "CPU":
			cpu = kv[1]
		case "Date":
			date = kv[1]
		}
	}
	sub := fmt.Sprintf("dnsperf -Q %d -l %d on core %s, resolver pinned to core %s; median of %d; %s, %d cores; %s",
		b.opts.fixedQPS, b.opts.seconds, b.opts.loadCPU, b.opts.resolverCPU, b.opts.reps, cpu, numCPU(), date)
	if b.opts.quick {
		sub = "QUICK smoke run — " + sub
	}
	p(`<text x="%.0f" y="52" font-size="12" fill="#444" text-anchor="middle">%s</text>`+"\n", width/2, html.EscapeString(sub))
	// Legend.
	lx := width/2 - float64(len(b.resolvers))*110/2
	for i, r := range b.resolvers {
		x := lx + float64(i)*110
		p(`<rect x="%.1f" y="66" width="14" height="14" fill="%s"/>`+"\n", x, barColor(r.name))
		p(`<text x="%.1f" y="78" font-size="13">%s</text>`+"\n", x+19, html.EscapeString(r.name))
	}
	if len(b.resolvers) > 0 {
		x := lx + float64(len(b.resolvers))*110
		p(`<line x1="%.1f" y1="73" x2="%.1f" y2="73" stroke="#c0392b" stroke-width="2" stroke-dasharray="6,4"/>`+"\n", x, x+22)
		p(`<text x="%.1f" y="78" font-size="13">Dijk target</text>`+"\n", x+27)
	}
	if len(panels) == 0 {
		p(`<text x="%.0f" y="%.0f" font-size="16" text-anchor="middle">no measurements</text>`+"\n", width/2, (top+bottom)/2)
		p("</svg>\n")
		return sb.String()
	}
	pw := (width - 2*left - gap*float64(len(panels)-1)) / float64(len(panels))
	for i, wl := range panels {
		x0 := left + float64(i)*(pw+gap)
		plotX := x0 + axisPad
		plotW := pw - axisPad
		var vmax float64
		for _, r := range b.resolvers {
			if s := b.find(r.name, wl); s != nil {
				vmax = math.Max(vmax, median(s.cpuUS))
			}
		}
		if t, ok := cpuTarget[wl]; ok {
			vmax = math.Max(vmax, t)
		}
		step := niceStep(vmax * 1.1)
		ymax := math.Ceil(vmax*1.1/step) * step
		y := func(v float64) float64 { return bottom - (bottom-top)*v/ymax }
		p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#f7f7f7"/>`+"\n", plotX, top, plotW, bottom-top)
		for v := 0.0; v <= ymax+step/2; v += step {
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#dddddd"/>`+"\n", plotX, y(v), plotX+plotW, y(v))
			p(`<text x="%.1f" y="%.1f" font-size="11" fill="#555" text-anchor="end">%s</text>`+"\n", plotX-5, y(v)+4, trimFloat(v))
		}
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", plotX, bottom, plotX+plotW, bottom)
		if t, ok := cpuTarget[wl]; ok {
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="2" stroke-dasharray="6,4"/>`+"\n", plotX, y(t), plotX+plotW, y(t))
		}
		n := float64(len(b.resolvers))
		slot := plotW / n
		bw := slot * 0.62
		for j, r := range b.resolvers {
			bx := plotX + float64(j)*slot + (slot-bw)/2
			s := b.find(r.name, wl)
			if s == nil || len(s.cpuUS) == 0 {
				p(`<text x="%.1f" y="%.1f" font-size="11" fill="#999" text-anchor="middle">n/a</text>`+"\n", bx+bw/2, bottom-6)
				continue
			}
			v := median(s.cpuUS)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s µs/query</title></rect>`+"\n",
				bx, y(v), bw, bottom-y(v), barColor(r.name), html.EscapeString(r.name), html.EscapeString(wl), fmtUS(v))
			p(`<text x="%.1f" y="%.1f" font-size="12" font-weight="bold" text-anchor="middle" stroke="#f7f7f7" stroke-width="3" paint-order="stroke">%s</text>`+"\n", bx+bw/2, y(v)-5, fmtUS(v))
			p(`<text x="%.1f" y="%.1f" font-size="11" fill="#333" text-anchor="middle">%s</text>`+"\n", bx+bw/2, bottom+15, html.EscapeString(r.name))
		}
		title := wl
		if wl == wlBlocked1M {
			title = fmt.Sprintf("blocked, %s list", shortCount(b.opts.listSize))
		}
		if t, ok := cpuTarget[wl]; ok {
			p(`<text x="%.1f" y="%.1f" font-size="11" fill="#c0392b" text-anchor="middle">Dijk target ≤ %s µs</text>`+"\n", plotX+plotW/2, top-6, fmtUS(t))
		}
		p(`<text x="%.1f" y="%.1f" font-size="14" font-weight="bold" text-anchor="middle">%s</text>`+"\n", plotX+plotW/2, top-22, html.EscapeString(title))
	}
	p(`<text x="%.0f" y="%.0f" font-size="11" fill="#555" text-anchor="middle">%s</text>`+"\n", width/2, height-28,
		html.EscapeString("blocked: random subdomains of deepseek.com (NXDOMAIN) · cached: 1,000 warm names · miss: never-seen names forwarded to a fake upstream · logged: blocked, each block logged to a file"))
	p(`<text x="%.0f" y="%.0f" font-size="11" fill="#555" text-anchor="middle">%s</text>`+"\n", width/2, height-12,
		html.EscapeString("CPU = time the resolver's threads ran (/proc/PID/task/*/schedstat) ÷ answered queries. Each panel has its own scale."))
	p("</svg>\n")
	return sb.String()
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
