package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Addresses, all on loopback. The fake upstream sits on 127.0.0.2 so that no
// resolver mistakes the load tool (127.0.0.1) for its own upstream.
const (
	upstreamHost = "127.0.0.2"
	upstreamPort = 5390
	floorPort    = 5391
	dijkPort     = 5300
	dijkHTTPPort = 5380
	unboundPort  = 5301
	dnsmasqPort  = 5302
)

// resolver is one DNS server under test.
type resolver struct {
	name    string
	port    int
	version string
	// start launches it pinned to cpu with the small list (deepseek.com) or,
	// with big, also the synthetic 1M list.
	start func(cpu string, big bool) (*process, error)
	// startLogged launches it with the small list and its log of blocked
	// queries going to a file in the files' logDir.
	startLogged func(cpu string) (*process, error)
	// healthURL is polled for a second "ready" time, where the resolver has one.
	healthURL string
	// entries returns how many list entries it reports loaded, where it can.
	entries func() string
}

func (r *resolver) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// dijkOverrides are settings that make Dijk comparable with the others,
// applied only when the Dijk under test knows the key (older builds reject
// unknown keys). Unbound and dnsmasq limit no client's rate by default.
var dijkOverrides = []struct{ key, yaml, why string }{
	{"ratelimit", "ratelimit: {qps: 0}\n", "per-client rate limit off (ratelimit.qps: 0): all the load comes from one client, 127.0.0.1"},
}

// dijkConfig is the benchmark's Dijk configuration; hits is log.hits: "off"
// or a file.
func dijkConfig(lists, hits, extraYAML string) string {
	return fmt.Sprintf(`# Written by bench/runner.
listen: {dns: ["127.0.0.1:%d"], http: "127.0.0.1:%d"}
upstream: {servers: ["%s:%d"], timeout: 2s}
blocklists: %s
sinkhole: {action: nxdomain, ttl: 5m}
cache: {size: 100000, min_ttl: 0s, max_ttl: 24h}
log: {level: warn, hits: %q}
%s`, dijkPort, dijkHTTPPort, upstreamHost, upstreamPort, lists, hits, extraYAML)
}

// probeDijkOverrides returns the overrides this Dijk accepts, checking each
// with "dijk check NAME --config FILE", which loads and validates the config.
func probeDijkOverrides(bin, dir, extraYAML string) (yaml string, applied []string) {
	for _, o := range dijkOverrides {
		if strings.Contains(extraYAML, o.key+":") {
			continue // the user's own setting wins
		}
		path := filepath.Join(dir, "dijk-probe.yaml")
		if err := os.WriteFile(path, []byte(dijkConfig("[builtin:deepseek]", "off", extraYAML+o.yaml)), 0o644); err != nil {
			continue
		}
		cmd := exec.Command(bin, "check", "www.example.org", "--config", path)
		cmd.Env = serverEnv()
		if err := cmd.Run(); err == nil {
			yaml += o.yaml
			applied = append(applied, o.why)
		}
	}
	return yaml, applied
}

func newDijk(bin string, fs files, extraYAML string) (*resolver, []string) {
	r := &resolver{name: "Dijk", port: dijkPort,
		healthURL: fmt.Sprintf("http://127.0.0.1:%d/healthz", dijkHTTPPort)}
	r.version = output(10*time.Second, bin, "version")
	overrides, applied := probeDijkOverrides(bin, fs.dir, extraYAML)
	extraYAML += overrides
	r.start = func(cpu string, big bool) (*process, error) {
		lists := "[builtin:deepseek]"
		name := "dijk"
		if big {
			lists = fmt.Sprintf("[builtin:deepseek, %q]", fs.list1M)
			name = "dijk-1m"
		}
		return startDijk(bin, fs, name, cpu, dijkConfig(lists, "off", extraYAML))
	}
	r.startLogged = func(cpu string) (*process, error) {
		hits := filepath.Join(fs.logDir(), "dijk-hits.jsonl")
		return startDijk(bin, fs, "dijk-logged", cpu, dijkConfig("[builtin:deepseek]", hits, extraYAML))
	}
	r.entries = func() string {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/metrics", dijkHTTPPort))
		if err != nil {
			return "?"
		}
		var total float64
		found := false
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "dijk_list_entries") {
				f := strings.Fields(l)
				if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
					total += v
					found = true
				}
			}
		}
		if !found {
			return "?"
		}
		return strconv.FormatFloat(total, 'f', 0, 64)
	}
	return r, applied
}

func startDijk(bin string, fs files, name, cpu, cfg string) (*process, error) {
	path := filepath.Join(fs.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	return startPinned("Dijk", cpu, filepath.Join(fs.dir, name+".log"), bin, "serve", "--config", path)
}

func newUnbound(fs files) *resolver {
	r := &resolver{name: "Unbound", port: unboundPort}
	v := output(10*time.Second, "unbound", "-V")
	r.version, _, _ = strings.Cut(v, "\n")
	// start writes the config: logfile "" is stderr, which verbosity 0
	// keeps quiet; extra goes at the end of the server section.
	start := func(cpu, name, logfile, extra string) (*process, error) {
		cfg := fmt.Sprintf(`# Written by bench/runner.
server:
  verbosity: 0
  interface: 127.0.0.1
  port: %d
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  chroot: ""
  username: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: %q
  do-not-query-localhost: no
  module-config: "iterator"
  msg-cache-size: 32m
  rrset-cache-size: 64m
  local-zone: "deepseek.com." always_nxdomain
%sforward-zone:
  name: "."
  forward-addr: %s@%d
`, unboundPort, fs.dir, logfile, extra, upstreamHost, upstreamPort)
		path := filepath.Join(fs.dir, name+".conf")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		return startPinned("Unbound", cpu, filepath.Join(fs.dir, name+".log"), "unbound", "-d", "-c", path)
	}
	r.start = func(cpu string, big bool) (*process, error) {
		if big {
			return start(cpu, "unbound-1m", "", fmt.Sprintf("  include: %q\n", fs.unbound1M))
		}
		return start(cpu, "unbound", "", "")
	}
	// Unbound's log of what its local zones answered: one line per block.
	r.startLogged = func(cpu string) (*process, error) {
		return start(cpu, "unbound-logged", filepath.Join(fs.logDir(), "unbound.log"), "  log-local-actions: yes\n")
	}
	r.entries = func() string { return "" }
	return r
}

func newDnsmasq(fs files) *resolver {
	r := &resolver{name: "dnsmasq", port: dnsmasqPort}
	v := output(10*time.Second, "dnsmasq", "--version")
	r.version, _, _ = strings.Cut(v, "\n")
	if i := strings.Index(r.version, "  Copyright"); i > 0 {
		r.version = r.version[:i]
	}
	start := func(cpu, name, conf string, logArgs ...string) (*process, error) {
		args := []string{"-k", "--conf-file=" + conf,
			"--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=127.0.0.1",
			fmt.Sprintf("--port=%d", dnsmasqPort),
			fmt.Sprintf("--server=%s#%d", upstreamHost, upstreamPort),
			"--address=/deepseek.com/",
			"--cache-size=10000", "--dns-forward-max=1024",
			"--pid-file="}
		args = append(args, logArgs...)
		return startPinned("dnsmasq", cpu, filepath.Join(fs.dir, name+".log"), "dnsmasq", args...)
	}
	r.start = func(cpu string, big bool) (*process, error) {
		if big {
			return start(cpu, "dnsmasq-1m", fs.dnsmasq1M, "--log-facility=-")
		}
		return start(cpu, "dnsmasq", "/dev/null", "--log-facility=-")
	}
	// dnsmasq can only log every query (and what answered it), not just
	// the blocked ones.
	r.startLogged = func(cpu string) (*process, error) {
		return start(cpu, "dnsmasq-logged", "/dev/null", "--log-queries", "--log-facility="+filepath.Join(fs.logDir(), "dnsmasq.log"))
	}
	r.entries = func() string { return "" }
	return r
}
