package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/config"
)

// testConfig loads the real configuration with the given flags, then moves
// every listener to a free loopback port (port 0 is not a valid setting).
func testConfig(t *testing.T, flags ...string) *config.Config {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse(flags); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen.DNS = []string{"127.0.0.1:0"}
	cfg.Listen.HTTP = "127.0.0.1:0"
	return cfg
}

// startDijk runs the resolver in process, as `dijk serve` does, and returns it.
func startDijk(t *testing.T, cfg *config.Config) *instance {
	t.Helper()
	inst, err := start(cfg, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inst.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return inst
}

func ask(t *testing.T, network, server, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	if edns {
		q.SetEdns0(1232, false)
	}
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(q, server)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

func edeOf(r *dns.Msg) *dns.EDNS0_EDE {
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				return ede
			}
		}
	}
	return nil
}

func TestBlockedInEveryModeAndType(t *testing.T) {
	up := startFakeUpstream(t)
	types := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeSVCB, dns.TypeMX, dns.TypeTXT, dns.TypeANY}
	modes := []struct {
		name  string
		flags []string
		// wantRcode and wantAnswer per query type.
		want func(qtype uint16) (rcode int, answer string)
	}{
		{"nxdomain", []string{"--sinkhole.action", "nxdomain"}, func(uint16) (int, string) { return dns.RcodeNameError, "" }},
		{"refused", []string{"--sinkhole.action", "refused"}, func(uint16) (int, string) { return dns.RcodeRefused, "" }},
		{"null", []string{"--sinkhole.action", "null"}, func(qt uint16) (int, string) {
			switch qt {
			case dns.TypeA:
				return dns.RcodeSuccess, "0.0.0.0"
			case dns.TypeAAAA:
				return dns.RcodeSuccess, "::"
			}
			return dns.RcodeSuccess, ""
		}},
		{"ip", []string{"--sinkhole.action", "ip", "--sinkhole.ipv4", "192.0.2.80", "--sinkhole.ipv6", "2001:db8::80"}, func(qt uint16) (int, string) {
			switch qt {
			case dns.TypeA:
				return dns.RcodeSuccess, "192.0.2.80"
			case dns.TypeAAAA:
				return dns.RcodeSuccess, "2001:db8::80"
			}
			return dns.RcodeSuccess, ""
		}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			flags := append([]string{"--upstream.servers", up.addr, "--sinkhole.ttl", "2m"}, mode.flags...)
			inst := startDijk(t, testConfig(t, flags...))
			addr := inst.dnsAddrs()[0]
			for _, network := range []string{"udp", "tcp"} {
				for _, qtype := range types {
					name := "Chat.DeepSeek.com."
					r := ask(t, network, addr, name, qtype, true)
					wantRcode, wantAnswer := mode.want(qtype)
					label := network + " " + dns.TypeToString[qtype]
					if r.Rcode != wantRcode {
						t.Errorf("%s: rcode %s, want %s", label, dns.RcodeToString[r.Rcode], dns.RcodeToString[wantRcode])
					}
					if r.Question[0].Name != name {
						t.Errorf("%s: question %q, want the client's spelling", label, r.Question[0].Name)
					}
					checkBlockedBody(t, label, r, wantAnswer, mode.name == "refused")
				}
			}
			if n := up.total(); n != 0 {
				t.Errorf("upstream received %d queries for blocked names, want 0", n)
			}
		})
	}
}

func checkBlockedBody(t *testing.T, label string, r *dns.Msg, wantAnswer string, refused bool) {
	t.Helper()
	if ede := edeOf(r); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeBlocked || !strings.Contains(ede.ExtraText, "builtin:deepseek") {
		t.Errorf("%s: EDE %v, want 15 (Blocked) naming builtin:deepseek", label, ede)
	}
	switch {
	case wantAnswer != "":
		if len(r.Answer) != 1 || !strings.HasSuffix(r.Answer[0].String(), "\t"+wantAnswer) {
			t.Errorf("%s: answer %v, want %s", label, r.Answer, wantAnswer)
		}
	case refused:
		if len(r.Answer)+len(r.Ns) != 0 {
			t.Errorf("%s: REFUSED carries records %v %v", label, r.Answer, r.Ns)
		}
	default:
		if len(r.Answer) != 0 || len(r.Ns) != 1 {
			t.Fatalf("%s: answer %v authority %v, want no answer and one SOA", label, r.Answer, r.Ns)
		}
		soa, ok := r.Ns[0].(*dns.SOA)
		if !ok || soa.Hdr.Name != "deepseek.com." || soa.Hdr.Ttl != 120 || soa.Minttl != 120 {
			t.Errorf("%s: authority %v, want SOA deepseek.com. with TTL and MINIMUM 120", label, r.Ns[0])
		}
	}
}

func TestNoEDEWithoutEDNS(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	r := ask(t, "udp", inst.dnsAddrs()[0], "chat.deepseek.com.", dns.TypeA, false)
	if r.Rcode != dns.RcodeNameError || r.IsEdns0() != nil || len(r.Ns) != 1 {
		t.Errorf("got rcode %s, OPT %v, authority %v; want NXDOMAIN, no OPT, one SOA", dns.RcodeToString[r.Rcode], r.IsEdns0(), r.Ns)
	}
}

func TestLookalikesAreForwarded(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	for _, name := range []string{"notdeepseek.com.", "deepseek.com.example.org.", "deepseek.co.", "other.volces.com."} {
		r := ask(t, "udp", inst.dnsAddrs()[0], name, dns.TypeA, true)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s: %s %v, want the upstream's answer", name, dns.RcodeToString[r.Rcode], r.Answer)
		}
		if up.queries(name, dns.TypeA) != 1 {
			t.Errorf("%s: upstream saw %d queries, want 1", name, up.queries(name, dns.TypeA))
		}
	}
}

func TestForwardedThenCached(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	addr := inst.dnsAddrs()[0]
	for i, network := range []string{"udp", "tcp", "udp"} {
		r := ask(t, network, addr, "WwW.Example.ORG.", dns.TypeA, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Question[0].Name != "WwW.Example.ORG." {
			t.Fatalf("query %d: %v", i, r)
		}
	}
	if n := up.queries("www.example.org.", dns.TypeA); n != 1 {
		t.Errorf("upstream saw %d queries, want 1 (the rest from cache)", n)
	}
	// Negative answers are cached too (RFC 2308).
	for range 2 {
		if r := ask(t, "udp", addr, "nx.test.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
			t.Fatalf("nx.test.: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
	if n := up.queries("nx.test.", dns.TypeA); n != 1 {
		t.Errorf("upstream saw %d queries for a cached NXDOMAIN, want 1", n)
	}
}

func TestTruncationAndTCPRetry(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	addr := inst.dnsAddrs()[0]

	r := ask(t, "udp", addr, "big.test.", dns.TypeTXT, false)
	if !r.Truncated {
		t.Errorf("UDP client without EDNS: TC not set on a %d-record answer", len(r.Answer))
	}
	if up.queriesOver("tcp", "big.test.", dns.TypeTXT) != 1 {
		t.Errorf("upstream saw %d TCP queries, want 1 (retry after TC)", up.queriesOver("tcp", "big.test.", dns.TypeTXT))
	}
	r = ask(t, "tcp", addr, "big.test.", dns.TypeTXT, false)
	if r.Truncated || len(r.Answer) != 30 {
		t.Errorf("TCP client: TC %v with %d records, want the full 30", r.Truncated, len(r.Answer))
	}
}

func TestUpstreamTimeoutGivesServfail(t *testing.T) {
	dead := silentUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", dead, "--upstream.timeout", "500ms"))
	for _, network := range []string{"udp", "tcp"} {
		r := ask(t, network, inst.dnsAddrs()[0], "slow.example.org.", dns.TypeA, false)
		if r.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", network, dns.RcodeToString[r.Rcode])
		}
	}
}

func TestDeadUpstreamFailover(t *testing.T) {
	dead := silentUpstream(t)
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", dead+","+up.addr, "--upstream.timeout", "2s"))
	for _, name := range []string{"one.example.org.", "two.example.org."} {
		r := ask(t, "udp", inst.dnsAddrs()[0], name, dns.TypeA, false)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s: %s %v, want the live upstream's answer", name, dns.RcodeToString[r.Rcode], r.Answer)
		}
	}
}

func TestHitLogLine(t *testing.T) {
	up := startFakeUpstream(t)
	path := filepath.Join(t.TempDir(), "hits.jsonl")
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--log.hits", path))
	ask(t, "tcp", inst.dnsAddrs()[0], "API.deepseek.com.", dns.TypeAAAA, true)
	ask(t, "udp", inst.dnsAddrs()[0], "example.org.", dns.TypeA, true) // allowed: no line

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := inst.shutdown(ctx); err != nil { // flushes the hit log
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var doc map[string]any
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, doc)
	}
	if len(lines) != 1 {
		t.Fatalf("hit log has %d lines, want 1", len(lines))
	}
	doc := lines[0]
	get := func(path string) any {
		var cur any = doc
		for _, k := range strings.Split(path, ".") {
			cur = cur.(map[string]any)[k]
		}
		return cur
	}
	for path, want := range map[string]any{
		"client.ip":          "127.0.0.1",
		"network.transport":  "tcp",
		"dns.question.name":  "api.deepseek.com",
		"dns.question.type":  "AAAA",
		"rule.name":          "deepseek.com",
		"rule.ruleset":       "builtin:deepseek",
		"event.action":       "nxdomain",
		"dns.response_code":  "NXDOMAIN",
		"dns.question.class": "IN",
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	ts, err := time.Parse(time.RFC3339Nano, get("@timestamp").(string))
	if err != nil || ts.Location() != time.UTC || time.Since(ts) > time.Minute {
		t.Errorf("@timestamp %v (%v), want a recent RFC 3339 UTC time", get("@timestamp"), err)
	}
	inst.dns, inst.hits, inst.hitsSink, inst.http = nil, nil, nil, nil // already shut down
}

func TestMetricsMove(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	addr := inst.dnsAddrs()[0]
	ask(t, "udp", addr, "chat.deepseek.com.", dns.TypeA, false)
	ask(t, "udp", addr, "example.org.", dns.TypeA, false)
	ask(t, "udp", addr, "example.org.", dns.TypeA, false)

	metrics := httpGet(t, "http://"+inst.http.Addr()+"/metrics")
	for _, want := range []string{
		`dijk_queries_total{outcome="blocked",transport="udp"} 1`,
		`dijk_queries_total{outcome="forwarded",transport="udp"} 1`,
		`dijk_queries_total{outcome="cached",transport="udp"} 1`,
		`dijk_blocks_total{list="builtin:deepseek"} 1`,
		`dijk_cache_hits_total 1`,
		`dijk_list_entries{list="builtin:deepseek"}`,
		`dijk_upstream_request_duration_seconds_count{upstream="` + up.addr + `"} 1`,
		`dijk_hitlog_dropped_total 0`,
		`dijk_build_info{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if body := httpGet(t, "http://"+inst.http.Addr()+"/readyz"); !strings.Contains(body, "ready") {
		t.Errorf("/readyz = %q", body)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func TestReloadSwapsLists(t *testing.T) {
	up := startFakeUpstream(t)
	list := filepath.Join(t.TempDir(), "extra.txt")
	if err := os.WriteFile(list, []byte("# Source: test\nkimi.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--blocklists", "builtin:deepseek,"+list))
	addr := inst.dnsAddrs()[0]
	if r := ask(t, "udp", addr, "kimi.com.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Fatalf("kimi.com before reload: %s", dns.RcodeToString[r.Rcode])
	}
	if err := os.WriteFile(list, []byte("# Source: test\nmoonshot.cn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := inst.reload(); err != nil {
		t.Fatal(err)
	}
	if r := ask(t, "udp", addr, "kimi.com.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess {
		t.Errorf("kimi.com after reload: %s, want forwarded", dns.RcodeToString[r.Rcode])
	}
	if r := ask(t, "udp", addr, "api.moonshot.cn.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("api.moonshot.cn after reload: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	// A broken update keeps the lists in force.
	if err := os.Remove(list); err != nil {
		t.Fatal(err)
	}
	if err := inst.reload(); err == nil {
		t.Error("reload with a missing list: want an error")
	}
	if r := ask(t, "udp", addr, "api.moonshot.cn.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("after a failed reload: %s, want the old lists still blocking", dns.RcodeToString[r.Rcode])
	}
}

func TestAnswerChecksThroughTheServer(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--policy.block_ips", "198.51.100.0/24,192.0.2.1"))
	addr := inst.dnsAddrs()[0]
	tests := []struct {
		name      string
		qname     string
		wantRcode int
	}{
		{"CNAME to a blocked name", "cloaked.test.", dns.RcodeNameError},
		{"answer address in block_ips", "www.example.org.", dns.RcodeNameError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ask(t, "udp", addr, tt.qname, dns.TypeA, true)
			if r.Rcode != tt.wantRcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			for _, rr := range r.Answer {
				if _, ok := rr.(*dns.A); ok {
					t.Errorf("blocked answer leaks %v", rr)
				}
			}
			if ede := edeOf(r); ede == nil || ede.InfoCode != dns.ExtendedErrorCodeBlocked {
				t.Errorf("EDE = %v, want 15", ede)
			}
		})
	}
}
