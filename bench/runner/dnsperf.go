package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// perfArgs are one dnsperf invocation's knobs.
type perfArgs struct {
	addr     string // host
	port     int
	file     string
	seconds  int  // -l
	qps      int  // -Q; 0 = unthrottled
	once     bool // -n 1: each line once, so the run ends early if the file runs out
	verbose  bool // -v: one line per query with its latency
	clients  int  // -c
	inflight int  // -q
}

// perfResult is what one dnsperf run reported.
type perfResult struct {
	sent, completed, lost int64
	qps                   float64
	runtime               float64 // seconds
	avgLatency            float64 // seconds
	rcodes                string  // "NOERROR 100 (100.00%)"
	latencies             []float64
	verboseLost           int64
}

// runDNSPerf runs dnsperf pinned to cpu and parses its output.
func runDNSPerf(cpu string, a perfArgs, logPath string) (perfResult, error) {
	args := []string{"-s", a.addr, "-p", strconv.Itoa(a.port), "-d", a.file,
		"-l", strconv.Itoa(a.seconds), "-t", "2",
		"-c", strconv.Itoa(a.clients), "-q", strconv.Itoa(a.inflight)}
	if a.qps > 0 {
		args = append(args, "-Q", strconv.Itoa(a.qps))
	}
	if a.once {
		args = append(args, "-n", "1")
	}
	if a.verbose {
		args = append(args, "-v")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.seconds+30)*time.Second)
	defer cancel()
	argv := pinned(cpu, "dnsperf", args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	logf, err := os.Create(logPath)
	if err != nil {
		return perfResult{}, err
	}
	defer logf.Close()
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return perfResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return perfResult{}, err
	}
	res, perr := parseDNSPerf(out, logf, a.verbose)
	werr := cmd.Wait()
	if perr != nil {
		return res, perr
	}
	if werr != nil {
		return res, fmt.Errorf("dnsperf: %w (see %s)", werr, logPath)
	}
	if res.completed == 0 {
		return res, fmt.Errorf("dnsperf completed no queries (see %s)", logPath)
	}
	return res, nil
}

// parseDNSPerf reads dnsperf's stdout. Per-query lines ("> NOERROR name A
// 0.000123", or a lost query "> T name A") are kept as latencies and not
// copied to the log; everything else is.
func parseDNSPerf(r io.Reader, log io.Writer, verbose bool) (perfResult, error) {
	var res perfResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			if !verbose {
				continue
			}
			f := strings.Fields(line)
			if len(f) >= 5 {
				if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
					res.latencies = append(res.latencies, v)
					continue
				}
			}
			res.verboseLost++
			continue
		}
		fmt.Fprintln(log, line)
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		first := v
		if i := strings.IndexByte(v, ' '); i >= 0 {
			first = v[:i]
		}
		switch k {
		case "Queries sent":
			res.sent, _ = strconv.ParseInt(first, 10, 64)
		case "Queries completed":
			res.completed, _ = strconv.ParseInt(first, 10, 64)
		case "Queries lost":
			res.lost, _ = strconv.ParseInt(first, 10, 64)
		case "Queries per second":
			res.qps, _ = strconv.ParseFloat(first, 64)
		case "Run time (s)":
			res.runtime, _ = strconv.ParseFloat(first, 64)
		case "Average Latency (s)":
			res.avgLatency, _ = strconv.ParseFloat(first, 64)
		case "Response codes":
			res.rcodes = v
		}
	}
	return res, sc.Err()
}

// percentile returns the p-th percentile (0..100, nearest rank) of the
// latencies, counting lost queries as infinitely slow (pass lost 0 to rank
// answered queries only).
func percentile(lat []float64, lost int64, p float64) float64 {
	n := len(lat) + int(lost)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		return math.Inf(1)
	}
	return s[rank-1]
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// median of the finite values; NaN when there are none.
func median(v []float64) float64 {
	s := make([]float64, 0, len(v))
	for _, x := range v {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
