package cache

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestHitDoesNotCallNext(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(aReply(t, "300"), nil)

	first := newReq("example.com.", dns.TypeA)
	f.query(t, first)
	if first.Outcome == chain.OutcomeCached {
		t.Errorf("miss: Outcome = %v, want not cached", first.Outcome)
	}
	second := newReq("example.com.", dns.TypeA)
	m := f.query(t, second)

	if got := f.next.calls.Load(); got != 1 {
		t.Errorf("next called %d times, want 1", got)
	}
	if second.Outcome != chain.OutcomeCached {
		t.Errorf("hit: Outcome = %v, want %v", second.Outcome, chain.OutcomeCached)
	}
	if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("served answer = %v, want the A record", m.Answer)
	}
	if got := f.metric(t, "dijk_cache_hits_total"); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if got := f.metric(t, "dijk_cache_misses_total"); got != 1 {
		t.Errorf("misses = %v, want 1", got)
	}
	if got := f.metric(t, "dijk_cache_entries"); got != 1 {
		t.Errorf("entries = %v, want 1", got)
	}
}

func TestMissReturnsNextAnswerAsIs(t *testing.T) {
	want := aReply(t, "300")
	next := chain.HandlerFunc(func(context.Context, *chain.Request) (*dns.Msg, error) { return want, nil })
	c, err := New(Options{Size: 10, Now: newClock().Now}, next)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("miss returned %p, want next's message %p", got, want)
	}
	// The caller owns it: changing it must not reach the cache.
	got.Answer[0].Header().Ttl = 1
	got.Answer[0].(*dns.A).A[3] = 99
	hit, _ := c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
	if a := hit.Answer[0].(*dns.A); a.Hdr.Ttl != 300 || a.A.String() != "192.0.2.1" {
		t.Errorf("hit = %v, want the unmodified record with TTL 300", a)
	}
}

func TestTTLCountdownAndExpiry(t *testing.T) {
	resp := reply(dns.RcodeSuccess,
		rrs(t, "example.com. 300 IN A 192.0.2.1"),
		rrs(t, "example.com. 400 IN NS ns.example.com."),
		rrs(t, "ns.example.com. 500 IN A 192.0.2.53"))
	tests := []struct {
		name      string
		after     time.Duration
		wantCalls int64
		wantTTLs  []uint32 // answer, ns, extra
	}{
		{name: "at store time", after: 0, wantCalls: 1, wantTTLs: []uint32{300, 400, 500}},
		{name: "100s later", after: 100 * time.Second, wantCalls: 1, wantTTLs: []uint32{200, 300, 400}},
		{name: "fraction of a second is not counted", after: 100*time.Second + 900*time.Millisecond, wantCalls: 1, wantTTLs: []uint32{200, 300, 400}},
		{name: "last second", after: 299 * time.Second, wantCalls: 1, wantTTLs: []uint32{1, 101, 201}},
		{name: "expired at min TTL", after: 300 * time.Second, wantCalls: 2, wantTTLs: []uint32{300, 400, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Size: 10})
			f.next.set(resp, nil)
			f.query(t, newReq("example.com.", dns.TypeA))
			f.clock.Advance(tt.after)
			m := f.query(t, newReq("example.com.", dns.TypeA))

			if got := f.next.calls.Load(); got != tt.wantCalls {
				t.Errorf("next called %d times, want %d", got, tt.wantCalls)
			}
			got := slices.Concat(ttls(m.Answer), ttls(m.Ns), ttls(m.Extra))
			if !slices.Equal(got, tt.wantTTLs) {
				t.Errorf("TTLs = %v, want %v", got, tt.wantTTLs)
			}
		})
	}
}

func TestExpiredEntryIsRemoved(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(aReply(t, "60"), nil)
	f.query(t, newReq("example.com.", dns.TypeA))
	f.next.set(nil, nil) // the refill is not cacheable, so only removal empties the cache
	f.clock.Advance(time.Minute)
	f.query(t, newReq("example.com.", dns.TypeA))
	if got := f.c.Len(); got != 0 {
		t.Errorf("Len = %d after expiry, want 0", got)
	}
	if got := f.next.calls.Load(); got != 2 {
		t.Errorf("next called %d times, want 2", got)
	}
}

func TestClamps(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		ttl        string
		wantServed uint32
		wantLife   time.Duration
	}{
		{name: "MinTTL raises", opts: Options{MinTTL: time.Minute}, ttl: "5", wantServed: 60, wantLife: time.Minute},
		{name: "MaxTTL lowers", opts: Options{MaxTTL: time.Hour}, ttl: "86400", wantServed: 3600, wantLife: time.Hour},
		{name: "within bounds untouched", opts: Options{MinTTL: time.Minute, MaxTTL: time.Hour}, ttl: "300", wantServed: 300, wantLife: 5 * time.Minute},
		{name: "no MaxTTL means no upper clamp", opts: Options{}, ttl: "604800", wantServed: 604800, wantLife: 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Size = 10
			f := newFixture(t, tt.opts)
			f.next.set(aReply(t, tt.ttl), nil)
			f.query(t, newReq("example.com.", dns.TypeA))

			m := f.query(t, newReq("example.com.", dns.TypeA))
			if got := m.Answer[0].Header().Ttl; got != tt.wantServed {
				t.Errorf("served TTL = %d, want %d", got, tt.wantServed)
			}
			f.clock.Advance(tt.wantLife - time.Second)
			f.query(t, newReq("example.com.", dns.TypeA))
			if got := f.next.calls.Load(); got != 1 {
				t.Errorf("one second before expiry: next called %d times, want 1", got)
			}
			f.clock.Advance(time.Second)
			f.query(t, newReq("example.com.", dns.TypeA))
			if got := f.next.calls.Load(); got != 2 {
				t.Errorf("at expiry: next called %d times, want 2", got)
			}
		})
	}
}

func TestNegativeCaching(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		resp     *dns.Msg
		wantLife time.Duration // 0: not cached
		wantSOA  uint32        // served SOA TTL right after storing
	}{
		{
			name:     "NXDOMAIN with SOA uses MINIMUM",
			resp:     reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "3600", "300")}, nil),
			wantLife: 300 * time.Second,
			wantSOA:  300,
		},
		{
			name:     "NXDOMAIN with SOA uses SOA TTL",
			resp:     reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "120", "900")}, nil),
			wantLife: 120 * time.Second,
			wantSOA:  120,
		},
		{
			name:     "NXDOMAIN clamped by MaxTTL",
			opts:     Options{MaxTTL: time.Minute},
			resp:     reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "3600", "300")}, nil),
			wantLife: time.Minute,
			wantSOA:  60,
		},
		{
			name: "NXDOMAIN without SOA is not cached",
			resp: reply(dns.RcodeNameError, nil, nil, nil),
		},
		{
			name:     "NODATA with SOA",
			resp:     reply(dns.RcodeSuccess, nil, []dns.RR{soa(t, "3600", "600")}, nil),
			wantLife: 600 * time.Second,
			wantSOA:  600,
		},
		{
			name: "NODATA without SOA is not cached",
			resp: reply(dns.RcodeSuccess, nil, nil, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Size = 10
			f := newFixture(t, tt.opts)
			f.next.set(tt.resp, nil)
			f.query(t, newReq("nx.example.com.", dns.TypeA))
			req := newReq("nx.example.com.", dns.TypeA)
			m := f.query(t, req)

			if tt.wantLife == 0 {
				if got := f.next.calls.Load(); got != 2 {
					t.Errorf("next called %d times, want 2 (not cached)", got)
				}
				return
			}
			if got := f.next.calls.Load(); got != 1 {
				t.Fatalf("next called %d times, want 1 (cached)", got)
			}
			if m.Rcode != tt.resp.Rcode || len(m.Answer) != 0 || len(m.Ns) != 1 {
				t.Fatalf("served rcode %d answer %v ns %v, want rcode %d with the SOA only", m.Rcode, m.Answer, m.Ns, tt.resp.Rcode)
			}
			if got := m.Ns[0].Header().Ttl; got != tt.wantSOA {
				t.Errorf("served SOA TTL = %d, want %d", got, tt.wantSOA)
			}
			// The SOA counts down like any other record.
			f.clock.Advance(10 * time.Second)
			if got := f.query(t, req).Ns[0].Header().Ttl; got != tt.wantSOA-10 {
				t.Errorf("SOA TTL after 10s = %d, want %d", got, tt.wantSOA-10)
			}
			f.clock.Advance(tt.wantLife - 10*time.Second)
			f.query(t, req)
			if got := f.next.calls.Load(); got != 2 {
				t.Errorf("after negative TTL: next called %d times, want 2", got)
			}
		})
	}
}

func TestServfailCaching(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantLife time.Duration
	}{
		{name: "default is 3s", opts: Options{}, wantLife: 3 * time.Second},
		{name: "configured", opts: Options{ServfailTTL: 5 * time.Second}, wantLife: 5 * time.Second},
		{name: "capped at 30s", opts: Options{ServfailTTL: 10 * time.Minute}, wantLife: 30 * time.Second},
		{name: "not raised by MinTTL", opts: Options{ServfailTTL: 2 * time.Second, MinTTL: time.Hour}, wantLife: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Size = 10
			f := newFixture(t, tt.opts)
			f.next.set(reply(dns.RcodeServerFailure, rrs(t, "example.com. 300 IN A 192.0.2.1"), nil, nil), nil)
			f.query(t, newReq("example.com.", dns.TypeA))

			f.clock.Advance(tt.wantLife - time.Millisecond)
			req := newReq("example.com.", dns.TypeA)
			m := f.query(t, req)
			if got := f.next.calls.Load(); got != 1 {
				t.Errorf("within ServfailTTL: next called %d times, want 1", got)
			}
			if m.Rcode != dns.RcodeServerFailure || len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 {
				t.Errorf("served %v, want a bare SERVFAIL", m)
			}
			if req.Outcome != chain.OutcomeCached {
				t.Errorf("Outcome = %v, want cached", req.Outcome)
			}
			f.clock.Advance(time.Millisecond)
			f.query(t, newReq("example.com.", dns.TypeA))
			if got := f.next.calls.Load(); got != 2 {
				t.Errorf("after ServfailTTL: next called %d times, want 2", got)
			}
		})
	}
}

func TestErrorFromNext(t *testing.T) {
	upstreamDown := errors.New("upstream: all servers timed out")
	tests := []struct {
		name           string
		err            error
		wantRemember   bool
		wantCallsLater int64
	}{
		{name: "upstream error is remembered", err: upstreamDown, wantRemember: true, wantCallsLater: 1},
		{name: "wrapped deadline is remembered", err: fmt.Errorf("exchange: %w", context.DeadlineExceeded), wantRemember: true, wantCallsLater: 1},
		{name: "client cancellation is not remembered", err: fmt.Errorf("exchange: %w", context.Canceled), wantRemember: false, wantCallsLater: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Size: 10, ServfailTTL: 5 * time.Second})
			f.next.set(nil, tt.err)

			m, err := f.c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
			if err != tt.err || m != nil {
				t.Fatalf("ServeDNS = (%v, %v), want (nil, %v) unchanged", m, err, tt.err)
			}

			f.clock.Advance(4 * time.Second)
			f.next.set(aReply(t, "300"), nil) // the upstream recovered, but the window is not over
			req := newReq("example.com.", dns.TypeA)
			m, err = f.c.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatalf("second query: %v", err)
			}
			if got := f.next.calls.Load(); got != tt.wantCallsLater {
				t.Errorf("next called %d times, want %d", got, tt.wantCallsLater)
			}
			if !tt.wantRemember {
				return
			}
			if m.Rcode != dns.RcodeServerFailure || len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 {
				t.Errorf("served %v, want a bare SERVFAIL", m)
			}
			f.clock.Advance(time.Second)
			m = f.query(t, newReq("example.com.", dns.TypeA))
			if m.Rcode != dns.RcodeSuccess || f.next.calls.Load() != 2 {
				t.Errorf("after ServfailTTL: rcode %d, next calls %d; want NOERROR from next", m.Rcode, f.next.calls.Load())
			}
		})
	}
}

func TestNotCached(t *testing.T) {
	tc := aReply(t, "300")
	tc.Truncated = true
	tests := []struct {
		name string
		resp *dns.Msg
	}{
		{name: "truncated", resp: tc},
		{name: "REFUSED", resp: reply(dns.RcodeRefused, nil, nil, nil)},
		{name: "FORMERR", resp: reply(dns.RcodeFormatError, nil, nil, nil)},
		{name: "NOTIMP", resp: reply(dns.RcodeNotImplemented, nil, nil, nil)},
		{name: "nil message", resp: nil},
		{name: "zero TTL", resp: aReply(t, "0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Size: 10})
			f.next.set(tt.resp, nil)
			for range 3 {
				f.query(t, newReq("example.com.", dns.TypeA))
			}
			if got := f.next.calls.Load(); got != 3 {
				t.Errorf("next called %d times, want 3", got)
			}
			if got := f.c.Len(); got != 0 {
				t.Errorf("Len = %d, want 0", got)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	base := func() *chain.Request { return newReq("example.com.", dns.TypeA) }
	tests := []struct {
		name      string
		other     func() *chain.Request
		wantShare bool
	}{
		{name: "same query", other: base, wantShare: true},
		{name: "different case", other: func() *chain.Request { return newReq("ExAmPlE.CoM.", dns.TypeA) }, wantShare: true},
		{name: "DO bit", other: func() *chain.Request { r := base(); r.DO = true; return r }},
		{name: "CD bit", other: func() *chain.Request { r := base(); r.CD = true; return r }},
		{name: "qtype", other: func() *chain.Request { return newReq("example.com.", dns.TypeAAAA) }},
		{name: "class", other: func() *chain.Request { r := base(); r.Question.Qclass = dns.ClassCHAOS; return r }},
		{name: "name", other: func() *chain.Request { return newReq("example.org.", dns.TypeA) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Size: 10})
			f.next.set(aReply(t, "300"), nil)
			f.query(t, base())
			f.query(t, tt.other())
			want := int64(2)
			if tt.wantShare {
				want = 1
			}
			if got := f.next.calls.Load(); got != want {
				t.Errorf("next called %d times, want %d", got, want)
			}
		})
	}
}

func TestClientSpellingInAnswer(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(reply(dns.RcodeSuccess,
		rrs(t,
			"www.example.com. 300 IN CNAME cdn.example.net.",
			"cdn.example.net. 300 IN A 192.0.2.1"),
		nil, nil), nil)
	f.query(t, newReq("www.example.com.", dns.TypeA))

	tests := []struct {
		name  string
		qname string
	}{
		{name: "0x20 mixed case", qname: "wWw.ExAmPlE.cOm."},
		{name: "upper case", qname: "WWW.EXAMPLE.COM."},
		{name: "lower case", qname: "www.example.com."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := f.query(t, newReq(tt.qname, dns.TypeA))
			if got := m.Answer[0].Header().Name; got != tt.qname {
				t.Errorf("CNAME owner = %q, want the client's %q", got, tt.qname)
			}
			if got := m.Answer[1].Header().Name; got != "cdn.example.net." {
				t.Errorf("A owner = %q, want it untouched", got)
			}
		})
	}
	if got := f.next.calls.Load(); got != 1 {
		t.Errorf("next called %d times, want 1 (one shared entry)", got)
	}
}

func TestEviction(t *testing.T) {
	f := newFixture(t, Options{Size: 2})
	f.next.set(aReply(t, "300"), nil)
	for _, name := range []string{"a.example.", "b.example.", "a.example.", "c.example."} {
		f.query(t, newReq(name, dns.TypeA))
	}
	// a was used after b, so b is the least recently used and goes.
	if got := f.c.Len(); got != 2 {
		t.Errorf("Len = %d, want 2", got)
	}
	if got := f.metric(t, "dijk_cache_evictions_total"); got != 1 {
		t.Errorf("evictions = %v, want 1", got)
	}
	calls := f.next.calls.Load()
	f.query(t, newReq("a.example.", dns.TypeA))
	if got := f.next.calls.Load(); got != calls {
		t.Errorf("a.example. was evicted, want it kept")
	}
	f.query(t, newReq("b.example.", dns.TypeA))
	if got := f.next.calls.Load(); got != calls+1 {
		t.Errorf("b.example. was served from cache, want it evicted")
	}
}

func TestRemovalIsNotEviction(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(aReply(t, "60"), nil)
	f.query(t, newReq("example.com.", dns.TypeA))
	f.clock.Advance(time.Minute)
	f.query(t, newReq("example.com.", dns.TypeA)) // expiry removal
	f.c.Purge()
	if got := f.metric(t, "dijk_cache_evictions_total"); got != 0 {
		t.Errorf("evictions = %v, want 0 (only capacity evictions count)", got)
	}
	if got := f.metric(t, "dijk_cache_entries"); got != 0 {
		t.Errorf("entries = %v after Purge, want 0", got)
	}
}

// TestServedAnswersAreIndependent checks what the chain contract lets a
// caller do with a hit (change the header, replace or append to a section)
// never reaches the next hit, which shares the records.
func TestServedAnswersAreIndependent(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(reply(dns.RcodeNameError,
		rrs(t, "a.example.com. 300 IN CNAME b.example.com."),
		[]dns.RR{soa(t, "300", "300")},
		[]dns.RR{optWithEDE(15, "blocked")}), nil)
	f.query(t, newReq("a.example.com.", dns.TypeA))

	first := f.query(t, newReq("a.example.com.", dns.TypeA))
	first.Rcode = dns.RcodeSuccess
	first.Answer = append(first.Answer, rr(t, "x.example. 1 IN A 192.0.2.9"))
	first.Extra = append(first.Extra, rr(t, "y.example. 1 IN A 192.0.2.9"))
	if _, ok := first.Ns[0].(*dns.SOA); !ok {
		t.Errorf("appending to Answer overwrote Ns[0] of the same message: %v", first.Ns[0])
	}
	first.Ns = nil

	second := f.query(t, newReq("a.example.com.", dns.TypeA))
	if second.Rcode != dns.RcodeNameError {
		t.Errorf("rcode = %d, want NXDOMAIN", second.Rcode)
	}
	if c := second.Answer[0].(*dns.CNAME); c.Hdr.Ttl != 300 || c.Target != "b.example.com." {
		t.Errorf("CNAME = %v, want the original", c)
	}
	if len(second.Answer) != 1 || len(second.Ns) != 1 || len(second.Extra) != 1 {
		t.Errorf("sections answer %d ns %d extra %d, want 1, 1 and 1 (a change leaked)", len(second.Answer), len(second.Ns), len(second.Extra))
	}
	if got := second.Extra[0].(*dns.OPT).Option[0].(*dns.EDNS0_EDE).ExtraText; got != "blocked" {
		t.Errorf("EDE text = %q, want %q", got, "blocked")
	}
}

// TestHitsShareRecordsWithinASecond checks that the answer built for a hit is
// reused only while it is exact: the same whole seconds elapsed and the same
// client spelling.
func TestHitsShareRecordsWithinASecond(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(aReply(t, "300"), nil)
	f.query(t, newReq("example.com.", dns.TypeA))
	a := f.query(t, newReq("example.com.", dns.TypeA))
	b := f.query(t, newReq("example.com.", dns.TypeA))
	if a == b || a.Answer[0] != b.Answer[0] {
		t.Errorf("two hits in one second: messages shared %v, records shared %v; want new messages, shared records", a == b, a.Answer[0] == b.Answer[0])
	}
	upper := f.query(t, newReq("EXAMPLE.com.", dns.TypeA))
	if got := upper.Answer[0].Header().Name; got != "EXAMPLE.com." {
		t.Errorf("owner %q, want the client's spelling EXAMPLE.com.", got)
	}
	f.clock.Advance(time.Second)
	later := f.query(t, newReq("example.com.", dns.TypeA))
	if got := later.Answer[0].Header().Ttl; got != 299 {
		t.Errorf("TTL a second later = %d, want 299", got)
	}
	if a.Answer[0].Header().Ttl != 300 {
		t.Errorf("an earlier answer's TTL changed to %d", a.Answer[0].Header().Ttl)
	}
}

func TestEDEPreserved(t *testing.T) {
	tests := []struct {
		name string
		resp *dns.Msg
		code uint16
	}{
		{
			name: "NXDOMAIN with EDE 15",
			resp: reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "300", "300")}, []dns.RR{optWithEDE(dns.ExtendedErrorCodeBlocked, "blocked: list=x")}),
			code: dns.ExtendedErrorCodeBlocked,
		},
		{
			name: "SERVFAIL with EDE 22",
			resp: reply(dns.RcodeServerFailure, nil, nil, []dns.RR{optWithEDE(dns.ExtendedErrorCodeNoReachableAuthority, "")}),
			code: dns.ExtendedErrorCodeNoReachableAuthority,
		},
		{
			name: "answer with EDE 3 next to glue",
			resp: reply(dns.RcodeSuccess, rrs(t, "example.com. 300 IN A 192.0.2.1"), nil, []dns.RR{rr(t, "ns.example.com. 300 IN A 192.0.2.53"), optWithEDE(dns.ExtendedErrorCodeStaleAnswer, "stale")}),
			code: dns.ExtendedErrorCodeStaleAnswer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Size: 10})
			f.next.set(tt.resp, nil)
			f.query(t, newReq("example.com.", dns.TypeA))
			f.clock.Advance(time.Second)
			m := f.query(t, newReq("example.com.", dns.TypeA))
			if f.next.calls.Load() != 1 {
				t.Fatalf("next called %d times, want 1", f.next.calls.Load())
			}

			var opts []*dns.OPT
			for _, r := range m.Extra {
				if o, ok := r.(*dns.OPT); ok {
					opts = append(opts, o)
				}
			}
			if len(opts) != 1 {
				t.Fatalf("served %d OPT records, want 1 carrying the EDE", len(opts))
			}
			if len(opts[0].Option) != 1 {
				t.Fatalf("OPT options = %v, want only the EDE (NSID is hop-by-hop)", opts[0].Option)
			}
			want := tt.resp.Extra[len(tt.resp.Extra)-1].(*dns.OPT).Option[1].(*dns.EDNS0_EDE)
			got, ok := opts[0].Option[0].(*dns.EDNS0_EDE)
			if !ok || got.InfoCode != tt.code || got.ExtraText != want.ExtraText {
				t.Errorf("EDE = %v, want code %d text %q", opts[0].Option[0], tt.code, want.ExtraText)
			}
			if opts[0].Hdr.Ttl != 0 {
				t.Errorf("OPT TTL (flags) = %#x, want 0: it must not be counted down", opts[0].Hdr.Ttl)
			}
		})
	}
}

func TestSizeZeroPassesThrough(t *testing.T) {
	f := newFixture(t, Options{Size: 0})
	f.next.set(aReply(t, "300"), nil)
	for range 3 {
		req := newReq("example.com.", dns.TypeA)
		f.query(t, req)
		if req.Outcome == chain.OutcomeCached {
			t.Errorf("Outcome = cached with caching disabled")
		}
	}
	f.c.Purge()
	if got := f.next.calls.Load(); got != 3 {
		t.Errorf("next called %d times, want 3", got)
	}
	if got := f.metric(t, "dijk_cache_hits_total"); got != 0 {
		t.Errorf("hits = %v, want 0", got)
	}
	if got := f.c.Len(); got != 0 {
		t.Errorf("Len = %d, want 0", got)
	}
}

func TestNewErrors(t *testing.T) {
	next := chain.HandlerFunc(func(context.Context, *chain.Request) (*dns.Msg, error) { return nil, nil })
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Size: 1, Registerer: reg}, next); err != nil {
		t.Fatalf("first New: %v", err)
	}
	tests := []struct {
		name string
		opts Options
		next chain.Handler
	}{
		{name: "nil next", opts: Options{Size: 1}, next: nil},
		{name: "negative size", opts: Options{Size: -1}, next: next},
		{name: "min above max", opts: Options{Size: 1, MinTTL: time.Hour, MaxTTL: time.Second}, next: next},
		{name: "metrics already registered", opts: Options{Size: 1, Registerer: reg}, next: next},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(tt.opts, tt.next); err == nil {
				t.Errorf("New = %v, want an error", c)
			}
		})
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	f := newFixture(t, Options{Size: 10})
	f.next.set(aReply(t, "300"), nil)
	req := newReq("example.com.", dns.TypeA)
	f.query(t, req)
	now := f.c.clock()
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := f.c.lookup(keyFor(req), now); !ok {
			t.Fatal("lookup missed a warm entry")
		}
	})
	if allocs != 0 {
		t.Errorf("lookup allocates %v times, want 0", allocs)
	}
}

func TestConcurrentUse(t *testing.T) {
	const goroutines, ops = 8, 2000
	f := newFixture(t, Options{Size: 16})
	f.next.set(aReply(t, "300"), nil)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				req := newReq(fmt.Sprintf("h%d.example.", (g+i)%32), dns.TypeA)
				m, err := f.c.ServeDNS(context.Background(), req)
				if err != nil || len(m.Answer) != 1 {
					t.Errorf("ServeDNS = (%v, %v)", m, err)
					return
				}
				if ttl := m.Answer[0].Header().Ttl; ttl > 300 { // read while others read it too
					t.Errorf("TTL %d above the stored 300", ttl)
					return
				}
				switch i % 500 {
				case 0:
					f.c.Purge()
				case 250:
					f.clock.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	total := f.metric(t, "dijk_cache_hits_total") + f.metric(t, "dijk_cache_misses_total")
	if total != goroutines*ops {
		t.Errorf("hits+misses = %v, want %d", total, goroutines*ops)
	}
	if n := f.c.Len(); n > 16 {
		t.Errorf("Len = %d, want at most Size 16", n)
	}
}
