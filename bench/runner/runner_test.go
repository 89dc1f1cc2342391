package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const dnsperfOut = `DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.0.0.1 -p 5300 -d blocked.txt -l 2 -Q 1000 -v
> NXDOMAIN r1.deepseek.com A 0.000388
> NXDOMAIN r2.deepseek.com A 0.000148
> T r3.deepseek.com A
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         2000
  Queries completed:    1999 (99.95%)
  Queries lost:         1 (0.05%)

  Response codes:       NXDOMAIN 1999 (100.00%)
  Average packet size:  request 35, response 120
  Run time (s):         2.000132
  Queries per second:   999.434004

  Average Latency (s):  0.000197 (min 0.000061, max 0.003264)
  Latency StdDev (s):   0.000269
`

func TestParseDNSPerf(t *testing.T) {
	var log strings.Builder
	res, err := parseDNSPerf(strings.NewReader(dnsperfOut), &log, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.sent != 2000 || res.completed != 1999 || res.lost != 1 {
		t.Errorf("counts: %+v", res)
	}
	if res.qps != 999.434004 || res.runtime != 2.000132 || res.avgLatency != 0.000197 {
		t.Errorf("rates: %+v", res)
	}
	if res.rcodes != "NXDOMAIN 1999 (100.00%)" || !onlyRcode(res.rcodes, "NXDOMAIN") || onlyRcode(res.rcodes, "NOERROR") {
		t.Errorf("rcodes %q", res.rcodes)
	}
	if len(res.latencies) != 2 || res.verboseLost != 1 {
		t.Errorf("verbose: %v lost %d", res.latencies, res.verboseLost)
	}
	if strings.Contains(log.String(), "> NXDOMAIN") {
		t.Error("per-query lines copied to the log")
	}
	if onlyRcode("NOERROR 10 (50.00%), NXDOMAIN 10 (50.00%)", "NOERROR") {
		t.Error("mixed codes taken for NOERROR only")
	}
}

func TestPercentile(t *testing.T) {
	lat := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	if got := percentile(lat, 0, 50); got != 5 {
		t.Errorf("p50 = %v", got)
	}
	if got := percentile(lat, 0, 99); got != 10 {
		t.Errorf("p99 = %v", got)
	}
	if got := percentile(lat, 1, 99); !math.IsInf(got, 1) {
		t.Errorf("p99 with a lost query = %v, want +Inf", got)
	}
	if got := median([]float64{3, math.NaN(), 1, 2}); got != 2 {
		t.Errorf("median = %v", got)
	}
}

func TestProcParsers(t *testing.T) {
	stat := []byte("1234 (a) b) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 6 0 100 0 0")
	d, err := parseStatCPU(stat)
	if err != nil || d != 3*time.Second {
		t.Errorf("cpu = %v, %v; want 3s", d, err)
	}
	m, err := parseStatusMem([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"))
	if err != nil || m.rss != 1024*1024 || m.hwm != 2048*1024 {
		t.Errorf("mem = %+v, %v", m, err)
	}
	c, err := parseProcStat([]byte("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 100 0 50 800 50 0 0 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\n"), "0")
	if err != nil || c.busy != 1500*time.Millisecond || c.total != 10*time.Second {
		t.Errorf("core = %+v, %v", c, err)
	}
}

func TestBuildQuery(t *testing.T) {
	q, err := buildQuery(0xABCD, "chat.deepseek.com.")
	if err != nil {
		t.Fatal(err)
	}
	want := "\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04chat\x08deepseek\x03com\x00\x00\x01\x00\x01"
	if string(q) != want {
		t.Errorf("query % x", q)
	}
}

func TestListEntriesDistinctAndStable(t *testing.T) {
	a, b := listEntries(5000), listEntries(5000)
	seen := map[string]bool{}
	for i, e := range a {
		if e != b[i] {
			t.Fatal("list not deterministic")
		}
		if seen[e] {
			t.Fatalf("duplicate %s", e)
		}
		seen[e] = true
		if strings.HasSuffix(e, "deepseek.com") {
			t.Fatalf("entry %s overlaps the blocked workload", e)
		}
	}
}

func TestCPUBetween(t *testing.T) {
	a := cpuSample{exact: time.Second, ticks: 900 * time.Millisecond, tids: map[string]bool{"1": true, "2": true}}
	b := cpuSample{exact: 3 * time.Second, ticks: 2900 * time.Millisecond, tids: map[string]bool{"1": true, "2": true, "3": true}}
	if d, exact := cpuBetween(a, b); d != 2*time.Second || !exact {
		t.Errorf("got %v %v; want 2s from schedstat", d, exact)
	}
	delete(b.tids, "2")
	if d, exact := cpuBetween(a, b); d != 2*time.Second || exact {
		t.Errorf("got %v %v; want 2s from ticks after a thread exited", d, exact)
	}
}

func TestPinned(t *testing.T) {
	defer func(n int) { niceness = n }(niceness)
	niceness = 0
	if got := strings.Join(pinned("0", "unbound", "-d"), " "); got != "taskset -c 0 unbound -d" {
		t.Errorf("got %q", got)
	}
	niceness = -10
	if got := strings.Join(pinned("1", "dnsperf", "-l", "5"), " "); got != "nice -n -10 taskset -c 1 dnsperf -l 5" {
		t.Errorf("got %q", got)
	}
}

// TestFloorRatio checks the blocked and cached targets put as a ratio to the
// floor measured in the same run, which is what carries over between
// machines.
func TestFloorRatio(t *testing.T) {
	tests := []struct {
		name        string
		dijk, floor float64
		ratio, met  string
	}{
		{"at the target", 10, 8, "1.25×", "met"},
		{"above it", 15, 7.5, "2.00×", "**not met**"},
		{"below it", 7, 7, "1.00×", "met"},
		{"just above it", 14.1, 11.27, "1.251×", "**not met**"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{
				resolvers: []*resolver{{name: "Dijk"}, {name: "Unbound"}},
				samples: []*sample{
					{resolver: "Dijk", workload: wlBlocked, cpuUS: []float64{tt.dijk}},
					{resolver: "Unbound", workload: wlBlocked, cpuUS: []float64{12}},
				},
				floor: &sample{cpuUS: []float64{tt.floor}},
			}
			table := b.ratioTable()
			if !strings.Contains(table, "Dijk ÷ floor") || !strings.Contains(table, tt.ratio) {
				t.Errorf("ratio table lacks the floor ratio %s:\n%s", tt.ratio, table)
			}
			want := "- CPU per blocked query ≤ 1.25× the floor of this run (" + fmtUS(tt.floor) + " µs): " + tt.met + " (measured " + tt.ratio + ")"
			if got := strings.Join(b.dijkTargets(), "\n"); !strings.Contains(got, want) {
				t.Errorf("targets:\n%s\nwant the line\n%s", got, want)
			}
		})
	}
	b := &bench{resolvers: []*resolver{{name: "Dijk"}}, samples: []*sample{{resolver: "Dijk", workload: wlBlocked, cpuUS: []float64{10}}}}
	if table := b.ratioTable(); strings.Contains(table, "floor") {
		t.Errorf("a run without a floor measurement shows a floor ratio:\n%s", table)
	}
	// The floor's runs taken in turn with the resolvers win over its own.
	b.floor = &sample{cpuUS: []float64{5}}
	b.floorRuns = map[string]*sample{wlBlocked: {cpuUS: []float64{9, 8, 8.5}}}
	if table := b.ratioTable(); !strings.Contains(table, "1.18×") {
		t.Errorf("ratio table does not use the floor measured in turn (8.5 µs):\n%s", table)
	}
	b.samples = append(b.samples, &sample{resolver: "Dijk", workload: wlBlocked1M, cpuUS: []float64{20}})
	b.opts.listSize = 1_000_000
	for _, line := range b.dijkTargets() {
		if strings.Contains(line, "1M list query ≤ 1.25× the floor") {
			t.Errorf("the 1M list, measured without the floor in turn, is checked against it: %s", line)
		}
	}
}

// TestCheckRunFloor: the floor server answers every query NOERROR, blocked
// names included, and that is not worth a note; a resolver doing so is.
func TestCheckRunFloor(t *testing.T) {
	tests := []struct {
		name  string
		s     *sample
		notes int
	}{
		{"floor on blocked names", &sample{resolver: "floor", workload: wlBlocked, floor: true}, 0},
		{"resolver on blocked names", &sample{resolver: "Dijk", workload: wlBlocked}, 1},
		{"resolver on cached names", &sample{resolver: "Dijk", workload: wlCached}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{start: time.Now()}
			b.checkRun(tt.s, perfResult{rcodes: "NOERROR 10 (100.00%)", sent: 10, completed: 10})
			if len(b.notes) != tt.notes {
				t.Errorf("notes %q, want %d", b.notes, tt.notes)
			}
		})
	}
}

// TestFloorP99 checks that the p99 target line and the floor table show the
// floor's tail at Dijk's latency load, and only when it was measured.
func TestFloorP99(t *testing.T) {
	b := &bench{
		resolvers: []*resolver{{name: "Dijk"}},
		samples:   []*sample{{resolver: "Dijk", workload: wlBlocked, cpuUS: []float64{10}, latRate: 66000, p99Lat: []float64{0.0016, 0.0018, 0.0017}}},
		floor:     &sample{cpuUS: []float64{6}, peakQPS: []float64{140000}, p99Lat: []float64{0.0009}},
	}
	line := func() string {
		for _, l := range b.dijkTargets() {
			if strings.Contains(l, "p99") {
				return l
			}
		}
		t.Fatalf("no p99 target in %q", b.dijkTargets())
		return ""
	}
	if l := line(); strings.Contains(l, "floor") {
		t.Errorf("without the floor's latency runs the target names a floor: %s", l)
	}
	if table := b.floorTable(); !strings.Contains(table, "| – ") {
		t.Errorf("floor table without latency runs in turn shows a figure:\n%s", table)
	}
	b.floorRuns = map[string]*sample{wlBlocked: {floor: true, latRate: 66000, p99Lat: []float64{0.0015, 0.0014, 0.0019}}}
	want := "- p99 < 1 ms at half of peak (blocked, 66000 qps): **not met** (measured 1.70 ms; the floor at the same load: 1.50 ms)"
	if l := line(); l != want {
		t.Errorf("target line\n%s\nwant\n%s", l, want)
	}
	if table := b.floorTable(); !strings.Contains(table, "1.50 ms (66000 qps)") {
		t.Errorf("floor table lacks the floor's p99 at Dijk's load:\n%s", table)
	}
}

// TestAtDijksLoad checks how the main table and the p99 target show other
// resolvers' tails at Dijk's latency load.
func TestAtDijksLoad(t *testing.T) {
	dijk := &sample{resolver: "Dijk", workload: wlMiss, peakQPS: []float64{17000}, latRate: 8500,
		p99Lat: []float64{0.002}, latLoss: []float64{0}}
	tests := []struct {
		name string
		s    *sample
		want string
	}{
		{"measured at Dijk's load", &sample{resolver: "Unbound", workload: wlMiss, peakQPS: []float64{12000}, latRate: 6000,
			p99Lat: []float64{0.001}, p99AtDijk: []float64{0.004, 0.003, 0.005}, lossAtDijk: []float64{0, 0.5, 0}}, "4.00 ms (0.00%)"},
		{"own half peak equals Dijk's", &sample{resolver: "Unbound", workload: wlMiss, peakQPS: []float64{17000}, latRate: 8500,
			p99Lat: []float64{0.0012}, latLoss: []float64{0}}, "1.20 ms (0.00%)"},
		{"Dijk's load above its peak", &sample{resolver: "dnsmasq", workload: wlMiss, peakQPS: []float64{5000}, latRate: 2500,
			p99Lat: []float64{0.0008}}, "– (above its peak)"},
		{"not measured", &sample{resolver: "Unbound", workload: wlMiss, peakQPS: []float64{12000}, latRate: 6000,
			p99Lat: []float64{0.001}}, "–"},
		{"Dijk itself", dijk, "2.00 ms (0.00%)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &bench{resolvers: []*resolver{{name: "Dijk"}, {name: tt.s.resolver}}, samples: []*sample{dijk, tt.s}}
			if got := b.atDijksLoad(tt.s); got != tt.want {
				t.Errorf("atDijksLoad = %q, want %q", got, tt.want)
			}
			var line string
			for _, l := range b.dijkTargets() {
				if strings.Contains(l, "p99") {
					line = l
				}
			}
			named := strings.Contains(line, tt.s.resolver+" at the same load")
			if wantNamed := len(tt.s.p99AtDijk) > 0; named != wantNamed {
				t.Errorf("p99 target names %s at the same load: %v, want %v: %s", tt.s.resolver, named, wantNamed, line)
			}
		})
	}
}

// TestLoggedRow: the logged workload has no CPU target, so its row shows
// none (not "≤ 0"), its target list has no line for it, and its memory is
// not the workload session's.
func TestLoggedRow(t *testing.T) {
	b := &bench{
		opts:      options{logged: true},
		resolvers: []*resolver{{name: "Dijk"}, {name: "Unbound"}},
		samples: []*sample{
			{resolver: "Dijk", workload: wlBlockedLogged, cpuUS: []float64{18}},
			{resolver: "Unbound", workload: wlBlockedLogged, cpuUS: []float64{20}},
		},
		memory: map[string]memStatus{"Dijk": {hwm: 123_000_000}},
	}
	var row string
	for _, line := range strings.Split(b.ratioTable(), "\n") {
		if strings.Contains(line, wlBlockedLogged) {
			row = line
		}
	}
	if !strings.Contains(row, "0.90×") || strings.Contains(row, "≤") || strings.Contains(row, "NO") {
		t.Errorf("logged row in the ratio table: %q, want Dijk ÷ Unbound 0.90× and no target", row)
	}
	for _, line := range b.dijkTargets() {
		if strings.Contains(line, wlBlockedLogged) {
			t.Errorf("target line for the logged workload: %s", line)
		}
	}
	if main := b.mainTable(); strings.Contains(main, "123 MB") {
		t.Errorf("the logged row shows the workload session's memory:\n%s", main)
	}
}
