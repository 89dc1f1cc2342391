package policy

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

func testTrie(t testing.TB, list string) *blocklist.Trie {
	t.Helper()
	entries, warnings, err := blocklist.Parse("test.txt", strings.NewReader(list))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("parse: %v %v", err, warnings)
	}
	b := blocklist.NewBuilder()
	for _, e := range entries {
		b.Add("test.txt", e)
	}
	return b.Build()
}

const testList = "deepseek.com\nexact:apmplus.ap-southeast-1.volces.com\n"

type recorder struct {
	mu     sync.Mutex
	events []hitlog.Event
}

func (r *recorder) Log(e hitlog.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// countingNext stands for the cache and upstream: it answers and counts.
type countingNext struct{ calls atomic.Int32 }

func (n *countingNext) ServeDNS(_ context.Context, req *chain.Request) (*dns.Msg, error) {
	n.calls.Add(1)
	req.Outcome = chain.OutcomeForwarded
	rr, _ := dns.NewRR(req.Question.Name + " 60 IN A 192.0.2.80")
	return &dns.Msg{Answer: []dns.RR{rr}}, nil
}

func newRequest(name string, qtype uint16, edns bool) *chain.Request {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	return &chain.Request{
		ID: q.Id, Question: q.Question[0], Name: strings.ToLower(name),
		Client:    netip.MustParseAddrPort("192.0.2.10:40000"),
		Transport: chain.TransportUDP, EDNS: edns,
	}
}

func newPolicy(t *testing.T, sink Sinkhole) (*Policy, *countingNext, *recorder) {
	t.Helper()
	next := &countingNext{}
	hits := &recorder{}
	now := func() time.Time { return time.Unix(1795000000, 0) }
	p, err := New(Options{Sinkhole: sink, Hits: hits, Now: now}, testTrie(t, testList), nil, next)
	if err != nil {
		t.Fatal(err)
	}
	return p, next, hits
}

func TestBlockedAnswers(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.99")
	v6 := netip.MustParseAddr("2001:db8::99")
	tests := []struct {
		name      string
		sink      Sinkhole
		qname     string
		qtype     uint16
		wantRcode int
		wantAddr  string // the answer's address, "" for none
		wantSOA   string // the SOA owner, "" for none
	}{
		{"nxdomain A", Sinkhole{Action: ActionNXDomain}, "chat.deepseek.com.", dns.TypeA, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain apex", Sinkhole{Action: ActionNXDomain}, "deepseek.com.", dns.TypeA, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain HTTPS", Sinkhole{Action: ActionNXDomain}, "chat.deepseek.com.", dns.TypeHTTPS, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain SVCB", Sinkhole{Action: ActionNXDomain}, "chat.deepseek.com.", dns.TypeSVCB, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain MX", Sinkhole{Action: ActionNXDomain}, "deepseek.com.", dns.TypeMX, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain TXT", Sinkhole{Action: ActionNXDomain}, "deepseek.com.", dns.TypeTXT, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain ANY", Sinkhole{Action: ActionNXDomain}, "deepseek.com.", dns.TypeANY, dns.RcodeNameError, "", "deepseek.com."},
		{"nxdomain exact host", Sinkhole{Action: ActionNXDomain}, "apmplus.ap-southeast-1.volces.com.", dns.TypeA, dns.RcodeNameError, "", "apmplus.ap-southeast-1.volces.com."},
		{"null A", Sinkhole{Action: ActionNull}, "chat.deepseek.com.", dns.TypeA, dns.RcodeSuccess, "0.0.0.0", ""},
		{"null AAAA", Sinkhole{Action: ActionNull}, "chat.deepseek.com.", dns.TypeAAAA, dns.RcodeSuccess, "::", ""},
		{"null MX is NODATA", Sinkhole{Action: ActionNull}, "chat.deepseek.com.", dns.TypeMX, dns.RcodeSuccess, "", "deepseek.com."},
		{"null HTTPS is NODATA", Sinkhole{Action: ActionNull}, "chat.deepseek.com.", dns.TypeHTTPS, dns.RcodeSuccess, "", "deepseek.com."},
		{"ip A", Sinkhole{Action: ActionIP, IPv4: v4, IPv6: v6}, "chat.deepseek.com.", dns.TypeA, dns.RcodeSuccess, "192.0.2.99", ""},
		{"ip AAAA", Sinkhole{Action: ActionIP, IPv4: v4, IPv6: v6}, "chat.deepseek.com.", dns.TypeAAAA, dns.RcodeSuccess, "2001:db8::99", ""},
		{"ip without IPv6 answers AAAA NODATA", Sinkhole{Action: ActionIP, IPv4: v4}, "chat.deepseek.com.", dns.TypeAAAA, dns.RcodeSuccess, "", "deepseek.com."},
		{"ip TXT is NODATA", Sinkhole{Action: ActionIP, IPv4: v4}, "chat.deepseek.com.", dns.TypeTXT, dns.RcodeSuccess, "", "deepseek.com."},
		{"refused", Sinkhole{Action: ActionRefused}, "chat.deepseek.com.", dns.TypeA, dns.RcodeRefused, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sink.TTL = 300 * time.Second
			p, next, _ := newPolicy(t, tt.sink)
			req := newRequest(tt.qname, tt.qtype, false)
			resp, err := p.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if next.calls.Load() != 0 {
				t.Error("a blocked query reached the next handler")
			}
			if req.Outcome != chain.OutcomeBlocked {
				t.Errorf("outcome = %v, want blocked", req.Outcome)
			}
			if resp.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			checkAddress(t, resp, tt.qname, tt.wantAddr)
			checkSOA(t, resp, tt.wantSOA, 300)
		})
	}
}

func checkAddress(t *testing.T, resp *dns.Msg, qname, want string) {
	t.Helper()
	if want == "" {
		if len(resp.Answer) != 0 {
			t.Errorf("answer = %v, want none", resp.Answer)
		}
		return
	}
	if len(resp.Answer) != 1 {
		t.Fatalf("answer = %v, want one address", resp.Answer)
	}
	var got string
	switch rr := resp.Answer[0].(type) {
	case *dns.A:
		got = rr.A.String()
	case *dns.AAAA:
		got = rr.AAAA.String()
	}
	if got != want || resp.Answer[0].Header().Name != qname || resp.Answer[0].Header().Ttl != 300 {
		t.Errorf("answer = %v, want %s %s with TTL 300", resp.Answer[0], qname, want)
	}
}

func checkSOA(t *testing.T, resp *dns.Msg, wantOwner string, wantTTL uint32) {
	t.Helper()
	if wantOwner == "" {
		if len(resp.Ns) != 0 {
			t.Errorf("authority = %v, want empty", resp.Ns)
		}
		return
	}
	if len(resp.Ns) != 1 {
		t.Fatalf("authority = %v, want exactly one SOA", resp.Ns)
	}
	soa, ok := resp.Ns[0].(*dns.SOA)
	if !ok {
		t.Fatalf("authority = %v, want an SOA", resp.Ns[0])
	}
	if soa.Hdr.Name != wantOwner || soa.Hdr.Ttl != wantTTL || soa.Minttl != wantTTL {
		t.Errorf("SOA = %v, want owner %s with TTL and MINIMUM %d (RFC 2308)", soa, wantOwner, wantTTL)
	}
}

func TestAllowedNamesGoToNext(t *testing.T) {
	p, next, hits := newPolicy(t, Sinkhole{Action: ActionNXDomain, TTL: time.Minute})
	for _, name := range []string{
		"example.org.", "notdeepseek.com.", "deepseek.com.example.org.", "deepseek.co.",
		"volces.com.", "other.volces.com.", "x.apmplus.ap-southeast-1.volces.com.",
	} {
		req := newRequest(name, dns.TypeA, true)
		resp, err := p.ServeDNS(context.Background(), req)
		if err != nil || len(resp.Answer) != 1 {
			t.Errorf("%s: resp %v err %v, want the next handler's answer", name, resp, err)
		}
	}
	if got := next.calls.Load(); got != 7 {
		t.Errorf("next called %d times, want 7", got)
	}
	if len(hits.events) != 0 {
		t.Errorf("hit log got %d events for allowed names", len(hits.events))
	}
}

func TestExtendedDNSError(t *testing.T) {
	p, _, _ := newPolicy(t, Sinkhole{Action: ActionNXDomain, TTL: time.Minute})
	for _, edns := range []bool{true, false} {
		resp, _ := p.ServeDNS(context.Background(), newRequest("chat.deepseek.com.", dns.TypeA, edns))
		var ede *dns.EDNS0_EDE
		for _, rr := range resp.Extra {
			if opt, ok := rr.(*dns.OPT); ok {
				for _, o := range opt.Option {
					ede, _ = o.(*dns.EDNS0_EDE)
				}
			}
		}
		if !edns {
			if ede != nil {
				t.Errorf("EDE %v sent for a query without EDNS", ede)
			}
			continue
		}
		if ede == nil || ede.InfoCode != dns.ExtendedErrorCodeBlocked || !strings.Contains(ede.ExtraText, "test.txt") {
			t.Errorf("EDE = %v, want code 15 naming the list", ede)
		}
	}
}

func TestHitEvent(t *testing.T) {
	p, _, hits := newPolicy(t, Sinkhole{Action: ActionNXDomain, TTL: time.Minute})
	req := newRequest("ChAt.DeepSeek.com.", dns.TypeHTTPS, true)
	req.ID = 777
	if _, err := p.ServeDNS(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(hits.events) != 1 {
		t.Fatalf("got %d events, want 1", len(hits.events))
	}
	want := hitlog.Event{
		Time: time.Unix(1795000000, 0), Client: req.Client, Transport: "udp", QueryID: 777,
		Name: "chat.deepseek.com.", Type: "HTTPS", Class: "IN", Rule: "deepseek.com", Source: "test.txt",
		Line: 1, Action: "nxdomain", Rcode: "NXDOMAIN", Kind: hitlog.KindBlock,
		ListLoaded: time.Unix(1795000000, 0), // when New put the lists in force
	}
	if got := hits.events[0]; got != want {
		t.Errorf("event = %+v\nwant    %+v", got, want)
	}

	// The time the server read the query wins over the policy's clock.
	req = newRequest("chat.deepseek.com.", dns.TypeA, true)
	req.Received = time.Unix(1795000123, 0)
	if _, err := p.ServeDNS(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if got := hits.events[len(hits.events)-1].Time; !got.Equal(req.Received) {
		t.Errorf("event time %v, want the query's receive time %v", got, req.Received)
	}
}

func TestSetTrieSwapsPolicy(t *testing.T) {
	reg := prometheus.NewRegistry()
	next := &countingNext{}
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Registerer: reg}, testTrie(t, testList), nil, next)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(name string) *dns.Msg {
		resp, err := p.ServeDNS(context.Background(), newRequest(name, dns.TypeA, false))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first := ask("chat.deepseek.com.").Ns[0].(*dns.SOA).Serial
	if resp := ask("kimi.com."); resp.Rcode != dns.RcodeSuccess {
		t.Fatalf("kimi.com before reload: %s", dns.RcodeToString[resp.Rcode])
	}
	p.SetLists(testTrie(t, "kimi.com\n"), nil)
	resp := ask("kimi.com.")
	if resp.Rcode != dns.RcodeNameError {
		t.Errorf("kimi.com after reload: %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
	if serial := resp.Ns[0].(*dns.SOA).Serial; serial <= first {
		t.Errorf("SOA serial %d after reload, want above %d", serial, first)
	}
	if resp := ask("chat.deepseek.com."); resp.Rcode != dns.RcodeSuccess {
		t.Errorf("deepseek after reload without it: %s, want forwarded", dns.RcodeToString[resp.Rcode])
	}
	if got := testutil.ToFloat64(p.blocks.WithLabelValues("test.txt")); got != 2 {
		t.Errorf("dijk_blocks_total{list=test.txt} = %v, want 2", got)
	}
}

func TestSinkholeValidation(t *testing.T) {
	tests := []struct {
		name string
		sink Sinkhole
	}{
		{"ttl below a second", Sinkhole{TTL: time.Millisecond}},
		{"ip without addresses", Sinkhole{Action: ActionIP, TTL: time.Minute}},
		{"IPv6 given as IPv4", Sinkhole{Action: ActionIP, TTL: time.Minute, IPv4: netip.MustParseAddr("2001:db8::1")}},
		{"IPv4 given as IPv6", Sinkhole{Action: ActionIP, TTL: time.Minute, IPv6: netip.MustParseAddr("192.0.2.1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(Options{Sinkhole: tt.sink}, testTrie(t, testList), nil, &countingNext{}); err == nil {
				t.Error("want an error")
			}
		})
	}
	for _, name := range []string{"nxdomain", "null", "ip", "refused"} {
		a, err := ParseAction(name)
		if err != nil || a.String() != name {
			t.Errorf("ParseAction(%q) = %v, %v", name, a, err)
		}
	}
	if _, err := ParseAction("drop"); err == nil {
		t.Error("ParseAction(drop): want an error")
	}
}

func BenchmarkBlockedQuery(b *testing.B) { benchBlocked(b, Sinkhole{TTL: time.Minute}) }

// BenchmarkBlockedQueryNull answers with an address, as Pi-hole's default
// and the information-page mode do.
func BenchmarkBlockedQueryNull(b *testing.B) {
	benchBlocked(b, Sinkhole{Action: ActionNull, TTL: time.Minute})
}

func benchBlocked(b *testing.B, sink Sinkhole) {
	p, err := New(Options{Sinkhole: sink, Hits: &discardHits{}}, testTrie(b, testList), nil, &countingNext{})
	if err != nil {
		b.Fatal(err)
	}
	req := newRequest("chat.deepseek.com.", dns.TypeA, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ServeDNS(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockedQueryManyRules blocks names under twice as many distinct
// rules as the policy keeps shared answer parts for (partsSlots), in turn,
// as a flood across a large list does: nearly every answer builds its own
// SOA and EDE.
func BenchmarkBlockedQueryManyRules(b *testing.B) {
	const rules = 2 * partsSlots
	var list strings.Builder
	names := make([]string, rules)
	for i := range rules {
		fmt.Fprintf(&list, "r%d.example\n", i)
		names[i] = fmt.Sprintf("www.r%d.example.", i)
	}
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Hits: &discardHits{}}, testTrie(b, list.String()), nil, &countingNext{})
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*chain.Request, rules)
	for i, n := range names {
		reqs[i] = newRequest(n, dns.TypeA, true)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := p.ServeDNS(ctx, reqs[i%rules]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBlockedQueryAfterFlood blocks one name again and again after
// names under four times as many distinct rules as the policy keeps shared
// answer parts for were blocked once each since the lists loaded, as a
// long-running resolver's are.
func BenchmarkBlockedQueryAfterFlood(b *testing.B) {
	const rules = 4 * partsSlots
	var list strings.Builder
	for i := range rules + 1 {
		fmt.Fprintf(&list, "r%d.example\n", i)
	}
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Hits: &discardHits{}}, testTrie(b, list.String()), nil, &countingNext{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range rules {
		if _, err := p.ServeDNS(ctx, newRequest(fmt.Sprintf("www.r%d.example.", i), dns.TypeA, true)); err != nil {
			b.Fatal(err)
		}
	}
	req := newRequest(fmt.Sprintf("www.r%d.example.", rules), dns.TypeA, true)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ServeDNS(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// mallocsPer returns the mean number of heap allocations of f(0) ..
// f(runs-1). testing.AllocsPerRun rounds its mean down to an integer, which
// would hide one extra allocation in every eighth call.
func mallocsPer(runs int, f func(i int)) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range runs {
		f(i)
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(runs)
}

// partsFor is what a blocked answer does to get its parts.
func partsFor(a *active, rule blocklist.Rule, ttl uint32) *blockParts {
	p, place := a.parts.lookup(rule, ttl)
	if p == nil {
		p = new(blockParts).fill(rule, ttl, a.serial)
		if place.claim() {
			place.store(p)
		}
	}
	return p
}

type discardHits struct{}

func (discardHits) Log(hitlog.Event) {}

func TestDoHBypassListHitsAreBypassEvents(t *testing.T) {
	entries, _, err := blocklist.Parse(bypassList, strings.NewReader("dns.google\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := blocklist.NewBuilder()
	for _, e := range entries {
		b.Add(bypassList, e)
	}
	hits := &recorder{}
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Hits: hits}, b.Build(), nil, &countingNext{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ServeDNS(context.Background(), newRequest("dns.google.", dns.TypeHTTPS, false)); err != nil {
		t.Fatal(err)
	}
	if len(hits.events) != 1 || hits.events[0].Kind != hitlog.KindBypass {
		t.Errorf("events = %+v, want one bypass event", hits.events)
	}
}

// aliasNext answers like an upstream whose answer is a CNAME chain.
func aliasNext(records ...string) chain.Handler {
	return chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		m := new(dns.Msg)
		for _, s := range records {
			rr, err := dns.NewRR(s)
			if err != nil {
				return nil, err
			}
			m.Answer = append(m.Answer, rr)
		}
		return m, nil
	})
}

func TestCNAMECloaking(t *testing.T) {
	tests := []struct {
		name       string
		answer     []string
		wantBlock  bool
		wantChain  int // CNAME records kept in the NXDOMAIN answer
		wantRuleAt string
		wantVia    string
	}{
		{"alias to a blocked name", []string{
			"innocent.example.org. 60 IN CNAME chat.deepseek.com.",
			"chat.deepseek.com. 60 IN A 192.0.2.1",
		}, true, 1, "deepseek.com", "chat.deepseek.com"},
		{"blocked name deep in the chain", []string{
			"innocent.example.org. 60 IN CNAME hop.example.net.",
			"hop.example.net. 60 IN CNAME api.deepseek.com.",
			"api.deepseek.com. 60 IN A 192.0.2.1",
		}, true, 2, "deepseek.com", "api.deepseek.com"},
		{"DNAME into a blocked zone", []string{
			"example.org. 60 IN DNAME deepseek.com.",
			"innocent.example.org. 60 IN CNAME innocent.deepseek.com.",
		}, true, 1, "deepseek.com", "deepseek.com"},
		{"exact host via alias", []string{
			"t.example.org. 60 IN CNAME apmplus.ap-southeast-1.volces.com.",
		}, true, 1, "apmplus.ap-southeast-1.volces.com", "apmplus.ap-southeast-1.volces.com"},
		{"allowed chain", []string{
			"innocent.example.org. 60 IN CNAME cdn.example.net.",
			"cdn.example.net. 60 IN A 192.0.2.1",
		}, false, 0, "", ""},
		{"lookalike target", []string{
			"innocent.example.org. 60 IN CNAME notdeepseek.com.",
		}, false, 0, "", ""},
		{"sibling of an exact host", []string{
			"t.example.org. 60 IN CNAME other.volces.com.",
		}, false, 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := &recorder{}
			p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Hits: hits}, testTrie(t, testList), nil, aliasNext(tt.answer...))
			if err != nil {
				t.Fatal(err)
			}
			req := newRequest("innocent.example.org.", dns.TypeA, false)
			resp, err := p.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantBlock {
				if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != len(tt.answer) || len(hits.events) != 0 {
					t.Errorf("allowed chain changed: %v, %d events", resp, len(hits.events))
				}
				return
			}
			if resp.Rcode != dns.RcodeNameError || req.Outcome != chain.OutcomeBlocked {
				t.Fatalf("rcode %s outcome %v, want NXDOMAIN blocked", dns.RcodeToString[resp.Rcode], req.Outcome)
			}
			if len(resp.Answer) != tt.wantChain {
				t.Errorf("answer %v, want the %d aliases leading to the blocked name", resp.Answer, tt.wantChain)
			}
			for _, rr := range resp.Answer {
				if _, ok := rr.(*dns.A); ok {
					t.Errorf("blocked answer leaks an address: %v", rr)
				}
			}
			if len(hits.events) != 1 || hits.events[0].Rule != tt.wantRuleAt || hits.events[0].Name != "innocent.example.org." || hits.events[0].Via != tt.wantVia {
				t.Errorf("events %+v, want one hit for the query name via rule %s, naming the alias", hits.events, tt.wantRuleAt)
			}
		})
	}
}

func TestAllowlist(t *testing.T) {
	block := testTrie(t, "deepseek.com\nexact:chat.deepseek.com\nx.status.deepseek.com\n")
	allow := testTrie(t, "status.deepseek.com\nexact:www.deepseek.com\n")
	tests := []struct {
		name      string
		qname     string
		wantRcode int
		forwarded bool
	}{
		{"allowed child passes", "status.deepseek.com.", 0, true},
		{"below the allowed child passes", "eu.status.deepseek.com.", 0, true},
		{"a more specific block beats the allow", "x.status.deepseek.com.", dns.RcodeNameError, false},
		{"exact allow passes", "www.deepseek.com.", 0, true},
		{"below an exact allow stays blocked", "a.www.deepseek.com.", dns.RcodeNameError, false},
		{"exact block without an allow stays blocked", "chat.deepseek.com.", dns.RcodeNameError, false},
		{"parent of an allowed child is NODATA (RFC 8020)", "deepseek.com.", dns.RcodeSuccess, false},
		{"sibling stays NXDOMAIN", "api.deepseek.com.", dns.RcodeNameError, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &countingNext{}
			p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}}, block, allow, next)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.ServeDNS(context.Background(), newRequest(tt.qname, dns.TypeA, false))
			if err != nil {
				t.Fatal(err)
			}
			if got := next.calls.Load() == 1; got != tt.forwarded {
				t.Fatalf("forwarded = %v, want %v", got, tt.forwarded)
			}
			if tt.forwarded {
				return
			}
			if resp.Rcode != tt.wantRcode || len(resp.Answer) != 0 || len(resp.Ns) != 1 {
				t.Errorf("rcode %s answer %v ns %v, want %s with an SOA and no answer",
					dns.RcodeToString[resp.Rcode], resp.Answer, resp.Ns, dns.RcodeToString[tt.wantRcode])
			}
		})
	}
}

func TestAllowAtTheSameNameWins(t *testing.T) {
	next := &countingNext{}
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}}, testTrie(t, "deepseek.com\n"), testTrie(t, "deepseek.com\n"), next)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"deepseek.com.", "chat.deepseek.com."} {
		if _, err := p.ServeDNS(context.Background(), newRequest(name, dns.TypeA, false)); err != nil {
			t.Fatal(err)
		}
	}
	if next.calls.Load() != 2 {
		t.Errorf("forwarded %d of 2 queries, want both: an allow at the same name wins", next.calls.Load())
	}
}

func TestBlockIPs(t *testing.T) {
	rules := []IPRule{
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Source: "policy.block_ips"},
		{Prefix: netip.MustParsePrefix("2001:db8:bad::/48"), Source: "/etc/dijk/bad-ips.txt", Line: 3},
	}
	tests := []struct {
		name    string
		answer  []string
		blocked bool
		via     string
	}{
		{"A in range", []string{"x.example.org. 60 IN A 203.0.113.9"}, true, "203.0.113.9"},
		{"AAAA in range", []string{"x.example.org. 60 IN AAAA 2001:db8:bad::1"}, true, "2001:db8:bad::1"},
		{"second A in range", []string{"x.example.org. 60 IN A 192.0.2.1", "x.example.org. 60 IN A 203.0.113.200"}, true, "203.0.113.200"},
		{"HTTPS ipv4hint in range", []string{"x.example.org. 60 IN HTTPS 1 . alpn=h2 ipv4hint=192.0.2.1,203.0.113.7"}, true, "203.0.113.7"},
		{"SVCB ipv6hint in range", []string{"x.example.org. 60 IN SVCB 1 svc.example.org. ipv6hint=2001:db8:bad::5"}, true, "2001:db8:bad::5"},
		{"A outside", []string{"x.example.org. 60 IN A 192.0.2.1"}, false, ""},
		{"hint outside", []string{"x.example.org. 60 IN HTTPS 1 . ipv4hint=192.0.2.1"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits := &recorder{}
			p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}, Hits: hits, BlockIPs: rules}, testTrie(t, testList), nil, aliasNext(tt.answer...))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := p.ServeDNS(context.Background(), newRequest("x.example.org.", dns.TypeA, false))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Rcode == dns.RcodeNameError; got != tt.blocked {
				t.Fatalf("blocked = %v (%v), want %v", got, resp, tt.blocked)
			}
			if tt.blocked && (len(resp.Answer) != 0 || len(hits.events) != 1 || hits.events[0].Via != tt.via) {
				t.Errorf("answer %v events %+v, want no address and one hit via %s", resp.Answer, hits.events, tt.via)
			}
		})
	}
}

func TestRPZActions(t *testing.T) {
	entries, warnings, err := blocklist.ParseFormat("zone.rpz", strings.NewReader(`$ORIGIN rpz.test.
@ SOA localhost. root.localhost. 1 3600 600 86400 60
@ NS localhost.
nx.example CNAME .
nodata.example CNAME *.
`), blocklist.FormatRPZ)
	if err != nil || len(warnings) > 0 {
		t.Fatal(err, warnings)
	}
	b := blocklist.NewBuilder()
	for _, e := range entries {
		b.Add("zone.rpz", e)
	}
	hits := &recorder{}
	p, err := New(Options{Sinkhole: Sinkhole{Action: ActionNull, TTL: time.Minute}, Hits: hits}, b.Build(), nil, &countingNext{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		qname      string
		wantRcode  int
		wantAction string
	}{
		{"nx.example.", dns.RcodeNameError, "nxdomain"},
		{"nodata.example.", dns.RcodeSuccess, "nodata"},
	}
	for i, tt := range tests {
		resp, err := p.ServeDNS(context.Background(), newRequest(tt.qname, dns.TypeA, false))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != tt.wantRcode || len(resp.Answer) != 0 || len(resp.Ns) != 1 {
			t.Errorf("%s: %v, want %s with no address despite the null sinkhole", tt.qname, resp, dns.RcodeToString[tt.wantRcode])
		}
		if got := hits.events[i].Action; got != tt.wantAction {
			t.Errorf("%s: hit action %q, want %q", tt.qname, got, tt.wantAction)
		}
	}
}

func TestGroups(t *testing.T) {
	hits := &recorder{}
	next := &countingNext{}
	p, err := New(Options{Sinkhole: Sinkhole{Action: ActionNXDomain, TTL: time.Minute}, Hits: hits}, testTrie(t, "deepseek.com\n"), nil, next)
	if err != nil {
		t.Fatal(err)
	}
	empty := blocklist.NewBuilder().Build()
	err = p.Set(testTrie(t, "deepseek.com\n"), nil, []Group{
		{Name: "ministry", Clients: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
			Block: testTrie(t, "deepseek.com\nkimi.com\n"), Sinkhole: Sinkhole{Action: ActionNull, TTL: time.Minute}},
		{Name: "it-lab", Clients: []netip.Prefix{netip.MustParsePrefix("10.1.5.0/24"), netip.MustParsePrefix("192.0.2.99/32")},
			Block: empty, Sinkhole: Sinkhole{Action: ActionNXDomain, TTL: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		client    string
		qname     string
		wantGroup string
		blocked   bool
		wantAddr  bool // null sinkhole answers 0.0.0.0
	}{
		{"default group blocks deepseek", "192.0.2.1:1", "chat.deepseek.com.", "", true, false},
		{"default group allows kimi", "192.0.2.1:1", "kimi.com.", "", false, false},
		{"ministry blocks kimi with its own sinkhole", "10.1.2.3:1", "kimi.com.", "ministry", true, true},
		{"most specific network wins: it-lab is exempt", "10.1.5.9:1", "chat.deepseek.com.", "it-lab", false, false},
		{"single address in a group", "192.0.2.99:1", "chat.deepseek.com.", "it-lab", false, false},
		{"IPv4-mapped client", "[::ffff:10.1.2.3]:1", "kimi.com.", "ministry", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(hits.events)
			req := newRequest(tt.qname, dns.TypeA, false)
			req.Client = netip.MustParseAddrPort(tt.client)
			resp, err := p.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := req.Outcome == chain.OutcomeBlocked; got != tt.blocked {
				t.Fatalf("blocked = %v, want %v", got, tt.blocked)
			}
			if !tt.blocked {
				return
			}
			if got := len(resp.Answer) == 1; got != tt.wantAddr {
				t.Errorf("answer %v, want an address: %v", resp.Answer, tt.wantAddr)
			}
			if len(hits.events) != before+1 || hits.events[before].Group != tt.wantGroup {
				t.Errorf("hit event group = %+v, want %q", hits.events[before:], tt.wantGroup)
			}
		})
	}
	if err := p.Set(testTrie(t, "x.example\n"), nil, []Group{{Name: "bad", Block: empty, Sinkhole: Sinkhole{Action: ActionIP, TTL: time.Minute}}}); err == nil {
		t.Error("a group sinkhole ip without an address: want an error")
	}
}

// TestBlockedAnswersShareRecordsPerPolicy checks that the SOA and EDE of a
// rule are built once per policy and shared, and that a reload, which
// brings a new serial, brings new records.
func TestBlockedAnswersShareRecordsPerPolicy(t *testing.T) {
	p, err := New(Options{Sinkhole: Sinkhole{TTL: time.Minute}}, testTrie(t, testList), nil, &countingNext{})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(name string) *dns.Msg {
		resp, err := p.ServeDNS(context.Background(), newRequest(name, dns.TypeA, true))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := ask("chat.deepseek.com."), ask("api.deepseek.com.")
	if a == b || a.Ns[0] != b.Ns[0] || a.Extra[0] != b.Extra[0] {
		t.Errorf("two blocks by one rule: messages shared %v, SOA shared %v, OPT shared %v; want new messages, shared records",
			a == b, a.Ns[0] == b.Ns[0], a.Extra[0] == b.Extra[0])
	}
	if cap(a.Ns) != len(a.Ns) || cap(a.Extra) != len(a.Extra) {
		t.Error("shared sections must have their capacity capped")
	}
	p.SetLists(testTrie(t, testList), nil)
	c := ask("chat.deepseek.com.")
	if c.Ns[0] == a.Ns[0] {
		t.Fatal("the reloaded policy reuses the old policy's SOA")
	}
	if old, cur := a.Ns[0].(*dns.SOA).Serial, c.Ns[0].(*dns.SOA).Serial; cur <= old {
		t.Errorf("SOA serial %d after reload, want above %d", cur, old)
	}
}

// TestPartsForOneNameManyListsAndTTLs: one name blocked by two lists, or
// answered under two TTLs, gets a set of shared parts for each, and each
// set names its own list and TTL.
func TestPartsForOneNameManyListsAndTTLs(t *testing.T) {
	a := &active{serial: 7, parts: newPartsTable()}
	rule := func(source string) blocklist.Rule { return blocklist.Rule{Name: "deepseek.com", Source: source} }
	tests := []struct {
		name   string
		source string
		ttl    uint32
	}{
		{"first", "a.txt", 300},
		{"another list", "b.txt", 300},
		{"another TTL", "a.txt", 60},
		{"both other", "b.txt", 60},
	}
	got := map[string]*blockParts{}
	for _, tt := range tests {
		p := partsFor(a, rule(tt.source), tt.ttl)
		soa := p.ns[0].(*dns.SOA)
		ede := p.extra[0].(*dns.OPT).Option[0].(*dns.EDNS0_EDE)
		if soa.Hdr.Ttl != tt.ttl || soa.Minttl != tt.ttl || soa.Hdr.Name != "deepseek.com." {
			t.Errorf("%s: SOA %v, want owner deepseek.com. and TTL %d", tt.name, soa, tt.ttl)
		}
		if want := "blocked: list=" + tt.source + " rule=deepseek.com"; ede.ExtraText != want {
			t.Errorf("%s: EDE text %q, want %q", tt.name, ede.ExtraText, want)
		}
		got[tt.name] = p
	}
	for _, tt := range tests {
		if again := partsFor(a, rule(tt.source), tt.ttl); again != got[tt.name] {
			t.Errorf("%s: asked again, got a new set instead of the shared one", tt.name)
		}
	}
}

// TestBlockPartsText: the EDE text and the SOA owner share one string, in
// the set's own room or, when longer, on the heap.
func TestBlockPartsText(t *testing.T) {
	long := "https://lists.example.org/" + strings.Repeat("very-long-path/", 12) + "deepseek.txt"
	// fills is a name whose text with list "s", and the owner's dot, fill
	// the room to the last octet.
	fills := strings.Repeat("abcdefgh.", 20)[:partsTextLen-len(edeTextList+"s"+edeTextRule)-1]
	if strings.HasSuffix(fills, ".") {
		t.Fatalf("fills %q ends in a dot: the test's name is wrong", fills)
	}
	tests := []struct {
		name, rule, source string
		wantOwner          string
		wantInRoom         bool
	}{
		{"short", "deepseek.com", "builtin:deepseek", "deepseek.com.", true},
		{"longer than the room", "chat.deepseek.com", long, "chat.deepseek.com.", false},
		{"room exactly full", fills, "s", fills + ".", true},
		{"one over the room", fills + "b", "s", fills + "b.", false},
		{"name already absolute", "deepseek.com.", "rpz", "deepseek.com.", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := new(blockParts).fill(blocklist.Rule{Name: tt.rule, Source: tt.source}, 60, 1)
			if want := "blocked: list=" + tt.source + " rule=" + tt.rule; p.ede.ExtraText != want {
				t.Errorf("EDE text %q, want %q", p.ede.ExtraText, want)
			}
			if p.soa.Hdr.Name != tt.wantOwner {
				t.Errorf("SOA owner %q, want %q", p.soa.Hdr.Name, tt.wantOwner)
			}
			if inRoom := unsafe.StringData(p.ede.ExtraText) == &p.text[0]; inRoom != tt.wantInRoom {
				t.Errorf("text in the set's room = %v, want %v", inRoom, tt.wantInRoom)
			}
			if _, err := (&dns.Msg{Ns: p.ns, Extra: p.extra}).Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}

// TestBlockedAnswerAllocations: a blocked answer is one allocation in the
// policy, whatever the sinkhole, and also for a rule whose parts are not
// shared, as in a flood across a list: the server's copy of the name makes
// two end to end, the budget.
func TestBlockedAnswerAllocations(t *testing.T) {
	const rules = 4 * partsSlots
	var list strings.Builder
	for i := range rules {
		fmt.Fprintf(&list, "r%d.example\n", i)
	}
	trie := testTrie(t, list.String())
	v4, v6 := netip.MustParseAddr("192.0.2.99"), netip.MustParseAddr("2001:db8::99")
	tests := []struct {
		name  string
		sink  Sinkhole
		qtype uint16
	}{
		{"nxdomain", Sinkhole{Action: ActionNXDomain}, dns.TypeA},
		{"null A", Sinkhole{Action: ActionNull}, dns.TypeA},
		{"null MX NODATA", Sinkhole{Action: ActionNull}, dns.TypeMX},
		{"ip AAAA", Sinkhole{Action: ActionIP, IPv4: v4, IPv6: v6}, dns.TypeAAAA},
		{"refused", Sinkhole{Action: ActionRefused}, dns.TypeA},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sink.TTL = time.Minute
			p, err := New(Options{Sinkhole: tt.sink, Hits: discardHits{}}, trie, nil, &countingNext{})
			if err != nil {
				t.Fatal(err)
			}
			reqs := make([]*chain.Request, rules)
			for i := range reqs {
				reqs[i] = newRequest(fmt.Sprintf("www.r%d.example.", i), tt.qtype, true)
				if _, err := p.ServeDNS(ctx, reqs[i]); err != nil { // fills every pair of slots
					t.Fatal(err)
				}
			}
			// A rule hit again and again gets a slot within a few
			// answers, and from then on shares its parts.
			for range 100 {
				if _, err := p.ServeDNS(ctx, reqs[0]); err != nil {
					t.Fatal(err)
				}
			}
			if shared := mallocsPer(100, func(int) {
				if _, err := p.ServeDNS(ctx, reqs[0]); err != nil {
					t.Fatal(err)
				}
			}); shared != 1 {
				t.Errorf("a blocked answer with shared parts allocates %v times, want 1", shared)
			}
			// Rules across the flooded list: most hold no slot and build
			// their parts inside the answer; one in partsReplaceOneIn of
			// those takes a slot, in a second allocation. The mean was
			// 1.04-1.05, and 1.25 is many standard deviations of a
			// 1000-answer mean away; building parts apart from the
			// answer, as before, made it 2 or more.
			if flood := mallocsPer(1000, func(i int) {
				if _, err := p.ServeDNS(ctx, reqs[i]); err != nil {
					t.Fatal(err)
				}
			}); flood > 1.25 {
				t.Errorf("blocked answers across a flooded list allocate %.3f times each, want about 1.05", flood)
			}
		})
	}
}

// TestPartsForAfterAFlood: however many rules were hit since the lists
// loaded, a rule hit again and again gets a shared set, and every set names
// the rule, list and TTL it was asked for even when slots are reused.
func TestPartsForAfterAFlood(t *testing.T) {
	a := &active{serial: 7, parts: newPartsTable()}
	rule := func(i int) blocklist.Rule {
		return blocklist.Rule{Name: fmt.Sprintf("r%d.example", i), Source: fmt.Sprintf("list%d.txt", i%3)}
	}
	check := func(i int, p *blockParts) {
		t.Helper()
		r := rule(i)
		soa := p.ns[0].(*dns.SOA)
		ede := p.extra[0].(*dns.OPT).Option[0].(*dns.EDNS0_EDE)
		if soa.Hdr.Name != r.Name+"." || soa.Hdr.Ttl != 60 || ede.ExtraText != "blocked: list="+r.Source+" rule="+r.Name {
			t.Fatalf("rule %d: got SOA %v, EDE %q", i, soa, ede.ExtraText)
		}
	}
	for i := range 4 * partsSlots {
		check(i, partsFor(a, rule(i), 60))
	}
	const hot = 4*partsSlots + 1 // a rule first hit after the flood
	prev := partsFor(a, rule(hot), 60)
	for range 1000 {
		p := partsFor(a, rule(hot), 60)
		check(hot, p)
		if p == prev {
			return
		}
		prev = p
	}
	t.Error("a rule first hit after a flood, asked for 1000 times, never got a shared set")
}
