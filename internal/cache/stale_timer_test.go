package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
)

// timerOpts enables serve-stale with the client response timer.
func timerOpts() Options {
	return Options{Size: 16, StaleFor: time.Hour, StaleAfter: 1800 * time.Millisecond}
}

// safetyWait fails the test instead of hanging it when done never closes. The
// limit only guards against a hang; no result depends on it.
func safetyWait(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// waitRefreshes waits until no background refresh is running.
func waitRefreshes(t *testing.T, c *Cache) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.running.Wait()
		close(done)
	}()
	safetyWait(t, "the end of the background refreshes", done)
}

// serveGuarded is ServeDNS failing the test instead of hanging it, for
// queries that must not wait for a held upstream.
func serveGuarded(t *testing.T, c *Cache, ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	t.Helper()
	var (
		m    *dns.Msg
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		m, err = c.ServeDNS(ctx, req)
	}()
	safetyWait(t, "the answer of "+req.Name, done)
	return m, err
}

func aRecord(t *testing.T, m *dns.Msg) string {
	t.Helper()
	if m == nil || len(m.Answer) != 1 {
		t.Fatalf("answer = %v, want one A record", m)
	}
	return m.Answer[0].(*dns.A).A.String()
}

func TestStaleAfter(t *testing.T) {
	fresh := reply(dns.RcodeSuccess, rrs(t, "example.com. 60 IN A 192.0.2.2"), nil, nil)
	tests := []struct {
		name      string
		slow      bool // next answers only after the timer fired
		result    *dns.Msg
		err       error
		wantFirst string // the A record served first
		wantStale bool
		wantLater string // then served from the cache, without asking next
		laterEDE  bool
	}{
		{name: "next slower than the timer, then refreshes the cache", slow: true, result: fresh, wantFirst: "192.0.2.1", wantStale: true, wantLater: "192.0.2.2"},
		{name: "next faster than the timer", result: fresh, wantFirst: "192.0.2.2", wantLater: "192.0.2.2"},
		{name: "next fails before the timer", err: errUpstreamDown, wantFirst: "192.0.2.1", wantStale: true, wantLater: "192.0.2.1", laterEDE: true},
		{name: "next fails after the timer", slow: true, err: errUpstreamDown, wantFirst: "192.0.2.1", wantStale: true, wantLater: "192.0.2.1", laterEDE: true},
		{name: "next SERVFAILs after the timer", slow: true, result: reply(dns.RcodeServerFailure, nil, nil, nil), wantFirst: "192.0.2.1", wantStale: true, wantLater: "192.0.2.1", laterEDE: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, timerOpts())
			timers := newManualTimers(f.c)
			primeExpired(t, f, "example.com.", aReply(t, "60"))
			f.next.set(tt.result, tt.err)
			if tt.slow {
				f.next.hold()
				close(timers.fire)
			}

			req := newReq("example.com.", dns.TypeA)
			m, err := serveGuarded(t, f.c, context.Background(), req)
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if got := aRecord(t, m); got != tt.wantFirst {
				t.Errorf("first answer %s, want %s", got, tt.wantFirst)
			}
			if stale := slices.Equal(edeCodes(m), []uint16{3}); stale != tt.wantStale {
				t.Errorf("first answer EDE %v, want stale %v", edeCodes(m), tt.wantStale)
			}
			wantOutcome := chain.OutcomeCached
			if !tt.wantStale {
				wantOutcome = chain.OutcomeForwarded // set by next on its copy
			}
			if req.Outcome != wantOutcome {
				t.Errorf("Outcome = %v, want %v", req.Outcome, wantOutcome)
			}
			if got := timers.started.Load(); got != 1 {
				t.Errorf("timers started = %d, want 1", got)
			}

			f.next.release()
			waitRefreshes(t, f.c)
			if n := f.c.inFlight(); n != 0 {
				t.Errorf("refreshes in flight = %d after they ended, want 0", n)
			}
			m = f.query(t, newReq("example.com.", dns.TypeA))
			if got := aRecord(t, m); got != tt.wantLater {
				t.Errorf("later answer %s, want %s", got, tt.wantLater)
			}
			if stale := len(edeCodes(m)) > 0; stale != tt.laterEDE {
				t.Errorf("later answer EDE %v, want stale %v", edeCodes(m), tt.laterEDE)
			}
			if got := f.next.calls.Load(); got != 2 {
				t.Errorf("next called %d times, want 2 (prime and one refresh)", got)
			}
		})
	}
}

func TestStaleAfterOneRefreshPerKey(t *testing.T) {
	const clients = 32
	f := newFixture(t, timerOpts())
	timers := newManualTimers(f.c)
	primeExpired(t, f, "example.com.", aReply(t, "60"))
	f.next.set(reply(dns.RcodeSuccess, rrs(t, "example.com. 60 IN A 192.0.2.2"), nil, nil), nil)
	f.next.hold()
	close(timers.fire)

	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			m, err := serveGuarded(t, f.c, context.Background(), newReq("example.com.", dns.TypeA))
			if err != nil || !slices.Equal(edeCodes(m), []uint16{3}) {
				t.Errorf("ServeDNS = (%v, %v), want a stale answer", m, err)
			}
		})
	}
	wg.Wait()
	// Every client has registered or joined its refresh by now, but the
	// refresh goroutine may not have reached next yet: count its calls
	// once it has ended.
	if got := f.c.inFlight(); got != 1 {
		t.Errorf("refreshes in flight = %d, want 1", got)
	}
	f.next.release()
	waitRefreshes(t, f.c)
	if got := f.next.calls.Load(); got != 2 {
		t.Errorf("next called %d times, want 2: one refresh shared by %d clients", got, clients)
	}
	if got := aRecord(t, f.query(t, newReq("example.com.", dns.TypeA))); got != "192.0.2.2" {
		t.Errorf("after the refresh: %s, want the fresh 192.0.2.2", got)
	}
}

func TestStaleAfterBoundedRefreshes(t *testing.T) {
	f := newFixture(t, timerOpts())
	f.c.maxRefreshes = 2
	timers := newManualTimers(f.c)
	names := []string{"a.example.", "b.example.", "c.example."}
	f.next.set(aReply(t, "60"), nil)
	for _, name := range names {
		f.query(t, newReq(name, dns.TypeA))
	}
	f.clock.Advance(61 * time.Second)
	f.next.hold()
	close(timers.fire)
	entered := make(chan string, 8)
	f.next.setHook(func(r *chain.Request) { entered <- r.Name })

	for _, name := range names[:2] {
		m, _ := serveGuarded(t, f.c, context.Background(), newReq(name, dns.TypeA))
		if !slices.Equal(edeCodes(m), []uint16{3}) {
			t.Errorf("%s: EDE %v, want stale from the timer", name, edeCodes(m))
		}
	}
	if got := f.c.inFlight(); got != 2 {
		t.Fatalf("refreshes in flight = %d, want 2", got)
	}

	// At the limit the query waits for next itself, starting no timer.
	type result struct {
		m   *dns.Msg
		err error
	}
	third := make(chan result, 1)
	go func() {
		m, err := f.c.ServeDNS(context.Background(), newReq(names[2], dns.TypeA))
		third <- result{m, err}
	}()
	for range 3 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second): // a guard against a hang only
			t.Fatal("next was not called for every name")
		}
	}
	if got := f.c.inFlight(); got != 2 {
		t.Errorf("refreshes in flight = %d, want still 2", got)
	}
	if got := timers.started.Load(); got != 2 {
		t.Errorf("timers started = %d, want 2 (none at the limit)", got)
	}
	f.next.release()
	r := <-third
	if r.err != nil || len(edeCodes(r.m)) != 0 || aRecord(t, r.m) != "192.0.2.1" {
		t.Errorf("query at the limit = (%v, %v), want next's fresh answer", r.m, r.err)
	}
	waitRefreshes(t, f.c)
	if got := f.c.inFlight(); got != 0 {
		t.Errorf("refreshes in flight = %d, want 0", got)
	}
}

func TestStaleAfterNoGoroutineLeak(t *testing.T) {
	const goroutines, ops, names, limit = 64, 20, 12, 4
	f := newFixture(t, timerOpts())
	f.c.maxRefreshes = limit
	timers := newManualTimers(f.c)
	f.next.set(aReply(t, "60"), nil)
	for i := range names {
		f.query(t, newReq(fmt.Sprintf("h%d.example.", i), dns.TypeA))
	}
	f.clock.Advance(61 * time.Second)
	f.next.set(nil, errUpstreamDown)
	f.next.hold()
	close(timers.fire)
	var peak atomic.Int64
	entered := make(chan struct{}, goroutines*ops)
	f.next.setHook(func(*chain.Request) {
		n := int64(f.c.inFlight())
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		entered <- struct{}{}
	})
	baseline := runtime.NumGoroutine()

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range ops {
				m, err := f.c.ServeDNS(context.Background(), newReq(fmt.Sprintf("h%d.example.", (g+i)%names), dns.TypeA))
				if err != nil || len(m.Answer) != 1 || !slices.Equal(edeCodes(m), []uint16{3}) {
					t.Errorf("ServeDNS = (%v, %v), want a stale answer", m, err)
					return
				}
			}
		})
	}
	// Hold the upstream until the limit is full and queries wait beside it.
	for range 2 * limit {
		select {
		case <-entered:
		case <-time.After(10 * time.Second): // a guard against a hang only
			t.Fatal("next was not called")
		}
	}
	f.next.release()
	wg.Wait()
	waitRefreshes(t, f.c)

	if got := peak.Load(); got > limit {
		t.Errorf("peak refreshes in flight = %d, want at most %d", got, limit)
	}
	if got := f.metric(t, "dijk_cache_stale_answers_total"); got != goroutines*ops {
		t.Errorf("stale answers = %v, want %d", got, goroutines*ops)
	}
	// Bounded polling: goroutines that called Done still need a moment to exit.
	for i := 0; runtime.NumGoroutine() > baseline; i++ {
		if i == 500 {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines = %d, want the baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestCloseEndsRefreshes(t *testing.T) {
	f := newFixture(t, timerOpts())
	timers := newManualTimers(f.c)
	primeExpired(t, f, "example.com.", aReply(t, "60"))
	f.next.set(aReply(t, "60"), nil)
	f.next.hold() // a hung upstream: only the refresh's context ends the call
	close(timers.fire)
	if m, _ := serveGuarded(t, f.c, context.Background(), newReq("example.com.", dns.TypeA)); !slices.Equal(edeCodes(m), []uint16{3}) {
		t.Fatalf("EDE %v, want a stale answer", edeCodes(m))
	}

	closed := make(chan struct{})
	go func() {
		f.c.Close()
		f.c.Close() // idempotent
		close(closed)
	}()
	safetyWait(t, "Close", closed)
	if got := f.c.inFlight(); got != 0 {
		t.Errorf("refreshes in flight = %d after Close, want 0", got)
	}

	// The cancelled refresh neither dropped the stale entry nor counted as
	// an upstream failure; after Close queries ask next themselves.
	f.next.release()
	f.next.set(nil, errUpstreamDown)
	m := f.query(t, newReq("example.com.", dns.TypeA))
	if !slices.Equal(edeCodes(m), []uint16{3}) || aRecord(t, m) != "192.0.2.1" {
		t.Errorf("after Close: %v, want the stale answer", m)
	}
	if got := timers.started.Load(); got != 1 {
		t.Errorf("timers started = %d, want 1 (none after Close)", got)
	}
	if got := f.next.calls.Load(); got != 3 {
		t.Errorf("next called %d times, want 3", got)
	}
}

func TestStaleAfterQueryContext(t *testing.T) {
	tests := []struct {
		name      string
		ctx       func() (context.Context, context.CancelFunc)
		wantErr   error
		wantStale bool
		selfEnds  bool // the refresh ends without the upstream answering
	}{
		{
			name: "client went away",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			wantErr: context.Canceled,
		},
		{
			// The refresh inherits the query's deadline, so a hung
			// upstream cannot hold it forever.
			name: "query deadline passed",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Unix(1, 0))
			},
			wantStale: true,
			selfEnds:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, timerOpts())
			newManualTimers(f.c) // never fires
			primeExpired(t, f, "example.com.", aReply(t, "60"))
			f.next.hold()
			ctx, cancel := tt.ctx()
			defer cancel()

			m, err := serveGuarded(t, f.c, ctx, newReq("example.com.", dns.TypeA))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantStale != (m != nil && slices.Equal(edeCodes(m), []uint16{3})) {
				t.Errorf("answer = %v, want stale %v", m, tt.wantStale)
			}
			if tt.selfEnds {
				waitRefreshes(t, f.c)
			}
			f.next.release()
			waitRefreshes(t, f.c)
		})
	}
}

func TestStaleAfterPanicInNext(t *testing.T) {
	f := newFixture(t, timerOpts())
	newManualTimers(f.c) // never fires
	primeExpired(t, f, "example.com.", aReply(t, "60"))
	f.next.setHook(func(*chain.Request) { panic("bug in next") })

	m, err := f.c.ServeDNS(context.Background(), newReq("example.com.", dns.TypeA))
	if err != nil || !slices.Equal(edeCodes(m), []uint16{3}) {
		t.Errorf("ServeDNS = (%v, %v), want a stale answer, the panic taken as a failure", m, err)
	}
	waitRefreshes(t, f.c)
}
