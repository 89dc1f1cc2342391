package upstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

func TestForward(t *testing.T) {
	bigTXT := make([]dns.RR, 0, 12)
	for i := range 12 {
		bigTXT = append(bigTXT, rr("big.example. 60 IN TXT \""+strings.Repeat(string(rune('a'+i)), 250)+"\""))
	}
	dnssec := []dns.RR{
		rr("signed.example. 60 IN A 192.0.2.20"),
		rr("signed.example. 60 IN RRSIG A 13 2 60 20261201000000 20261101000000 12345 example. c2lnbmF0dXJl"),
	}
	unknown := rr("odd.example. 60 IN TYPE65534 \\# 3 abcdef")

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		handler dns.HandlerFunc
		check   func(t *testing.T, m *dns.Msg, fake *fakeUpstream)
	}{
		{
			name:    "A record",
			qname:   "www.example.",
			qtype:   dns.TypeA,
			handler: answerA("192.0.2.10"),
			check: func(t *testing.T, m *dns.Msg, fake *fakeUpstream) {
				if got := firstA(m); got != "192.0.2.10" {
					t.Errorf("A = %q, want 192.0.2.10", got)
				}
				if fake.tcp.Load() != 0 {
					t.Errorf("fake saw %d TCP queries, want 0", fake.tcp.Load())
				}
			},
		},
		{
			name:  "truncated UDP answer retried over TCP",
			qname: "big.example.",
			qtype: dns.TypeTXT,
			handler: func(w dns.ResponseWriter, r *dns.Msg) {
				if w.RemoteAddr().Network() == "udp" {
					m := new(dns.Msg).SetReply(r)
					m.Truncated = true
					_ = w.WriteMsg(m)
					return
				}
				reply(w, r, dns.RcodeSuccess, bigTXT...)
			},
			check: func(t *testing.T, m *dns.Msg, fake *fakeUpstream) {
				if fake.udp.Load() != 1 || fake.tcp.Load() != 1 {
					t.Errorf("fake saw udp=%d tcp=%d queries, want 1 and 1", fake.udp.Load(), fake.tcp.Load())
				}
				if m.Truncated || len(m.Answer) != len(bigTXT) {
					t.Fatalf("answer TC=%v with %d records, want the full %d", m.Truncated, len(m.Answer), len(bigTXT))
				}
				if n := m.Len(); n < 3000 {
					t.Errorf("answer is %d bytes, want the full 3 kB", n)
				}
			},
		},
		{
			name:  "DNSSEC records kept",
			qname: "signed.example.",
			qtype: dns.TypeA,
			handler: func(w dns.ResponseWriter, r *dns.Msg) {
				m := new(dns.Msg).SetReply(r)
				m.Answer = dnssec
				m.Ns = []dns.RR{rr("example. 60 IN NSEC a.example. A RRSIG NSEC")}
				_ = w.WriteMsg(m)
			},
			check: func(t *testing.T, m *dns.Msg, _ *fakeUpstream) {
				if len(m.Answer) != 2 || m.Answer[1].String() != dnssec[1].String() {
					t.Errorf("answer = %v, want %v", m.Answer, dnssec)
				}
				if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeNSEC {
					t.Errorf("authority = %v, want the NSEC", m.Ns)
				}
			},
		},
		{
			name:    "unknown type relayed",
			qname:   "odd.example.",
			qtype:   65534,
			handler: func(w dns.ResponseWriter, r *dns.Msg) { reply(w, r, dns.RcodeSuccess, unknown) },
			check: func(t *testing.T, m *dns.Msg, _ *fakeUpstream) {
				if len(m.Answer) != 1 || m.Answer[0].String() != unknown.String() {
					t.Errorf("answer = %v, want %v", m.Answer, unknown)
				}
			},
		},
		{
			name:  "OPT removed, Extended DNS Errors kept",
			qname: "ede.example.",
			qtype: dns.TypeA,
			handler: func(w dns.ResponseWriter, r *dns.Msg) {
				m := new(dns.Msg).SetReply(r)
				m.Extra = []dns.RR{
					rr("ns.example. 60 IN A 192.0.2.53"),
					&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 4096}, Option: []dns.EDNS0{
						&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e73"},
						&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer, ExtraText: "stale"},
						&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
					}},
				}
				_ = w.WriteMsg(m)
			},
			check: func(t *testing.T, m *dns.Msg, _ *fakeUpstream) {
				if len(m.Extra) != 2 || m.Extra[0].Header().Rrtype != dns.TypeA {
					t.Fatalf("extra = %v, want the glue A and one OPT", m.Extra)
				}
				opt, ok := m.Extra[1].(*dns.OPT)
				if !ok || len(opt.Option) != 1 {
					t.Fatalf("extra[1] = %v, want an OPT with only the EDE", m.Extra[1])
				}
				ede, ok := opt.Option[0].(*dns.EDNS0_EDE)
				if !ok || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer || ede.ExtraText != "stale" {
					t.Errorf("option = %v, want EDE 3 \"stale\"", opt.Option[0])
				}
			},
		},
		{
			name:  "OPT without EDE removed",
			qname: "nsid.example.",
			qtype: dns.TypeA,
			handler: func(w dns.ResponseWriter, r *dns.Msg) {
				m := new(dns.Msg).SetReply(r)
				m.Answer = []dns.RR{rr("nsid.example. 60 IN A 192.0.2.1")}
				m.SetEdns0(1232, true)
				opt := m.IsEdns0()
				opt.Option = append(opt.Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e73"})
				_ = w.WriteMsg(m)
			},
			check: func(t *testing.T, m *dns.Msg, _ *fakeUpstream) {
				if len(m.Extra) != 0 {
					t.Errorf("extra = %v, want nothing", m.Extra)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t, "127.0.0.1", true, tt.handler)
			f := newTestForwarder(t, 2*time.Second, fake.addr)
			req := newRequest(tt.qname, tt.qtype)
			m, err := serve(t, f.Forwarder, req)
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if req.Outcome != chain.OutcomeForwarded {
				t.Errorf("Outcome = %v, want forwarded", req.Outcome)
			}
			tt.check(t, m, fake)
		})
	}
}

// TestUpstreamQuery checks at the fake what we send: the client's question
// spelling, RD, CD and DO copied, our own EDNS buffer size, and none of the
// client's EDNS options.
func TestUpstreamQuery(t *testing.T) {
	tests := []struct {
		name   string
		do, cd bool
	}{
		{name: "plain"},
		{name: "DO", do: true},
		{name: "CD", cd: true},
		{name: "DO and CD", do: true, cd: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t, "127.0.0.1", false, answerA("192.0.2.1"))
			f := newTestForwarder(t, 2*time.Second, fake.addr)

			client := new(dns.Msg).SetQuestion("ExAmPle.COM.", dns.TypeA)
			client.RecursionDesired = false
			client.CheckingDisabled = tt.cd
			client.SetEdns0(4096, tt.do)
			opt := client.IsEdns0()
			opt.Option = append(opt.Option,
				&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("198.51.100.0").To4()},
				&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"},
				&dns.EDNS0_NSID{Code: dns.EDNS0NSID})
			if _, err := serve(t, f.Forwarder, requestFor(client, testClient)); err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}

			q := fake.lastQuery()
			if q == nil {
				t.Fatal("fake saw no query")
			}
			if got := q.Question[0].Name; got != "ExAmPle.COM." {
				t.Errorf("qname = %q, want the client's spelling ExAmPle.COM.", got)
			}
			if !q.RecursionDesired {
				t.Error("RD = false, want true")
			}
			if q.CheckingDisabled != tt.cd {
				t.Errorf("CD = %v, want %v", q.CheckingDisabled, tt.cd)
			}
			uopt := q.IsEdns0()
			if uopt == nil {
				t.Fatal("upstream query has no OPT")
			}
			if uopt.Do() != tt.do {
				t.Errorf("DO = %v, want %v", uopt.Do(), tt.do)
			}
			if uopt.UDPSize() != udpSize {
				t.Errorf("UDP size = %d, want %d", uopt.UDPSize(), udpSize)
			}
			if len(uopt.Option) != 0 {
				t.Errorf("upstream query carries options %v, want none (no ECS, cookie, NSID)", uopt.Option)
			}
		})
	}
}

// TestFreshQueryPerAttempt checks that IDs and source ports vary between
// queries: 20 equal draws of 16 random bits would be a broken generator.
func TestFreshQueryPerAttempt(t *testing.T) {
	var (
		mu    sync.Mutex
		ids   = map[uint16]bool{}
		ports = map[string]bool{}
	)
	fake := startFake(t, "127.0.0.1", false, func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		ids[r.Id] = true
		_, port, _ := net.SplitHostPort(w.RemoteAddr().String())
		ports[port] = true
		mu.Unlock()
		answerA("192.0.2.1")(w, r)
	})
	f := newTestForwarder(t, 2*time.Second, fake.addr)
	for range 20 {
		if _, err := serve(t, f.Forwarder, newRequest("id.example.", dns.TypeA)); err != nil {
			t.Fatalf("ServeDNS: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) < 2 || len(ports) < 2 {
		t.Errorf("20 queries used %d distinct IDs and %d distinct source ports, want more than 1 each", len(ids), len(ports))
	}
}

func TestFailoverAndCooldown(t *testing.T) {
	dead := startDead(t)
	good := startFake(t, "127.0.0.1", false, answerA("192.0.2.2"))
	f := newTestForwarder(t, time.Second, dead.addr, good.addr)

	ask := func(step string) {
		t.Helper()
		m, err := serve(t, f.Forwarder, newRequest("failover.example.", dns.TypeA))
		if err != nil {
			t.Fatalf("%s: ServeDNS: %v", step, err)
		}
		if got := firstA(m); got != "192.0.2.2" {
			t.Fatalf("%s: A = %q, want the second upstream's 192.0.2.2", step, got)
		}
	}
	deadUp := func() float64 { return upGauge(t, f, dead.addr) }

	ask("first query")
	if n := dead.seen(t); n != 1 {
		t.Fatalf("dead upstream saw %d queries, want 1", n)
	}
	if got := testutil.ToFloat64(f.metrics.errors.WithLabelValues(dead.addr, kindTimeout)); got != 1 {
		t.Errorf("timeout errors = %v, want 1", got)
	}
	if deadUp() != 0 {
		t.Errorf("dijk_upstream_up for the dead upstream = %v, want 0", deadUp())
	}

	ask("during cooldown")
	if n := dead.seen(t); n != 1 {
		t.Errorf("dead upstream saw %d queries during its cooldown, want still 1", n)
	}

	f.clock.Advance(f.cooldown + time.Second)
	if deadUp() != 1 {
		t.Errorf("dijk_upstream_up after the cooldown = %v, want 1", deadUp())
	}
	ask("after cooldown")
	if n := dead.seen(t); n != 2 {
		t.Errorf("dead upstream saw %d queries after its cooldown, want 2 (probed again)", n)
	}
	if good.total() != 3 {
		t.Errorf("good upstream saw %d queries, want 3", good.total())
	}
}

func TestNetworkErrorFailover(t *testing.T) {
	refused := closedPort(t)
	good := startFake(t, "127.0.0.1", false, answerA("192.0.2.3"))
	f := newTestForwarder(t, 2*time.Second, refused, good.addr)

	for i := range 2 {
		m, err := serve(t, f.Forwarder, newRequest("refused.example.", dns.TypeA))
		if err != nil || firstA(m) != "192.0.2.3" {
			t.Fatalf("query %d: got %v, %v; want the second upstream's answer", i, m, err)
		}
	}
	// The first query's ICMP error marked it down, so the second skipped it.
	if got := testutil.ToFloat64(f.metrics.errors.WithLabelValues(refused, kindNetwork)); got != 1 {
		t.Errorf("network errors = %v, want 1", got)
	}
}

func TestAllFailed(t *testing.T) {
	dead1, dead2 := startDead(t), startDead(t)
	const timeout = 400 * time.Millisecond
	f := newTestForwarder(t, timeout, dead1.addr, dead2.addr)

	for i, want := range []int64{1, 2} {
		start := time.Now()
		m, err := serve(t, f.Forwarder, newRequest("dead.example.", dns.TypeA))
		if !errors.Is(err, ErrAllFailed) {
			t.Fatalf("query %d: got %v, %v; want an error wrapping ErrAllFailed", i, m, err)
		}
		// A hang guard, not a speed test: the budget must bound the query.
		if d := time.Since(start); d > timeout+5*time.Second {
			t.Errorf("query %d returned after %v, want within the %v budget", i, d, timeout)
		}
		// The second query finds both down and tries them anyway.
		if n1, n2 := dead1.seen(t), dead2.seen(t); n1 != want || n2 != want {
			t.Errorf("query %d: dead upstreams saw %d and %d queries, want %d each", i, n1, n2, want)
		}
	}
	if f.Ready() {
		t.Error("Ready() = true with every upstream in cooldown")
	}
}

func TestFailedRcodes(t *testing.T) {
	tests := []struct {
		name        string
		first       dns.HandlerFunc
		second      dns.HandlerFunc
		wantRcode   int
		wantA       string
		wantRcodeEr float64 // dijk_upstream_errors_total{kind="rcode"} of the first
	}{
		{name: "SERVFAIL then answer", first: answerRcode(dns.RcodeServerFailure), second: answerA("192.0.2.4"), wantRcode: dns.RcodeSuccess, wantA: "192.0.2.4", wantRcodeEr: 1},
		{name: "REFUSED then answer", first: answerRcode(dns.RcodeRefused), second: answerA("192.0.2.4"), wantRcode: dns.RcodeSuccess, wantA: "192.0.2.4", wantRcodeEr: 1},
		{name: "NOTIMP then answer", first: answerRcode(dns.RcodeNotImplemented), second: answerA("192.0.2.4"), wantRcode: dns.RcodeSuccess, wantA: "192.0.2.4", wantRcodeEr: 1},
		{name: "NXDOMAIN is an answer", first: answerRcode(dns.RcodeNameError), second: answerA("192.0.2.4"), wantRcode: dns.RcodeNameError},
		{name: "REFUSED then SERVFAIL returns the first response", first: answerRcode(dns.RcodeRefused), second: answerRcode(dns.RcodeServerFailure), wantRcode: dns.RcodeRefused, wantRcodeEr: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := startFake(t, "127.0.0.1", false, tt.first)
			second := startFake(t, "127.0.0.1", false, tt.second)
			f := newTestForwarder(t, 2*time.Second, first.addr, second.addr)

			m, err := serve(t, f.Forwarder, newRequest("rcode.example.", dns.TypeA))
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if m.Rcode != tt.wantRcode || firstA(m) != tt.wantA {
				t.Errorf("got rcode %s A %q, want %s A %q", dns.RcodeToString[m.Rcode], firstA(m), dns.RcodeToString[tt.wantRcode], tt.wantA)
			}
			if got := testutil.ToFloat64(f.metrics.errors.WithLabelValues(first.addr, kindRcode)); got != tt.wantRcodeEr {
				t.Errorf("rcode errors of the first = %v, want %v", got, tt.wantRcodeEr)
			}
			if f.upstreams[0].down(f.now()) {
				t.Error("an upstream that answered with an error rcode was put in cooldown")
			}
		})
	}
}

func TestTruncatedTCPFailed(t *testing.T) {
	// UDP only: the TCP retry is refused.
	fake := startFake(t, "127.0.0.1", false, func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Truncated = true
		_ = w.WriteMsg(m)
	})
	f := newTestForwarder(t, 2*time.Second, fake.addr)
	m, err := serve(t, f.Forwarder, newRequest("tc.example.", dns.TypeTXT))
	if !errors.Is(err, ErrAllFailed) {
		t.Fatalf("got %v, %v; want ErrAllFailed rather than the truncated answer", m, err)
	}
	if got := testutil.ToFloat64(f.metrics.errors.WithLabelValues(fake.addr, kindTruncatedTCP)); got != 1 {
		t.Errorf("truncated_tcp_failed errors = %v, want 1", got)
	}
}

// TestMismatchedIgnored has the upstream send junk before the real answer:
// a forgery from another source (the connected socket must drop it), then
// wrong ID, wrong name, wrong type, QR unset, an unparsable datagram and an
// empty one.
func TestMismatchedIgnored(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	forger, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); forger.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, dns.MaxMsgSize)
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil {
			return
		}
		answer := func(edit func(m *dns.Msg), ip string) []byte {
			m := new(dns.Msg).SetReply(q)
			m.Answer = []dns.RR{rr(q.Question[0].Name + " 60 IN A " + ip)}
			edit(m)
			b, _ := m.Pack()
			return b
		}
		keep := func(*dns.Msg) {}
		_, _ = forger.WriteTo(answer(keep, "203.0.113.66"), from)
		for _, b := range [][]byte{
			answer(func(m *dns.Msg) { m.Id++ }, "203.0.113.1"),
			answer(func(m *dns.Msg) { m.Question[0].Name = "other.example." }, "203.0.113.2"),
			answer(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }, "203.0.113.3"),
			answer(func(m *dns.Msg) { m.Response = false }, "203.0.113.4"),
			[]byte("junk"),
			{},
			answer(func(m *dns.Msg) { m.Question[0].Name = strings.ToUpper(m.Question[0].Name) }, "192.0.2.5"),
		} {
			_, _ = pc.WriteTo(b, from)
		}
	}()

	f := newTestForwarder(t, 2*time.Second, pc.LocalAddr().String())
	m, err := serve(t, f.Forwarder, newRequest("spoof.example.", dns.TypeA))
	if err != nil {
		t.Fatalf("ServeDNS: %v", err)
	}
	if got := firstA(m); got != "192.0.2.5" {
		t.Errorf("A = %q, want the genuine 192.0.2.5 (name case may differ)", got)
	}
	if got := testutil.ToFloat64(f.metrics.mismatched.WithLabelValues(pc.LocalAddr().String())); got != 6 {
		t.Errorf("mismatched = %v, want 6 (the off-source forgery never reaches us)", got)
	}
}

// gatedFake is a fake upstream that holds its answers until release.
func gatedFake(t *testing.T) (*fakeUpstream, func()) {
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	fake := startFake(t, "127.0.0.1", false, func(w dns.ResponseWriter, r *dns.Msg) {
		select {
		case <-gate:
		case <-time.After(hangGuard):
		}
		answerA("192.0.2.6")(w, r)
	})
	t.Cleanup(release) // runs before the fake's shutdown
	return fake, release
}

func TestCoalescing(t *testing.T) {
	const callers = 50
	fake, release := gatedFake(t)
	f := newTestForwarder(t, hangGuard, fake.addr)

	reqs := make([]*chain.Request, callers)
	answers := make([]*dns.Msg, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		reqs[i] = newRequest("Coalesce.Example.", dns.TypeA)
		wg.Go(func() { answers[i], errs[i] = serve(t, f.Forwarder, reqs[i]) })
	}
	key := flightKey(reqs[0])
	// Every caller plus the one exchange they share.
	waitFor(t, "all callers to wait on one exchange", func() bool { return f.holders(key) == callers+1 })
	release()
	wg.Wait()

	if n := fake.total(); n != 1 {
		t.Errorf("upstream saw %d queries for %d identical ones, want 1", n, callers)
	}
	for i := range callers {
		if errs[i] != nil || firstA(answers[i]) != "192.0.2.6" {
			t.Fatalf("caller %d: got %v, %v", i, answers[i], errs[i])
		}
		if reqs[i].Outcome != chain.OutcomeForwarded {
			t.Errorf("caller %d: Outcome = %v, want forwarded", i, reqs[i].Outcome)
		}
	}
	// Each caller owns its answer: changing one must not change another.
	answers[0].Answer[0].(*dns.A).A = net.ParseIP("198.51.100.99")
	if firstA(answers[1]) != "192.0.2.6" {
		t.Error("callers share one answer; modifying one changed another")
	}
}

func TestCoalescingKey(t *testing.T) {
	base := func() *chain.Request { return newRequest("www.example.", dns.TypeA) }
	tests := []struct {
		name string
		edit func(r *chain.Request)
		same bool
	}{
		{name: "identical", edit: func(*chain.Request) {}, same: true},
		{name: "name case only differs", edit: func(r *chain.Request) { r.Question.Name = "WWW.example." }, same: true},
		{name: "type", edit: func(r *chain.Request) { r.Question.Qtype = dns.TypeAAAA }},
		{name: "class", edit: func(r *chain.Request) { r.Question.Qclass = dns.ClassCHAOS }},
		{name: "DO", edit: func(r *chain.Request) { r.DO = true }},
		{name: "CD", edit: func(r *chain.Request) { r.CD = true }},
		{name: "name", edit: func(r *chain.Request) { r.Name = "www2.example." }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(r)
			if got := flightKey(r) == flightKey(base()); got != tt.same {
				t.Errorf("same key = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestWaiterHonoursOwnContext(t *testing.T) {
	fake, release := gatedFake(t)
	f := newTestForwarder(t, hangGuard, fake.addr)

	type result struct {
		m   *dns.Msg
		err error
	}
	patient := make(chan result, 1)
	go func() {
		m, err := serve(t, f.Forwarder, newRequest("ctx.example.", dns.TypeA))
		patient <- result{m, err}
	}()
	waitFor(t, "the exchange to reach the upstream", func() bool { return fake.total() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		_, err := f.ServeDNS(ctx, newRequest("ctx.example.", dns.TypeA))
		impatient <- err
	}()
	// Two callers plus the exchange.
	waitFor(t, "the second caller to join", func() bool { return f.holders(flightKey(newRequest("ctx.example.", dns.TypeA))) == 3 })
	cancel()
	select {
	case err := <-impatient:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller got %v, want context.Canceled", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("cancelled caller still waits for the shared exchange")
	}

	release()
	r := <-patient
	if r.err != nil || firstA(r.m) != "192.0.2.6" {
		t.Errorf("patient caller got %v, %v; want the answer", r.m, r.err)
	}
}

func TestReady(t *testing.T) {
	good := startFake(t, "127.0.0.1", false, answerA("192.0.2.7"))
	dead := startDead(t)
	tests := []struct {
		name    string
		servers []string
		timeout time.Duration
		query   bool
		advance time.Duration
		want    bool
	}{
		{name: "untested", servers: []string{dead.addr}, want: true},
		{name: "answered", servers: []string{good.addr}, query: true, want: true},
		{name: "only upstream timed out", servers: []string{dead.addr}, query: true, want: false},
		{name: "cooldown over", servers: []string{dead.addr}, query: true, advance: 2 * time.Minute, want: true},
		// A generous budget, so the good upstream's half cannot run out.
		{name: "one of two answered", servers: []string{dead.addr, good.addr}, timeout: 2 * time.Second, query: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := cmp.Or(tt.timeout, 200*time.Millisecond)
			f := newTestForwarder(t, timeout, tt.servers...)
			if tt.query {
				_, _ = serve(t, f.Forwarder, newRequest("ready.example.", dns.TypeA))
			}
			f.clock.Advance(tt.advance)
			if got := f.Ready(); got != tt.want {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr error // checked with errors.Is when set
		fail    bool
	}{
		{name: "no servers", opts: Options{Timeout: time.Second}, wantErr: ErrNoUpstream, fail: true},
		{name: "hostname", opts: Options{Servers: []string{"dns.example:53"}, Timeout: time.Second}, fail: true},
		{name: "no port", opts: Options{Servers: []string{"192.0.2.1"}, Timeout: time.Second}, fail: true},
		{name: "port 0", opts: Options{Servers: []string{"192.0.2.1:0"}, Timeout: time.Second}, fail: true},
		{name: "duplicate", opts: Options{Servers: []string{"192.0.2.1:53", "192.0.2.1:53"}, Timeout: time.Second}, fail: true},
		{name: "zero timeout", opts: Options{Servers: []string{"192.0.2.1:53"}}, fail: true},
		{name: "negative cooldown", opts: Options{Servers: []string{"192.0.2.1:53"}, Timeout: time.Second, Cooldown: -1}, fail: true},
		{name: "same server spelled twice", opts: Options{Servers: []string{"192.0.2.1:53", "udp://192.0.2.1"}, Timeout: time.Second}, fail: true},
		{name: "tls name without bootstrap IP", opts: Options{Servers: []string{"tls://dns.example"}, Timeout: time.Second}, fail: true},
		{name: "every transport", opts: Options{Servers: []string{"192.0.2.1:53", "tcp://192.0.2.1", "tls://192.0.2.1#dns.example", "https://dns.example/dns-query#192.0.2.1"}, Timeout: time.Second}},
		{name: "IPv4 and IPv6", opts: Options{Servers: []string{"192.0.2.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"}, Timeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.opts)
			if (err != nil) != tt.fail {
				t.Fatalf("New() error = %v, want failure %v", err, tt.fail)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("New() error = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				t.Cleanup(func() { _ = f.Close() })
			}
			if err == nil && f.cooldown != DefaultCooldown {
				t.Errorf("cooldown = %v, want the default %v", f.cooldown, DefaultCooldown)
			}
		})
	}
}

func TestMetricsRegistered(t *testing.T) {
	fake := startFake(t, "127.0.0.1", false, answerA("192.0.2.8"))
	f := newTestForwarder(t, 2*time.Second, fake.addr)
	if _, err := serve(t, f.Forwarder, newRequest("metrics.example.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"dijk_upstream_request_duration_seconds",
		"dijk_upstream_errors_total",
		"dijk_upstream_mismatched_total",
		"dijk_upstream_loops_total",
		"dijk_upstream_up",
	} {
		if n, err := testutil.GatherAndCount(f.reg, name); err != nil || n == 0 {
			t.Errorf("metric %s: %d series, err %v; want it registered", name, n, err)
		}
	}
	if n := testutil.CollectAndCount(f.metrics.duration); n != 1 {
		t.Errorf("duration histogram has %d series, want 1", n)
	}
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil || len(problems) != 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
	// A second Forwarder on the same registry must fail, not panic.
	if _, err := New(Options{Servers: []string{fake.addr}, Timeout: time.Second, Registerer: f.reg}); err == nil {
		t.Error("second New on one registry succeeded, want a registration error")
	}
}

// upGauge returns dijk_upstream_up for addr as scraped from f's registry.
func upGauge(t *testing.T, f *testForwarder, addr string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "dijk_upstream_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "upstream" && l.GetValue() == addr {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no dijk_upstream_up series for %s", addr)
	return 0
}

func TestMaxConcurrentFailsFastWhenFull(t *testing.T) {
	release := make(chan struct{})
	var seen atomic.Int32
	addr := startBlockingUpstream(t, release, &seen)
	f, err := New(Options{Servers: []string{addr}, Timeout: 5 * time.Second, MaxConcurrent: 3})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := f.ServeDNS(context.Background(), requestFor(new(dns.Msg).SetQuestion(fmt.Sprintf("slow%d.example.", i), dns.TypeA), netip.MustParseAddrPort("192.0.2.9:5000")))
			results <- err
		}()
	}
	for seen.Load() < 3 { // all three exchanges are at the upstream
		runtime.Gosched()
	}
	_, err = f.ServeDNS(context.Background(), requestFor(new(dns.Msg).SetQuestion("one-too-many.example.", dns.TypeA), netip.MustParseAddrPort("192.0.2.9:5000")))
	if !errors.Is(err, ErrOverloaded) {
		t.Errorf("fourth concurrent query: err = %v, want ErrOverloaded", err)
	}
	if got := testutil.ToFloat64(f.metrics.overloaded); got != 1 {
		t.Errorf("overloaded counter = %v, want 1", got)
	}
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("a query within the limit failed: %v", err)
		}
	}
	// Slots are given back: a new query goes through.
	if _, err := f.ServeDNS(context.Background(), requestFor(new(dns.Msg).SetQuestion("after.example.", dns.TypeA), netip.MustParseAddrPort("192.0.2.9:5000"))); err != nil {
		t.Errorf("after the flood: %v", err)
	}
}

// startBlockingUpstream answers A queries only once release is closed,
// counting the queries it holds.
func startBlockingUpstream(t *testing.T, release chan struct{}, seen *atomic.Int32) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		seen.Add(1)
		<-release
		r := new(dns.Msg).SetReply(q)
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.1")
		r.Answer = []dns.RR{rr}
		_ = w.WriteMsg(r)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestForwardAddressFamilies forwards to upstreams given as IPv6 and as
// IPv4-mapped IPv6 addresses: the UDP socket is opened from the address
// parsed once at start, and must reach the same place a dial of the
// configured string would.
func TestForwardAddressFamilies(t *testing.T) {
	tests := []struct {
		name, listen string
		server       func(port string) string
		tcpOnly      bool
	}{
		{"IPv6 over UDP", "::1", func(p string) string { return "[::1]:" + p }, false},
		{"IPv4-mapped over UDP", "127.0.0.1", func(p string) string { return "[::ffff:127.0.0.1]:" + p }, false},
		{"IPv6 over TCP", "::1", func(p string) string { return "tcp://[::1]:" + p }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.listen == "::1" {
				if pc, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					pc.Close()
				}
			}
			fake := startFake(t, tt.listen, tt.tcpOnly, answerA("192.0.2.1"))
			_, port, _ := net.SplitHostPort(fake.addr)
			f := newTestForwarder(t, 2*time.Second, tt.server(port))
			resp, err := serve(t, f.Forwarder, newRequest("example.com.", dns.TypeA))
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if len(resp.Answer) != 1 {
				t.Fatalf("answer %v, want the fake's A record", resp.Answer)
			}
			if udp, tcp := fake.udp.Load(), fake.tcp.Load(); tt.tcpOnly && (tcp != 1 || udp != 0) || !tt.tcpOnly && (udp != 1 || tcp != 0) {
				t.Errorf("fake saw %d UDP and %d TCP queries", udp, tcp)
			}
		})
	}
}
