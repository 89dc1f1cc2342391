// Command runner drives the Dijk performance benchmark: it generates the
// workloads, starts the fake upstream and each resolver in turn pinned to its
// own core, runs dnsperf against them on the other core, reads each
// resolver's CPU time and memory from /proc, and writes the results table
// (stdout and RESULTS.md) and chart (results.svg). bench/run.sh builds and
// starts it; see bench/README.md.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick         bool
	workdir       string
	outdir        string
	dijkBin       string
	dijkRev       string
	dijkExtraYAML string
	upstreamBin   string
	resolvers     []string
	reps          int
	seconds       int
	fixedQPS      int
	listSize      int
	logged        bool
	resolverCPU   string
	loadCPU       string
	peakClients   int
	peakInflight  int
	budget        time.Duration
}

// Workload names, in table order.
const (
	wlBlocked   = "blocked"
	wlCached    = "cached"
	wlMiss      = "miss"
	wlBlocked1M = "blocked, 1M list"
	// wlBlockedLogged is the blocked workload with each resolver logging
	// what it blocks to a file, as a deployment for a SOC runs.
	wlBlockedLogged = "blocked, logged"
)

var workloads = []string{wlBlocked, wlCached, wlMiss}

// sample holds one resolver's repeated measurements of one workload.
type sample struct {
	resolver, workload string
	cpuUS              []float64 // resolver CPU µs per answered query at the fixed load
	achievedQPS        []float64 // what dnsperf reached at the fixed load
	fixedLoss          []float64 // % lost at the fixed load
	fixedP99           []float64 // seconds, at the fixed load
	peakQPS            []float64 // unthrottled
	latRate            int       // offered load of the latency runs: half the median peak (the floor's: Dijk's)
	meanLat, p99Lat    []float64 // seconds, at latRate, answered queries only
	latLoss            []float64 // % lost at latRate
	p99AtDijk          []float64 // seconds, at Dijk's latRate (other resolvers only), answered queries only
	lossAtDijk         []float64 // % lost at Dijk's latRate
	others             []float64 // % of the resolver's core used by anything else during the fixed-load runs
	rcodes             string
	floor              bool // the floor server's, which answers every query NOERROR
}

// listSample holds the 1M-list measurements of one resolver.
type listSample struct {
	resolver       string
	ready, healthy []float64 // seconds from exec to answering / to /healthz 200
	rss, hwm       []float64 // bytes, after load
	entries        string
}

type bench struct {
	opts      options
	fs        files
	start     time.Time
	machine   [][2]string
	resolvers []*resolver
	samples   []*sample
	lists     []*listSample
	floor     *sample
	// floorRuns are the floor's fixed-load runs taken in turn with the
	// resolvers', by workload: the ratios to the floor use these, so that
	// the machine's background load weighs on both sides alike.
	floorRuns map[string]*sample
	memory    map[string]memStatus // after each resolver's workload session
	notes     []string
	raw       []string
}

func main() {
	var o options
	var resolvers string
	flag.BoolVar(&o.quick, "quick", false, "smoke mode: one repetition, 2 s runs")
	flag.StringVar(&o.workdir, "workdir", "/tmp/dijk-bench", "generated files, configs and logs")
	flag.StringVar(&o.outdir, "out", ".", "where RESULTS.md and results.svg go")
	flag.StringVar(&o.dijkBin, "dijk", "/tmp/dijk-bench/bin/dijk", "dijk binary")
	flag.StringVar(&o.dijkRev, "dijk-rev", "", "Dijk source revision, for the report")
	flag.StringVar(&o.dijkExtraYAML, "dijk-extra-yaml", "", "YAML appended to Dijk's config (e.g. to switch off a rate limiter)")
	flag.StringVar(&o.upstreamBin, "upstream", "/tmp/dijk-bench/bin/upstream", "fake upstream binary")
	flag.StringVar(&resolvers, "resolvers", "dijk,unbound,dnsmasq", "resolvers to run, in order")
	flag.IntVar(&o.reps, "reps", 3, "repetitions of each measurement (the median is reported)")
	flag.IntVar(&o.seconds, "seconds", 5, "dnsperf -l for every run")
	flag.IntVar(&o.fixedQPS, "fixed-qps", 25000, "offered load (dnsperf -Q) of the CPU-per-query runs")
	flag.IntVar(&o.listSize, "list-size", 1_000_000, "entries in the synthetic block list (0 skips the list workload)")
	flag.BoolVar(&o.logged, "logged", true, "also measure blocked queries with each resolver logging its blocks to a file")
	flag.StringVar(&o.resolverCPU, "resolver-cpu", "0", "taskset -c for the resolver")
	flag.StringVar(&o.loadCPU, "load-cpu", "1", "taskset -c for dnsperf and the fake upstream")
	flag.IntVar(&o.peakClients, "peak-clients", 1, "dnsperf -c for the peak runs")
	flag.IntVar(&o.peakInflight, "peak-inflight", 100, "dnsperf -q for the peak runs")
	flag.IntVar(&niceness, "nice", 0, "nice value for the servers and dnsperf (e.g. -10 on a machine other work shares; 0 leaves it)")
	flag.DurationVar(&o.budget, "budget", 14*time.Minute, "stop starting new measurements after this long")
	flag.Parse()
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["reps"] {
			o.reps = 1
		}
		if !set["seconds"] {
			o.seconds = 2
		}
	}
	if o.reps < 1 || o.seconds < 1 || o.fixedQPS < 1 {
		fatalf("-reps, -seconds and -fixed-qps must be positive")
	}
	for _, r := range strings.Split(resolvers, ",") {
		if r = strings.TrimSpace(strings.ToLower(r)); r != "" {
			o.resolvers = append(o.resolvers, r)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "runner: %v: stopping the servers\n", s)
		stopAll()
		os.Exit(130)
	}()
	b := &bench{opts: o, start: time.Now(), memory: map[string]memStatus{}}
	err := b.run()
	stopAll()
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "runner: "+format+"\n", a...)
	stopAll()
	os.Exit(1)
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

func (b *bench) note(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	b.notes = append(b.notes, s)
	b.logf("NOTE: %s", s)
}

func (b *bench) overBudget() bool { return time.Since(b.start) > b.opts.budget }

func (b *bench) run() error {
	o := b.opts
	b.fs = newFiles(o.workdir, max(o.listSize, 1))
	b.machine = machineInfo(o)
	b.logf("generating workloads in %s", o.workdir)
	if err := b.fs.generate(); err != nil {
		return fmt.Errorf("generating workloads: %w", err)
	}
	for _, name := range o.resolvers {
		switch name {
		case "dijk":
			r, applied := newDijk(o.dijkBin, b.fs, o.dijkExtraYAML)
			b.resolvers = append(b.resolvers, r)
			for _, a := range applied {
				b.machine = append(b.machine, [2]string{"Dijk setting", a})
			}
		case "unbound":
			b.resolvers = append(b.resolvers, newUnbound(b.fs))
		case "dnsmasq":
			b.resolvers = append(b.resolvers, newDnsmasq(b.fs))
		default:
			return fmt.Errorf("unknown resolver %q", name)
		}
	}
	for _, r := range b.resolvers {
		if err := portFree(r.addr()); err != nil {
			return fmt.Errorf("%s's port %s is taken: %w", r.name, r.addr(), err)
		}
		b.machine = append(b.machine, [2]string{r.name, r.version})
	}

	up, err := b.startUpstream(o.loadCPU, upstreamPort, "upstream")
	if err != nil {
		return err
	}
	defer up.stop(5 * time.Second)

	floor := b.measureFloor()
	if floor != nil {
		defer floor.p.stop(5 * time.Second)
	}
	b.measureWorkloads(floor)
	if o.listSize > 0 {
		b.measureLists()
	}
	if o.logged {
		b.measureLogged()
	}
	b.machine = append(b.machine, [2]string{"Load average at the end", loadavg()})
	return b.report()
}

// target is a running server under measurement.
type target struct {
	r    *resolver
	p    *process
	host string
}

// rotate returns ts starting at index k, so that across repetitions each
// server takes each place in the order.
func rotate[T any](ts []T, k int) []T {
	if len(ts) == 0 {
		return ts
	}
	k %= len(ts)
	return append(append([]T{}, ts[k:]...), ts[:k]...)
}

func (b *bench) startUpstream(cpu string, port int, name string) (*process, error) {
	addr := fmt.Sprintf("%s:%d", upstreamHost, port)
	if err := portFree(addr); err != nil {
		return nil, fmt.Errorf("fake upstream's port %s is taken: %w", addr, err)
	}
	p, err := startPinned(name, cpu, filepath.Join(b.fs.dir, name+".log"), b.opts.upstreamBin, "-listen", addr)
	if err != nil {
		return nil, err
	}
	if _, err := waitAnswer(p, addr, want{"ready.example.org", rcodeNoError}, 10*time.Second); err != nil {
		p.stop(time.Second)
		return nil, err
	}
	return p, nil
}

// measureFloor measures the fake upstream itself on the resolver's core: the
// cheapest possible Go UDP DNS server, and the load tool's ceiling. It leaves
// the floor server running, for measureWorkloads to take turns with; the
// caller stops it.
func (b *bench) measureFloor() *target {
	p, err := b.startUpstream(b.opts.resolverCPU, floorPort, "floor")
	if err != nil {
		b.note("floor: %v", err)
		return nil
	}
	t := &target{r: &resolver{name: "fake upstream (floor)", port: floorPort}, p: p, host: upstreamHost}
	s := &sample{resolver: t.r.name, workload: "any A query", floor: true}
	b.logf("measuring the floor: the fake upstream on core %s", b.opts.resolverCPU)
	for rep := range b.opts.reps {
		b.fixedRun(t, s, b.fs.cached, false, rep)
	}
	for rep := range b.opts.reps {
		b.peakRun(t, s, b.fs.cached, false, rep)
	}
	for rep := range b.opts.reps {
		b.latencyRun(latencyJob{t: t, s: s}, b.fs.cached, false, rep)
	}
	b.floor = s
	return t
}

// startChecked starts r and checks that it blocks and forwards.
func (b *bench) startChecked(r *resolver) (*target, error) {
	b.logf("starting %s (%s)", r.name, r.version)
	p, err := r.start(b.opts.resolverCPU, false)
	if err != nil {
		return nil, err
	}
	checks := []struct {
		w    want
		what string
	}{
		{want{"chat.deepseek.com", rcodeNXDomain}, "does not block chat.deepseek.com"},
		{want{"www.example.org", rcodeNoError}, "does not forward"},
		{want{"deepseek.com", rcodeNXDomain}, "does not block the apex deepseek.com"},
	}
	for i, c := range checks {
		limit := 5 * time.Second
		if i == 0 {
			limit = 30 * time.Second
		}
		if _, err := waitAnswer(p, r.addr(), c.w, limit); err != nil {
			p.stop(5 * time.Second)
			return nil, fmt.Errorf("%s: %w", c.what, err)
		}
	}
	if got := cpusAllowed(p.pid()); got != b.opts.resolverCPU {
		b.note("%s runs on CPUs %q, not %q", r.name, got, b.opts.resolverCPU)
	}
	return &target{r: r, p: p, host: "127.0.0.1"}, nil
}

// measureWorkloads runs the blocked, cached and miss workloads with every
// resolver up at once (idle ones cost nothing), interleaving them run by run
// so that any change in the machine's background load hits all of them alike.
// The floor server, if there is one, takes its turn in the blocked and cached
// fixed-load runs.
func (b *bench) measureWorkloads(floor *target) {
	var live []*target
	for _, r := range b.resolvers {
		t, err := b.startChecked(r)
		if err != nil {
			b.note("%s: %v", r.name, err)
			continue
		}
		live = append(live, t)
	}
	defer func() {
		for _, t := range live {
			t.p.stop(15 * time.Second)
		}
	}()
	alive := func(ts []*target) []*target {
		var out []*target
		for _, t := range ts {
			if t.p.exited() {
				b.note("%s exited:\n%s", t.r.name, t.p.logTail())
				continue
			}
			out = append(out, t)
		}
		return out
	}
	o := b.opts
	for _, wl := range workloads {
		if b.overBudget() {
			b.note("time budget (%s) spent: the %s workload was not measured", o.budget, wl)
			break
		}
		live = alive(live)
		file, miss := "", false
		switch wl {
		case wlBlocked:
			file = b.fs.blocked
		case wlCached:
			file = b.fs.cached
			for _, t := range live {
				b.warm(t.r)
			}
		case wlMiss:
			miss = true
		}
		samples := map[*target]*sample{}
		for _, t := range live {
			samples[t] = &sample{resolver: t.r.name, workload: wl}
		}
		b.logf("%s: %d× fixed load %d qps, %d s, each resolver in turn", wl, o.reps, o.fixedQPS, o.seconds)
		turns := live
		if floor != nil && !floor.p.exited() && wl != wlMiss {
			turns = append(append([]*target{}, live...), floor)
			samples[floor] = &sample{resolver: floor.r.name, workload: wl, floor: true}
		}
		for rep := range o.reps {
			for _, t := range rotate(turns, rep) {
				b.fixedRun(t, samples[t], file, miss, rep)
			}
		}
		floorSample, withFloor := samples[floor]
		if withFloor {
			if b.floorRuns == nil {
				b.floorRuns = map[string]*sample{}
			}
			b.floorRuns[wl] = floorSample
		}
		b.logf("%s: %d× peak (unthrottled)", wl, o.reps)
		for rep := range o.reps {
			for _, t := range rotate(live, rep) {
				b.peakRun(t, samples[t], file, miss, rep)
			}
		}
		// Each resolver is measured at half of its own peak, and the others
		// also at Dijk's (if they can carry it): a resolver with a higher
		// peak is otherwise judged at a higher load, where queueing alone
		// lengthens the tail.
		dijkRate := 0
		for t, s := range samples {
			if t.r.name == "Dijk" && len(s.peakQPS) > 0 {
				dijkRate = halfPeak(s)
			}
		}
		var jobs []latencyJob
		for _, t := range live {
			jobs = append(jobs, latencyJob{t: t, s: samples[t]})
			if s := samples[t]; dijkRate > 0 && t.r.name != "Dijk" && len(s.peakQPS) > 0 && halfPeak(s) != dijkRate &&
				median(s.peakQPS) > float64(dijkRate) {
				jobs = append(jobs, latencyJob{t: t, s: s, atDijk: dijkRate})
			}
		}
		if withFloor && !floor.p.exited() && dijkRate > 0 {
			// The floor at Dijk's latency load shows how much of Dijk's
			// tail the load tool, the kernel and the machine add anyway.
			floorSample.latRate = dijkRate
			jobs = append(jobs, latencyJob{t: floor, s: floorSample})
		}
		b.logf("%s: %d× latency at half of each resolver's peak, and at Dijk's", wl, o.reps)
		for rep := range o.reps {
			for _, j := range rotate(jobs, rep) {
				b.latencyRun(j, file, miss, rep)
			}
		}
		for _, t := range live {
			b.samples = append(b.samples, samples[t])
		}
	}
	for _, t := range alive(live) {
		if m, err := readMem(t.p.pid()); err == nil {
			b.memory[t.r.name] = m
		}
	}
}

// warm sends each of the 1,000 cached names once, slowly, so all are cached.
func (b *bench) warm(r *resolver) {
	res, err := runDNSPerf(b.opts.loadCPU, perfArgs{addr: "127.0.0.1", port: r.port, file: b.fs.cached,
		seconds: 10, qps: 5000, once: true, clients: 1, inflight: 100}, b.logPath(r, "warm"))
	if err != nil {
		b.note("%s warm-up: %v", r.name, err)
		return
	}
	if res.completed != cachedNames || !onlyRcode(res.rcodes, "NOERROR") {
		b.note("%s warm-up: %d of %d answered, codes %s", r.name, res.completed, cachedNames, res.rcodes)
	}
}

func (b *bench) logPath(r *resolver, what string) string {
	name := strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(strings.ToLower(r.name + "-" + what))
	return filepath.Join(b.fs.dir, "dnsperf-"+name+".log")
}

var missRun int

// nextMiss writes a fresh file of count never-used names and returns its path.
func (b *bench) nextMiss(count int) string {
	missRun++
	path := filepath.Join(b.fs.dir, "miss-current.txt")
	if err := writeMiss(path, fmt.Sprintf("r%d", missRun), count); err != nil {
		fatalf("writing miss names: %v", err)
	}
	return path
}

// fileFor returns the query file of one run: file, or for miss a fresh file
// with room for qps for the run's length.
func (b *bench) fileFor(file string, miss bool, qps int) string {
	if !miss {
		return file
	}
	return b.nextMiss(qps*b.opts.seconds*6/5 + 1000)
}

func what(s *sample, kind string, rep int) string {
	return fmt.Sprintf("%s-%s-%d", s.workload, kind, rep+1)
}

// fixedRun offers the fixed load and charges the resolver's CPU time to the
// queries it answered.
func (b *bench) fixedRun(t *target, s *sample, file string, miss bool, rep int) {
	o := b.opts
	f := b.fileFor(file, miss, o.fixedQPS)
	core0, _ := coreBusy(o.resolverCPU)
	c0, err0 := readCPU(t.p.pid())
	res, err := runDNSPerf(o.loadCPU, perfArgs{addr: t.host, port: t.r.port, file: f, seconds: o.seconds,
		qps: o.fixedQPS, once: miss, verbose: true, clients: 1, inflight: 100}, b.logPath(t.r, what(s, "fixed", rep)))
	c1, err1 := readCPU(t.p.pid())
	core1, _ := coreBusy(o.resolverCPU)
	if err != nil || err0 != nil || err1 != nil {
		b.note("%s %s fixed-load run %d failed: %v %v %v", t.r.name, s.workload, rep+1, err, err0, err1)
		return
	}
	used, exact := cpuBetween(c0, c1)
	how := "schedstat"
	if !exact {
		how = "stat ticks (a thread exited)"
	}
	us := float64(used.Nanoseconds()) / 1e3 / float64(res.completed)
	ticksUS := float64((c1.ticks - c0.ticks).Nanoseconds()) / 1e3 / float64(res.completed)
	s.cpuUS = append(s.cpuUS, us)
	s.achievedQPS = append(s.achievedQPS, res.qps)
	loss := 100 * float64(res.lost) / float64(max(res.sent, 1))
	s.fixedLoss = append(s.fixedLoss, loss)
	s.fixedP99 = append(s.fixedP99, percentile(res.latencies, 0, 99))
	s.rcodes = res.rcodes
	// Time the resolver's core spent on anything but the resolver (other
	// processes, interrupts): a sign the machine was not quiet. /proc/stat
	// is in ticks, so this is approximate.
	others := 100 * (core1.busy - core0.busy - (c1.ticks - c0.ticks)).Seconds() / max((core1.total-core0.total).Seconds(), 1e-9)
	s.others = append(s.others, max(others, 0))
	b.checkRun(s, res)
	b.rawf("%s | %s | fixed %d qps | run %d | CPU %s (%s) over %d answers = %.2f µs/query (ticks: %.1f) | answered %.0f qps | lost %.2f%% | mean %s p99 %s | core %s busy with others %.0f%% | load %s | %s",
		t.r.name, s.workload, o.fixedQPS, rep+1, used.Round(time.Millisecond), how, res.completed, us, ticksUS, res.qps, loss,
		fmtLat(res.avgLatency), fmtLat(percentile(res.latencies, 0, 99)), o.resolverCPU, others, loadavg1(), res.rcodes)
}

// peakRun runs dnsperf unthrottled.
func (b *bench) peakRun(t *target, s *sample, file string, miss bool, rep int) {
	o := b.opts
	f := b.fileFor(file, miss, 150_000)
	res, err := runDNSPerf(o.loadCPU, perfArgs{addr: t.host, port: t.r.port, file: f, seconds: o.seconds,
		once: miss, clients: o.peakClients, inflight: o.peakInflight}, b.logPath(t.r, what(s, "peak", rep)))
	if err != nil {
		b.note("%s %s peak run %d failed: %v", t.r.name, s.workload, rep+1, err)
		return
	}
	s.peakQPS = append(s.peakQPS, res.qps)
	b.checkRun(s, res)
	b.rawf("%s | %s | peak | run %d | %.0f qps | lost %d | mean %s | load %s | %s",
		t.r.name, s.workload, rep+1, res.qps, res.lost, fmtLat(res.avgLatency), loadavg1(), res.rcodes)
}

// halfPeak is the load of s's latency runs: half its median peak.
func halfPeak(s *sample) int {
	return max(int(median(s.peakQPS)/2), 100)
}

// latencyJob is one resolver's latency run: at half of its own peak, or,
// when atDijk is set, at that load (Dijk's half peak).
type latencyJob struct {
	t      *target
	s      *sample
	atDijk int
}

// latencyRun offers j's load and records every query's latency.
func (b *bench) latencyRun(j latencyJob, file string, miss bool, rep int) {
	o := b.opts
	t, s := j.t, j.s
	if s.latRate == 0 {
		if len(s.peakQPS) == 0 {
			return
		}
		s.latRate = halfPeak(s)
	}
	rate, kind, label := s.latRate, "latency", ""
	if j.atDijk > 0 {
		rate, kind, label = j.atDijk, "latency-at-dijk", " (Dijk's ½ peak)"
	}
	f := b.fileFor(file, miss, rate)
	res, err := runDNSPerf(o.loadCPU, perfArgs{addr: t.host, port: t.r.port, file: f, seconds: o.seconds,
		qps: rate, once: miss, verbose: true, clients: 1, inflight: 100}, b.logPath(t.r, what(s, kind, rep)))
	if err != nil {
		b.note("%s %s %s run %d failed: %v", t.r.name, s.workload, kind, rep+1, err)
		return
	}
	p99 := percentile(res.latencies, 0, 99)
	loss := 100 * float64(res.lost) / float64(max(res.sent, 1))
	if j.atDijk > 0 {
		s.p99AtDijk = append(s.p99AtDijk, p99)
		s.lossAtDijk = append(s.lossAtDijk, loss)
	} else {
		s.meanLat = append(s.meanLat, mean(res.latencies))
		s.p99Lat = append(s.p99Lat, p99)
		s.latLoss = append(s.latLoss, loss)
	}
	b.checkRun(s, res)
	b.rawf("%s | %s | latency at %d qps%s | run %d | %d answers, %d lost | mean %s p50 %s p99 %s max %s | load %s",
		t.r.name, s.workload, rate, label, rep+1, len(res.latencies), res.lost, fmtLat(mean(res.latencies)),
		fmtLat(percentile(res.latencies, 0, 50)), fmtLat(p99), fmtLat(percentile(res.latencies, 0, 100)), loadavg1())
}

// checkRun notes answers with the wrong response code and heavy loss.
func (b *bench) checkRun(s *sample, res perfResult) {
	wantCode := "NOERROR"
	if strings.HasPrefix(s.workload, "blocked") && !s.floor {
		wantCode = "NXDOMAIN"
	}
	if !onlyRcode(res.rcodes, wantCode) {
		b.note("%s %s: expected only %s answers, got %s", s.resolver, s.workload, wantCode, res.rcodes)
	}
	if res.sent > 0 && float64(res.lost) > 0.01*float64(res.sent) {
		b.note("%s %s: %d of %d queries lost (%.1f%%)",
			s.resolver, s.workload, res.lost, res.sent, 100*float64(res.lost)/float64(res.sent))
	}
}

func onlyRcode(codes, want string) bool {
	return strings.HasPrefix(codes, want+" ") && !strings.Contains(codes, ",")
}

func (b *bench) rawf(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	b.raw = append(b.raw, s)
	b.logf("  %s", s)
}

// measureLists starts each resolver with the big list reps times, in turn,
// and measures how long it takes to answer a name from the list's end, its
// memory once loaded, and its CPU per blocked query against list entries.
func (b *bench) measureLists() {
	lists := map[*resolver]*listSample{}
	blocked := map[*resolver]*sample{}
	for _, r := range b.resolvers {
		lists[r] = &listSample{resolver: r.name}
		blocked[r] = &sample{resolver: r.name, workload: wlBlocked1M}
	}
	b.inTurns(fmt.Sprintf("%d-entry list", b.opts.listSize), func(r *resolver, rep int) error {
		return b.listRun(r, lists[r], blocked[r], rep)
	})
	for _, r := range b.resolvers {
		if len(lists[r].ready) > 0 {
			b.lists = append(b.lists, lists[r])
		}
		if len(blocked[r].cpuUS) > 0 {
			b.samples = append(b.samples, blocked[r])
		}
	}
}

// measureLogged starts each resolver with its log of blocked queries on,
// reps times in turn, and measures its CPU per blocked query at the fixed
// load. Each run's log is checked to have grown, then deleted.
func (b *bench) measureLogged() {
	samples := map[*resolver]*sample{}
	for _, r := range b.resolvers {
		samples[r] = &sample{resolver: r.name, workload: wlBlockedLogged}
	}
	b.inTurns("logged", func(r *resolver, rep int) error {
		return b.loggedRun(r, samples[r], rep)
	})
	for _, r := range b.resolvers {
		if len(samples[r].cpuUS) > 0 {
			b.samples = append(b.samples, samples[r])
		}
	}
}

// inTurns calls run for every resolver, reps times, rotating the order each
// repetition. A resolver whose run fails is noted and not run again; past
// the time budget, runs are skipped with a note.
func (b *bench) inTurns(what string, run func(r *resolver, rep int) error) {
	failed := map[*resolver]bool{}
	for rep := range b.opts.reps {
		for _, r := range rotate(b.resolvers, rep) {
			if failed[r] {
				continue
			}
			if b.overBudget() {
				b.note("time budget (%s) spent: %s's %s run %d was not measured", b.opts.budget, r.name, what, rep+1)
				continue
			}
			if err := run(r, rep); err != nil {
				b.note("%s, %s: %v", r.name, what, err)
				failed[r] = true
			}
		}
	}
}

func (b *bench) loggedRun(r *resolver, s *sample, rep int) error {
	logs := b.fs.logDir()
	if err := os.RemoveAll(logs); err != nil {
		return err
	}
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(logs) // a run's log is some 100 MB
	p, err := r.startLogged(b.opts.resolverCPU)
	if err != nil {
		return err
	}
	defer p.stop(15 * time.Second)
	if _, err := waitAnswer(p, r.addr(), want{"chat.deepseek.com", rcodeNXDomain}, 30*time.Second); err != nil {
		return err
	}
	runs := len(s.achievedQPS)
	b.fixedRun(&target{r: r, p: p, host: "127.0.0.1"}, s, b.fs.blocked, false, rep)
	if len(s.achievedQPS) == runs {
		return nil // the run failed, and fixedRun said why
	}
	// Every logged block takes a line of some 50 octets or more: a log
	// smaller than one octet per answer is not logging every block.
	answered := int64(s.achievedQPS[runs] * float64(b.opts.seconds))
	if size := dirSize(logs); size < answered {
		return fmt.Errorf("%d octets logged in %s for %d blocked answers: not every block was logged", size, logs, answered)
	}
	return nil
}

// dirSize is the total size of the files in dir.
func dirSize(dir string) int64 {
	var total int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			total += info.Size()
		}
	}
	return total
}

func (b *bench) listRun(r *resolver, ls *listSample, bs *sample, rep int) error {
	o := b.opts
	b.logf("%s: loading the %d-entry list (run %d)", r.name, o.listSize, rep+1)
	p, err := r.start(o.resolverCPU, true)
	if err != nil {
		return err
	}
	defer p.stop(15 * time.Second)
	healthy := make(chan float64, 1)
	if r.healthURL != "" {
		go func() {
			d, err := waitHTTP(p, r.healthURL, 120*time.Second)
			if err != nil {
				healthy <- math.NaN()
				return
			}
			healthy <- d.Seconds()
		}()
	} else {
		healthy <- math.NaN()
	}
	d, err := waitAnswer(p, r.addr(), want{b.fs.probe1M, rcodeNXDomain}, 120*time.Second)
	if err != nil {
		return err
	}
	ls.ready = append(ls.ready, d.Seconds())
	h := <-healthy
	ls.healthy = append(ls.healthy, h)
	time.Sleep(time.Second) // let the loader's garbage settle; VmHWM keeps the peak anyway
	m, err := readMem(p.pid())
	if err == nil {
		ls.rss = append(ls.rss, float64(m.rss))
		ls.hwm = append(ls.hwm, float64(m.hwm))
	}
	ls.entries = r.entries()
	b.rawf("%s | %d list | run %d | answering after %.3f s | healthy after %s | VmRSS %s VmHWM %s | entries %s | load %s",
		r.name, o.listSize, rep+1, d.Seconds(), fmtSec(h), fmtMB(float64(m.rss)), fmtMB(float64(m.hwm)), ls.entries, loadavg1())
	b.fixedRun(&target{r: r, p: p, host: "127.0.0.1"}, bs, b.fs.blocked1M, false, rep)
	return nil
}

func machineInfo(o options) [][2]string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	osName := "?"
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
			}
		}
	}
	perf := "?"
	for _, l := range strings.Split(output(5*time.Second, "dnsperf", "-h"), "\n") {
		if strings.HasPrefix(l, "Version") {
			perf = "dnsperf " + strings.TrimPrefix(l, "Version ")
		}
	}
	mode := fmt.Sprintf("full: %d repetitions, %d s runs", o.reps, o.seconds)
	if o.quick {
		mode = fmt.Sprintf("QUICK (smoke): %d repetition, %d s runs — not for comparison", o.reps, o.seconds)
	}
	if niceness != 0 {
		mode += fmt.Sprintf("; servers and dnsperf at nice %d", niceness)
	}
	dijk := o.dijkRev
	if dijk == "" {
		dijk = "?"
	}
	return [][2]string{
		{"Date", time.Now().UTC().Format("2006-01-02 15:04 MST")},
		{"Mode", mode},
		{"CPU", cpu},
		{"Cores", strconv.Itoa(numCPU())},
		{"Memory", mem},
		{"Kernel", strings.TrimSpace(string(kernel))},
		{"OS", osName},
		{"Load tool", perf},
		{"Dijk source", dijk},
		{"Load average at the start", loadavg()},
	}
}

// loadavg1 is the 1-minute load average.
func loadavg1() string {
	f := strings.Fields(loadavg())
	if len(f) > 0 {
		return f[0]
	}
	return "?"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}
