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
)

var errUpstreamDown = errors.New("upstream: all servers failed")

// staleOpts enables serve-stale for an hour after expiry.
func staleOpts() Options {
	return Options{Size: 10, StaleFor: time.Hour}
}

// primeExpired caches resp for name and moves the clock past its expiry
// (every resp in these tests lives 60 s).
func primeExpired(t *testing.T, f *fixture, name string, resp *dns.Msg) {
	t.Helper()
	f.next.set(resp, nil)
	f.query(t, newReq(name, dns.TypeA))
	f.clock.Advance(61 * time.Second)
}

func TestStaleServedWhenNextFails(t *testing.T) {
	positive := aReply(t, "60")
	nxdomain := reply(dns.RcodeNameError,
		rrs(t, "example.com. 60 IN CNAME gone.example.net."),
		[]dns.RR{soa(t, "60", "60")}, nil)
	nodata := reply(dns.RcodeSuccess, nil, []dns.RR{soa(t, "60", "60")}, nil)
	alreadyStale := reply(dns.RcodeSuccess, rrs(t, "example.com. 60 IN A 192.0.2.1"), nil,
		[]dns.RR{optWithEDE(dns.ExtendedErrorCodeStaleAnswer, "from upstream")})
	servfail := reply(dns.RcodeServerFailure, nil, nil, []dns.RR{optWithEDE(dns.ExtendedErrorCodeNoReachableAuthority, "")})

	tests := []struct {
		name      string
		staleTTL  time.Duration
		cached    *dns.Msg
		failMsg   *dns.Msg
		failErr   error
		qname     string // the client's spelling
		wantRcode int
		wantTTL   uint32
		wantEDE   []uint16
		wantOwner string // of the first answer record; "" for none
	}{
		{name: "error", cached: positive, failErr: errUpstreamDown, wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}, wantOwner: "example.com."},
		{name: "timeout", cached: positive, failErr: fmt.Errorf("exchange: %w", context.DeadlineExceeded), wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}, wantOwner: "example.com."},
		{name: "SERVFAIL", cached: positive, failMsg: servfail, wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}, wantOwner: "example.com."},
		{name: "configured stale TTL", staleTTL: 90 * time.Second, cached: positive, failErr: errUpstreamDown, wantRcode: dns.RcodeSuccess, wantTTL: 90, wantEDE: []uint16{3}, wantOwner: "example.com."},
		{name: "NXDOMAIN gets EDE 19", cached: nxdomain, failErr: errUpstreamDown, wantRcode: dns.RcodeNameError, wantTTL: 30, wantEDE: []uint16{19}, wantOwner: "example.com."},
		{name: "NXDOMAIN on SERVFAIL", cached: nxdomain, failMsg: servfail, wantRcode: dns.RcodeNameError, wantTTL: 30, wantEDE: []uint16{19}, wantOwner: "example.com."},
		{name: "NODATA gets EDE 3", cached: nodata, failErr: errUpstreamDown, wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}},
		{name: "client spelling kept", cached: positive, failErr: errUpstreamDown, qname: "ExAmPlE.CoM.", wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}, wantOwner: "ExAmPlE.CoM."},
		{name: "stored EDE 3 not doubled", cached: alreadyStale, failErr: errUpstreamDown, wantRcode: dns.RcodeSuccess, wantTTL: 30, wantEDE: []uint16{3}, wantOwner: "example.com."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := staleOpts()
			opts.StaleTTL = tt.staleTTL
			f := newFixture(t, opts)
			primeExpired(t, f, "example.com.", tt.cached)
			f.next.set(tt.failMsg, tt.failErr)

			qname := tt.qname
			if qname == "" {
				qname = "example.com."
			}
			req := newReq(qname, dns.TypeA)
			m, err := f.c.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatalf("ServeDNS error %v, want the stale answer", err)
			}
			if got := f.next.calls.Load(); got != 2 {
				t.Errorf("next called %d times, want 2 (the refresh was tried)", got)
			}
			if m.Rcode != tt.wantRcode {
				t.Errorf("rcode = %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if len(m.Answer) != len(tt.cached.Answer) || len(m.Ns) != len(tt.cached.Ns) {
				t.Errorf("sections answer %d ns %d, want the cached %d and %d", len(m.Answer), len(m.Ns), len(tt.cached.Answer), len(tt.cached.Ns))
			}
			var records []dns.RR
			for _, r := range slices.Concat(m.Answer, m.Ns, m.Extra) {
				if _, ok := r.(*dns.OPT); !ok {
					records = append(records, r)
				}
			}
			for _, r := range records {
				if r.Header().Ttl != tt.wantTTL {
					t.Errorf("TTL of %v = %d, want %d", r, r.Header().Ttl, tt.wantTTL)
				}
			}
			if got := edeCodes(m); !slices.Equal(got, tt.wantEDE) {
				t.Errorf("EDE codes = %v, want %v", got, tt.wantEDE)
			}
			if tt.wantOwner != "" && m.Answer[0].Header().Name != tt.wantOwner {
				t.Errorf("owner = %q, want %q", m.Answer[0].Header().Name, tt.wantOwner)
			}
			if req.Outcome != chain.OutcomeCached {
				t.Errorf("Outcome = %v, want cached", req.Outcome)
			}
			if got := f.metric(t, "dijk_cache_stale_answers_total"); got != 1 {
				t.Errorf("stale answers = %v, want 1", got)
			}
		})
	}
}

func TestStaleNotServed(t *testing.T) {
	canceled := fmt.Errorf("exchange: %w", context.Canceled)
	tests := []struct {
		name    string
		opts    Options
		advance time.Duration // after storing a 60 s answer
		failMsg *dns.Msg
		failErr error
	}{
		{name: "serve-stale off, error", opts: Options{Size: 10}, advance: 61 * time.Second, failErr: errUpstreamDown},
		{name: "serve-stale off, SERVFAIL", opts: Options{Size: 10}, advance: 61 * time.Second, failMsg: reply(dns.RcodeServerFailure, nil, nil, nil)},
		{name: "at StaleFor, error", opts: staleOpts(), advance: time.Minute + time.Hour, failErr: errUpstreamDown},
		{name: "beyond StaleFor, error", opts: staleOpts(), advance: 2 * time.Hour, failErr: errUpstreamDown},
		{name: "beyond StaleFor, SERVFAIL", opts: staleOpts(), advance: 2 * time.Hour, failMsg: reply(dns.RcodeServerFailure, nil, nil, nil)},
		{name: "client went away", opts: staleOpts(), advance: 61 * time.Second, failErr: canceled},
		{name: "REFUSED is not a failure to hide", opts: staleOpts(), advance: 61 * time.Second, failMsg: reply(dns.RcodeRefused, nil, nil, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			f.next.set(aReply(t, "60"), nil)
			f.query(t, newReq("example.com.", dns.TypeA))
			f.clock.Advance(tt.advance)
			f.next.set(tt.failMsg, tt.failErr)

			m, err := f.c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
			if err != tt.failErr {
				t.Errorf("error = %v, want next's %v passed through", err, tt.failErr)
			}
			if tt.failMsg == nil && m != nil {
				t.Errorf("answer = %v, want none", m)
			}
			if tt.failMsg != nil && (m == nil || m.Rcode != tt.failMsg.Rcode || len(m.Answer) != 0 || len(edeCodes(m)) != 0) {
				t.Errorf("answer = %v, want next's bare %s", m, dns.RcodeToString[tt.failMsg.Rcode])
			}
			if got := f.metric(t, "dijk_cache_stale_answers_total"); got != 0 {
				t.Errorf("stale answers = %v, want 0", got)
			}
		})
	}
}

func TestFreshAnswerReplacesStale(t *testing.T) {
	tests := []struct {
		name      string
		fresh     *dns.Msg
		wantKept  bool   // a later failure still finds data
		wantLater string // the A record then served stale
	}{
		{name: "cacheable answer replaces", fresh: reply(dns.RcodeSuccess, rrs(t, "example.com. 60 IN A 192.0.2.2"), nil, nil), wantKept: true, wantLater: "192.0.2.2"},
		{name: "uncacheable answer drops", fresh: reply(dns.RcodeSuccess, rrs(t, "example.com. 0 IN A 192.0.2.2"), nil, nil)},
		{name: "NXDOMAIN without SOA drops", fresh: reply(dns.RcodeNameError, nil, nil, nil)},
		{name: "REFUSED keeps", fresh: reply(dns.RcodeRefused, nil, nil, nil), wantKept: true, wantLater: "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, staleOpts())
			primeExpired(t, f, "example.com.", aReply(t, "60"))
			f.next.set(tt.fresh, nil)

			req := newReq("example.com.", dns.TypeA)
			m := f.query(t, req)
			if m.Rcode != tt.fresh.Rcode || len(m.Answer) != len(tt.fresh.Answer) {
				t.Fatalf("answer = %v, want next's", m)
			}
			if len(m.Answer) > 0 && m.Answer[0].(*dns.A).A.String() != "192.0.2.2" {
				t.Errorf("answer = %v, want the fresh record", m.Answer[0])
			}
			if got := edeCodes(m); len(got) != 0 {
				t.Errorf("EDE = %v on a fresh answer, want none", got)
			}
			if req.Outcome == chain.OutcomeCached {
				t.Errorf("Outcome = cached, want next's")
			}

			f.clock.Advance(61 * time.Second)
			f.next.set(nil, errUpstreamDown)
			m, err := f.c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
			if !tt.wantKept {
				if err != errUpstreamDown {
					t.Errorf("after the stale entry was superseded: (%v, %v), want the error", m, err)
				}
				return
			}
			if err != nil || len(m.Answer) != 1 {
				t.Fatalf("later failure: (%v, %v), want a stale answer", m, err)
			}
			if got := m.Answer[0].(*dns.A).A.String(); got != tt.wantLater {
				t.Errorf("stale A = %s, want %s", got, tt.wantLater)
			}
			if got := f.metric(t, "dijk_cache_stale_answers_total"); got != 1 {
				t.Errorf("stale answers = %v, want 1 (the fresh answer is not stale)", got)
			}
		})
	}
}

func TestFailureDoesNotHideStale(t *testing.T) {
	f := newFixture(t, Options{Size: 10, StaleFor: time.Hour, ServfailTTL: 5 * time.Second})
	primeExpired(t, f, "example.com.", aReply(t, "60"))
	f.next.set(nil, errUpstreamDown)

	steps := []struct {
		name      string
		advance   time.Duration
		wantCalls int64 // total, after the step
		wantStale bool
	}{
		{name: "refresh fails", wantCalls: 2, wantStale: true},
		{name: "failure remembered, stale still served", advance: 4 * time.Second, wantCalls: 2, wantStale: true},
		{name: "after ServfailTTL the refresh is tried again", advance: time.Second, wantCalls: 3, wantStale: true},
		{name: "remembered again", advance: time.Second, wantCalls: 3, wantStale: true},
		{name: "upstream back", advance: 5 * time.Second, wantCalls: 4},
	}
	for i, st := range steps {
		if i == len(steps)-1 {
			f.next.set(aReply(t, "60"), nil)
		}
		f.clock.Advance(st.advance)
		m := f.query(t, newReq("example.com.", dns.TypeA))
		if got := f.next.calls.Load(); got != st.wantCalls {
			t.Errorf("%s: next called %d times, want %d", st.name, got, st.wantCalls)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
			t.Errorf("%s: answer %v, want the A record", st.name, m)
		}
		if stale := len(edeCodes(m)) > 0; stale != st.wantStale {
			t.Errorf("%s: stale = %v, want %v", st.name, stale, st.wantStale)
		}
	}
	if got := f.metric(t, "dijk_cache_stale_answers_total"); got != 4 {
		t.Errorf("stale answers = %v, want 4", got)
	}
	// The remembered failures answered without next: hits, not misses.
	if hits, misses := f.metric(t, "dijk_cache_hits_total"), f.metric(t, "dijk_cache_misses_total"); hits != 2 || misses != 4 {
		t.Errorf("hits %v misses %v, want 2 and 4", hits, misses)
	}
}

func TestStaleEntryNotBackAfterPurge(t *testing.T) {
	f := newFixture(t, staleOpts())
	primeExpired(t, f, "example.com.", aReply(t, "60"))
	f.next.set(nil, errUpstreamDown)
	// The purge lands while next is being asked, as after a policy change.
	f.next.setHook(func(*chain.Request) { f.c.Purge() })

	m, err := f.c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
	if err != errUpstreamDown {
		t.Errorf("ServeDNS = (%v, %v), want the error: the purged entry must not be served", m, err)
	}
}

func TestStaleEntriesKeptUntilStaleFor(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		advance time.Duration
		wantLen int
	}{
		{name: "serve-stale off removes on lookup", opts: Options{Size: 10}, advance: 61 * time.Second, wantLen: 0},
		{name: "kept within StaleFor", opts: staleOpts(), advance: 61 * time.Second, wantLen: 1},
		{name: "removed past StaleFor", opts: staleOpts(), advance: 2 * time.Hour, wantLen: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			f.next.set(aReply(t, "60"), nil)
			f.query(t, newReq("example.com.", dns.TypeA))
			f.clock.Advance(tt.advance)
			// lookup alone: a query would refill the entry from next.
			f.c.lookup(keyFor(newReq("example.com.", dns.TypeA)), f.c.clock())
			if got := f.c.Len(); got != tt.wantLen {
				t.Errorf("Len = %d, want %d", got, tt.wantLen)
			}
		})
	}
}

func TestStaleConcurrent(t *testing.T) {
	const goroutines, ops, names = 16, 500, 8
	f := newFixture(t, Options{Size: 64, StaleFor: time.Hour})
	f.next.set(aReply(t, "60"), nil)
	for i := range names {
		f.query(t, newReq(fmt.Sprintf("h%d.example.", i), dns.TypeA))
	}
	f.clock.Advance(61 * time.Second)
	f.next.set(nil, errUpstreamDown)
	primed := f.next.calls.Load()

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				req := newReq(fmt.Sprintf("h%d.example.", (g+i)%names), dns.TypeA)
				m, err := f.c.ServeDNS(context.Background(), req)
				if err != nil || len(m.Answer) != 1 || !slices.Equal(edeCodes(m), []uint16{3}) {
					t.Errorf("ServeDNS = (%v, %v), want a stale answer", m, err)
					return
				}
				m.Answer[0].Header().Ttl = 0 // callers may modify what they get
				if i%100 == 50 {
					f.clock.Advance(time.Second) // some failure windows end
				}
			}
		})
	}
	wg.Wait()
	const total = goroutines * ops
	if got := f.metric(t, "dijk_cache_stale_answers_total"); got != total {
		t.Errorf("stale answers = %v, want %d", got, total)
	}
	misses := f.metric(t, "dijk_cache_misses_total") - names
	if hits := f.metric(t, "dijk_cache_hits_total"); hits+misses != total {
		t.Errorf("hits+misses = %v, want %d", hits+misses, total)
	}
	// Every refresh attempt is a miss; remembered failures keep most
	// queries away from the upstream.
	calls := f.next.calls.Load() - primed
	if float64(calls) != misses || calls < names || calls >= total/2 {
		t.Errorf("refresh attempts = %d (misses %v), want one per miss, at least %d and well below %d", calls, misses, names, total)
	}
	if got := f.c.Len(); got != names {
		t.Errorf("Len = %d, want the %d stale entries kept", got, names)
	}
}
