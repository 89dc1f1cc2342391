package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// running is every server started and not yet stopped, so a signal to the
// runner can stop them all (they run in their own process groups).
var running struct {
	sync.Mutex
	procs map[*process]bool
}

func track(p *process, on bool) {
	running.Lock()
	defer running.Unlock()
	if running.procs == nil {
		running.procs = map[*process]bool{}
	}
	if on {
		running.procs[p] = true
	} else {
		delete(running.procs, p)
	}
}

// stopAll kills every server still running; for the signal handler.
func stopAll() {
	running.Lock()
	procs := make([]*process, 0, len(running.procs))
	for p := range running.procs {
		procs = append(procs, p)
	}
	running.Unlock()
	for _, p := range procs {
		p.stop(3 * time.Second)
	}
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux architecture Debian ships.
const clockTicks = 100

// process is one server the runner started, pinned to a CPU with taskset.
type process struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	logPath string
}

// niceness, when not 0, is the nice value every server and dnsperf run at
// (-nice): a higher priority keeps other work on a shared machine from
// preempting them, though not from polluting their caches.
var niceness int

// pinned returns the command line that runs bin with args on cpu: taskset -c
// cpu bin args..., behind nice -n N when niceness is set. nice and taskset
// both exec, so the process keeps the PID.
func pinned(cpu, bin string, args ...string) []string {
	argv := []string{"taskset", "-c", cpu, bin}
	if niceness != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(niceness)}, argv...)
	}
	return append(argv, args...)
}

// startPinned runs bin with args on cpu (taskset -c cpu bin args...). taskset
// execs bin, so the PID is the server's own. Output goes to logPath.
func startPinned(name, cpu, logPath, bin string, args ...string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	argv := pinned(cpu, bin, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), logPath: logPath}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	track(p, true)
	go func() {
		_ = cmd.Wait()
		track(p, false)
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// serverEnv is the runner's environment without DIJK_* variables: Dijk reads
// those as configuration, and the benchmark's configuration is the file.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DIJK_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace, then kills the process group.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// logTail returns the last lines of the process's log, for error messages.
func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// cpuSample is a process's CPU time, read two ways.
type cpuSample struct {
	// exact is the sum over its threads of the time they spent on a CPU, in
	// nanoseconds, from /proc/PID/task/TID/schedstat (the scheduler's own
	// clock, not sampled). It misses threads that exited.
	exact time.Duration
	tids  map[string]bool
	// ticks is utime+stime from /proc/PID/stat: all threads, dead ones too,
	// but sampled at the timer tick and reported in 10 ms units.
	ticks time.Duration
}

func readCPU(pid int) (cpuSample, error) {
	var c cpuSample
	var err error
	if c.ticks, err = cpuTime(pid); err != nil {
		return c, err
	}
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return c, err
	}
	c.tids = map[string]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread just exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		c.exact += time.Duration(ns)
		c.tids[e.Name()] = true
	}
	return c, nil
}

// cpuBetween returns the CPU time spent between two samples: the exact
// figure when every thread of the first sample still exists, else the ticks.
func cpuBetween(a, b cpuSample) (d time.Duration, exact bool) {
	for tid := range a.tids {
		if !b.tids[tid] {
			return b.ticks - a.ticks, false
		}
	}
	return b.exact - a.exact, true
}

// cpuTime is the process's user+system CPU time, all threads, from
// /proc/PID/stat (fields 14 and 15, in clock ticks).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name (field 2) may contain spaces and ')', so split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc/PID/stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("bad utime/stime in /proc/PID/stat")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// memStatus holds VmRSS and VmHWM (peak RSS) in bytes.
type memStatus struct{ rss, hwm int64 }

func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	return parseStatusMem(b)
}

func parseStatusMem(b []byte) (memStatus, error) {
	var m memStatus
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.rss
		case "VmHWM":
			dst = &m.hwm
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err == nil {
				*dst = n * 1024
			}
		}
	}
	if m.rss == 0 || m.hwm == 0 {
		return m, errors.New("no VmRSS/VmHWM in /proc/PID/status")
	}
	return m, nil
}

// cpusAllowed returns the Cpus_allowed_list line of /proc/PID/status.
func cpusAllowed(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == "Cpus_allowed_list" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// output runs a command with a time bound and returns its trimmed output.
func output(timeout time.Duration, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	b, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(b))
}

// coreTimes is one CPU's busy and total time from /proc/stat.
type coreTimes struct{ busy, total time.Duration }

// coreBusy reads the line of /proc/stat for cpu (e.g. "0").
func coreBusy(cpu string) (coreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreTimes{}, err
	}
	return parseProcStat(b, cpu)
}

func parseProcStat(b []byte, cpu string) (coreTimes, error) {
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 9 || f[0] != "cpu"+cpu {
			continue
		}
		var t coreTimes
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return coreTimes{}, err
			}
			d := time.Duration(n) * time.Second / clockTicks
			if i >= 8 { // guest time is already counted in user
				break
			}
			t.total += d
			if i != 3 && i != 4 { // idle, iowait
				t.busy += d
			}
		}
		return t, nil
	}
	return coreTimes{}, fmt.Errorf("no cpu%s in /proc/stat", cpu)
}
