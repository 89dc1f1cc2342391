package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

func numCPU() int { return runtime.NumCPU() }

// Dijk's targets (bench/README.md).
var cpuTarget = map[string]float64{wlBlocked: 8.0, wlCached: 8.0, wlMiss: 90, wlBlocked1M: 8.0}

// floorTarget is the same target for blocked and cached queries put as a
// ratio to the floor measured in the same run: 8.0 µs is 1.25 times the
// reference machine's 6.4 µs echo server. The ratio carries over to another
// machine; the absolute figure does not. The 1M-list runs have no floor
// measured in turn with them, so they have no ratio.
var floorTarget = map[string]float64{wlBlocked: 1.25, wlCached: 1.25}

const (
	loadTargetSec = 1.5
	rssTargetMB   = 120
	p99TargetSec  = 0.001
)

// reference numbers measured on this machine class (bench/README.md).
var reference = [][]string{
	{"Unbound", "9.5", "9.4", "118", "3.9 s", "425 MB"},
	{"dnsmasq", "11.2", "11.2", "197", "1.4 s", "75 MB"},
	{"CoreDNS", "30", "27", "107", "25 s", "2.3 GB"},
	{"Blocky", "36", "36", "152", "4.9 s", "380 MB (peak)"},
	{"bare recvmmsg/sendmmsg UDP echo", "6.4", "6.4", "–", "–", "–"},
}

func fmtLat(sec float64) string {
	switch {
	case math.IsNaN(sec):
		return "–"
	case math.IsInf(sec, 1):
		return "lost"
	case sec < 0.001:
		return fmt.Sprintf("%.0f µs", sec*1e6)
	case sec < 1:
		return fmt.Sprintf("%.2f ms", sec*1e3)
	}
	return fmt.Sprintf("%.2f s", sec)
}

func fmtSec(sec float64) string {
	if math.IsNaN(sec) {
		return "–"
	}
	return fmt.Sprintf("%.2f s", sec)
}

func fmtMB(bytes float64) string {
	if math.IsNaN(bytes) || bytes == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MB", bytes/1e6)
}

func fmtPct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", v)
}

func fmtUS(us float64) string {
	if math.IsNaN(us) {
		return "–"
	}
	if us >= 100 {
		return fmt.Sprintf("%.0f", us)
	}
	return fmt.Sprintf("%.1f", us)
}

func fmtQPS(q float64) string {
	if math.IsNaN(q) {
		return "–"
	}
	return fmt.Sprintf("%.0f", q)
}

// mdTable renders a Markdown table (also readable as plain text).
func mdTable(header []string, rows [][]string) string {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var sb strings.Builder
	line := func(cells []string) {
		sb.WriteString("|")
		for i, c := range cells {
			sb.WriteString(" " + c + strings.Repeat(" ", w[i]-len([]rune(c))) + " |")
		}
		sb.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return sb.String()
}

func (b *bench) find(resolver, workload string) *sample {
	for _, s := range b.samples {
		if s.resolver == resolver && s.workload == workload {
			return s
		}
	}
	return nil
}

func (b *bench) findList(resolver string) *listSample {
	for _, l := range b.lists {
		if l.resolver == resolver {
			return l
		}
	}
	return nil
}

func (b *bench) workloadOrder() []string {
	order := append([]string{}, workloads...)
	if b.opts.listSize > 0 {
		order = append(order, wlBlocked1M)
	}
	if b.opts.logged {
		order = append(order, wlBlockedLogged)
	}
	return order
}

// mainTable is the headline table: one row per workload and resolver.
func (b *bench) mainTable() string {
	fixed := fmt.Sprintf("@%dk", b.opts.fixedQPS/1000)
	header := []string{"Workload", "Resolver", "CPU µs/query " + fixed, "Answered qps " + fixed,
		"Peak qps", "Mean latency @½ peak", "p99 @½ peak", "Lost @½ peak", "p99 (lost) @ Dijk's ½ peak", "Peak RSS", "Core " + b.opts.resolverCPU + " used by others"}
	var rows [][]string
	for _, wl := range b.workloadOrder() {
		for _, r := range b.resolvers {
			s := b.find(r.name, wl)
			if s == nil {
				continue
			}
			rss := math.NaN()
			if wl == wlBlocked1M {
				if l := b.findList(r.name); l != nil {
					rss = median(l.hwm)
				}
			} else if m, ok := b.memory[r.name]; ok && wl != wlBlockedLogged {
				// The logged runs are a session of their own; the memory
				// is the workload session's.
				rss = float64(m.hwm)
			}
			rows = append(rows, []string{wl, r.name, fmtUS(median(s.cpuUS)), fmtQPS(median(s.achievedQPS)),
				fmtQPS(median(s.peakQPS)), fmtLat(median(s.meanLat)),
				fmtLat(median(s.p99Lat)), fmtPct(median(s.latLoss)), b.atDijksLoad(s), fmtMB(rss), fmtPct(median(s.others))})
		}
	}
	return mdTable(header, rows)
}

// atDijksLoad is s's p99 latency and loss at Dijk's latency load: from the
// runs at that load, or from its own when its half peak is the same.
func (b *bench) atDijksLoad(s *sample) string {
	p99, loss := s.p99AtDijk, s.lossAtDijk
	if len(p99) == 0 {
		d := b.find("Dijk", s.workload)
		if d == nil || len(s.p99Lat) == 0 || d.latRate == 0 {
			return "–"
		}
		if median(s.peakQPS) <= float64(d.latRate) {
			return "– (above its peak)"
		}
		if s.latRate != d.latRate {
			return "–"
		}
		p99, loss = s.p99Lat, s.latLoss
	}
	return fmt.Sprintf("%s (%s)", fmtLat(median(p99)), fmtPct(median(loss)))
}

// ratioTable compares Dijk's CPU per query with each other resolver's.
func (b *bench) ratioTable() string {
	header := []string{"Workload", "Dijk µs/query"}
	var others []*resolver
	for _, r := range b.resolvers {
		if r.name != "Dijk" {
			others = append(others, r)
			header = append(header, r.name+" µs/query", "Dijk ÷ "+r.name)
		}
	}
	header = append(header, "Dijk target", "Met")
	_, withFloor := b.floorCPU(wlBlocked)
	if withFloor {
		header = append(header, "Dijk ÷ floor", "Floor target", "Met")
	}
	var rows [][]string
	for _, wl := range b.workloadOrder() {
		d := b.find("Dijk", wl)
		if d == nil {
			continue
		}
		dv := median(d.cpuUS)
		row := []string{wl, fmtUS(dv)}
		for _, o := range others {
			s := b.find(o.name, wl)
			if s == nil {
				row = append(row, "–", "–")
				continue
			}
			ov := median(s.cpuUS)
			row = append(row, fmtUS(ov), fmt.Sprintf("%.2f×", dv/ov))
		}
		if t, ok := cpuTarget[wl]; ok {
			row = append(row, fmt.Sprintf("≤ %s", fmtUS(t)), yesNo(dv <= t))
		} else {
			row = append(row, "–", "–")
		}
		if withFloor {
			floor, _ := b.floorCPU(wl)
			if ft, ok := floorTarget[wl]; ok {
				row = append(row, fmtRatio(dv/floor, ft), fmt.Sprintf("≤ %.2f×", ft), yesNo(dv/floor <= ft))
			} else {
				row = append(row, "–", "–", "–")
			}
		}
		rows = append(rows, row)
	}
	return mdTable(header, rows)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func (b *bench) listTable() string {
	header := []string{"Resolver", "Answering after", "/healthz after", "RSS after load", "Peak RSS (VmHWM)", "CPU µs/query, blocked 1M", "Entries reported"}
	var rows [][]string
	for _, l := range b.lists {
		cpu := "–"
		if s := b.find(l.resolver, wlBlocked1M); s != nil {
			cpu = fmtUS(median(s.cpuUS))
		}
		e := l.entries
		if e == "" {
			e = "–"
		}
		rows = append(rows, []string{l.resolver, fmtSec(median(l.ready)), fmtSec(median(l.healthy)),
			fmtMB(median(l.rss)), fmtMB(median(l.hwm)), cpu, e})
	}
	return mdTable(header, rows)
}

// fmtRatio shows r to two decimals, or three when two would round it onto
// the target and hide which side of it r is on.
func fmtRatio(r, target float64) string {
	if s := fmt.Sprintf("%.2f", r); s == fmt.Sprintf("%.2f", target) && r != target {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// floorCPU is the floor's CPU per query to compare workload wl with: from
// the floor's runs taken in turn with the resolvers on that workload, else
// from its own measurement before them.
func (b *bench) floorCPU(wl string) (float64, bool) {
	if s := b.floorRuns[wl]; s != nil && len(s.cpuUS) > 0 {
		return median(s.cpuUS), true
	}
	if b.floor != nil && len(b.floor.cpuUS) > 0 {
		return median(b.floor.cpuUS), true
	}
	return 0, false
}

func (b *bench) floorTable() string {
	s := b.floor
	if s == nil {
		return ""
	}
	inTurn := func(wl string) string {
		if r := b.floorRuns[wl]; r != nil && len(r.cpuUS) > 0 {
			return fmtUS(median(r.cpuUS))
		}
		return "–"
	}
	atDijks := func(wl string) string {
		if p99, rate, ok := b.floorP99(wl); ok {
			return fmt.Sprintf("%s (%d qps)", fmtLat(p99), rate)
		}
		return "–"
	}
	fixed := fmt.Sprintf("@%dk", b.opts.fixedQPS/1000)
	return mdTable([]string{"Server", "CPU µs/query " + fixed, "In turn with the resolvers: blocked", "cached", "Peak qps (load-tool ceiling)", "p99 @½ peak",
		"p99 at Dijk's ½ peak: blocked", "cached"},
		[][]string{{"fake upstream (Go, recvmmsg/sendmmsg through the poller, no DNS library)", fmtUS(median(s.cpuUS)),
			inTurn(wlBlocked), inTurn(wlCached), fmtQPS(median(s.peakQPS)), fmtLat(median(s.p99Lat)),
			atDijks(wlBlocked), atDijks(wlCached)}})
}

// floorP99 is the floor's p99 latency at Dijk's latency load for workload
// wl, and that load, from the floor's latency runs in turn with Dijk's.
func (b *bench) floorP99(wl string) (p99 float64, rate int, ok bool) {
	s := b.floorRuns[wl]
	if s == nil || len(s.p99Lat) == 0 {
		return 0, 0, false
	}
	return median(s.p99Lat), s.latRate, true
}

// dijkTargets lists the targets Dijk met and missed.
func (b *bench) dijkTargets() []string {
	var out []string
	check := func(name string, ok bool, got string) {
		out = append(out, fmt.Sprintf("- %s: %s (measured %s)", name, map[bool]string{true: "met", false: "**not met**"}[ok], got))
	}
	for _, wl := range b.workloadOrder() {
		t, ok := cpuTarget[wl]
		if s := b.find("Dijk", wl); s != nil && ok {
			v := median(s.cpuUS)
			check(fmt.Sprintf("CPU per %s query ≤ %s µs", wl, fmtUS(t)), v <= t, fmtUS(v)+" µs")
			if ft, ok := floorTarget[wl]; ok {
				if f, ok := b.floorCPU(wl); ok {
					check(fmt.Sprintf("CPU per %s query ≤ %.2f× the floor of this run (%s µs)", wl, ft, fmtUS(f)), v/f <= ft, fmtRatio(v/f, ft))
				}
			}
		}
	}
	if l := b.findList("Dijk"); l != nil {
		v := median(l.ready)
		check(fmt.Sprintf("1M list answering in < %.1f s", loadTargetSec), v < loadTargetSec, fmtSec(v))
		r := median(l.rss) / 1e6
		check(fmt.Sprintf("1M list RSS after load < %d MB", rssTargetMB), r < rssTargetMB, fmtMB(median(l.rss)))
		h := median(l.hwm) / 1e6
		check(fmt.Sprintf("1M list peak RSS (VmHWM) < %d MB", rssTargetMB), h < rssTargetMB, fmtMB(median(l.hwm)))
	}
	for _, wl := range workloads {
		if s := b.find("Dijk", wl); s != nil && len(s.p99Lat) > 0 {
			v := median(s.p99Lat)
			got := fmtLat(v)
			if f, _, ok := b.floorP99(wl); ok {
				got += "; the floor at the same load: " + fmtLat(f)
			}
			for _, r := range b.resolvers {
				if o := b.find(r.name, wl); r.name != "Dijk" && o != nil && len(o.p99AtDijk) > 0 {
					got += fmt.Sprintf("; %s at the same load: %s", r.name, fmtLat(median(o.p99AtDijk)))
				}
			}
			check(fmt.Sprintf("p99 < 1 ms at half of peak (%s, %d qps)", wl, s.latRate), v < p99TargetSec, got)
		}
	}
	return out
}

func (b *bench) report() error {
	main := b.mainTable()
	ratio := b.ratioTable()
	list := b.listTable()
	fmt.Println()
	fmt.Println("Resolver CPU time per answered query, peak throughput, latency and memory (medians of", b.opts.reps, "runs):")
	fmt.Println()
	fmt.Print(main)
	fmt.Println()
	fmt.Print(ratio)
	if len(b.lists) > 0 {
		fmt.Println()
		fmt.Print(list)
	}
	if f := b.floorTable(); f != "" {
		fmt.Println()
		fmt.Print(f)
	}
	fmt.Println()
	for _, l := range b.dijkTargets() {
		fmt.Println(l)
	}
	for _, n := range b.notes {
		fmt.Println("NOTE:", n)
	}

	var md strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&md, format, a...) }
	w("# Dijk benchmark results\n\n")
	w("Written by `bench/run.sh` (bench/runner); see [README.md](README.md) for the method. ")
	w("Every figure is the median of %d run(s). CPU µs/query is the time the resolver's threads spent on a CPU ", b.opts.reps)
	w("(/proc/PID/task/*/schedstat) divided by the queries it answered while dnsperf offered %d qps for %d s; ", b.opts.fixedQPS, b.opts.seconds)
	w("the resolver was pinned to core %s, dnsperf and the fake upstream to core %s, and the resolvers took turns run by run. ", b.opts.resolverCPU, b.opts.loadCPU)
	w("Check the load averages and the \"Core %s used by others\" column before comparing with other machines: other work on the machine inflates every figure.\n\n", b.opts.resolverCPU)
	w("![CPU µs per query](results.svg)\n\n")
	w("## Machine\n\n")
	var mrows [][]string
	for _, kv := range b.machine {
		mrows = append(mrows, []string{kv[0], kv[1]})
	}
	w("%s\n", mdTable([]string{"Item", "Value"}, mrows))
	w("## Results\n\n%s\n", main)
	w("Peak qps is dnsperf unthrottled (-c %d -q %d) on one core; near the load tool's ceiling (last table) it ranks the load tool, not the resolver. ",
		b.opts.peakClients, b.opts.peakInflight)
	w("Latency @½ peak: dnsperf -v at half the median peak qps; mean and p99 of the answered queries' latencies, lost queries counted apart ")
	w("(dnsperf also counts the queries still in flight when its time limit ends as lost). ")
	w("p99 (lost) @ Dijk's ½ peak: the same, with each resolver offered Dijk's latency load, so that tails are compared at one load; a resolver whose peak is below that load queues and loses queries there. ")
	w("Peak RSS is VmHWM at the end of the resolver's workload session (1M row: right after the list loaded). ")
	w("Core %s used by others: the share of that core's busy time (/proc/stat) not spent by the resolver during the fixed-load runs: ", b.opts.resolverCPU)
	w("other processes, interrupts, the kernel's loopback work done outside the resolver's syscalls. Above a few percent the machine was not quiet and CPU figures run high.\n\n")
	w("## Dijk compared\n\n%s\n", ratio)
	w("Dijk ÷ X below 1.00× means Dijk spends less CPU per query than X.\n\n")
	if len(b.lists) > 0 {
		w("## %d-domain block list\n\n%s\n", b.opts.listSize, list)
		w("Answering after: from exec to the first correct NXDOMAIN for a name under the list's last entry (polled every 5 ms). ")
		w("RSS after load: VmRSS one second later. Dijk also reports when /healthz first answered 200.\n\n")
	}
	if f := b.floorTable(); f != "" {
		w("## Floor and load-tool ceiling\n\n%s\n", f)
		w("The fake upstream answering directly on the resolver's core: a plain Go UDP server that reads and writes in batches (recvmmsg/sendmmsg) as Dijk does, with no parsing library, no cache and no policy. ")
		w("Its CPU per query is the floor: the system calls and loopback work a query costs before any DNS work. ")
		w("It also takes its turn in the blocked and cached fixed-load runs, and the Dijk ÷ floor ratios use those runs. ")
		w("In the latency runs it takes its turn at Dijk's load: its p99 there is the part of Dijk's tail that the load tool, the kernel and the machine add to any server. ")
		w("Its peak is as fast as dnsperf could drive anything on one core here.\n\n")
	}
	w("## Dijk's targets\n\n%s\n\n", strings.Join(b.dijkTargets(), "\n"))
	w("## Reference numbers (measured earlier on this machine class, see README.md)\n\n")
	w("%s\n", mdTable([]string{"Resolver", "Blocked µs/q", "Cached µs/q", "Miss µs/q", "1M list load", "1M list RSS"}, reference))
	if len(b.notes) > 0 {
		w("## Notes from this run\n\n")
		for _, n := range b.notes {
			w("- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
		w("\n")
	}
	w("## Every run\n\n```\n%s\n```\n", strings.Join(b.raw, "\n"))

	if err := os.WriteFile(filepath.Join(b.opts.outdir, "RESULTS.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	svg := b.chart()
	if err := os.WriteFile(filepath.Join(b.opts.outdir, "results.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	fmt.Printf("\nWrote %s and %s\n", filepath.Join(b.opts.outdir, "RESULTS.md"), filepath.Join(b.opts.outdir, "results.svg"))
	return nil
}
