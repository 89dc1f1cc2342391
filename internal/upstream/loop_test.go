package upstream

import (
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

// TestForwardingLoop builds a real loop: the "upstream" on 127.0.0.2 sends
// every query back into the Forwarder, as a Dijk that forwards to us would.
func TestForwardingLoop(t *testing.T) {
	var fwd atomic.Pointer[testForwarder]
	var loopErrs atomic.Int64
	var upstreamIP = netip.MustParseAddr("127.0.0.2")
	fake := startFake(t, upstreamIP.String(), false, func(w dns.ResponseWriter, r *dns.Msg) {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		defer cancel()
		from := netip.AddrPortFrom(upstreamIP, 53)
		m, err := fwd.Load().ServeDNS(ctx, requestFor(r, from))
		if err != nil {
			if errors.Is(err, ErrLoop) {
				loopErrs.Add(1)
			}
			reply(w, r, dns.RcodeServerFailure) // what the server makes of an error
			return
		}
		m.SetReply(r)
		_ = w.WriteMsg(m)
	})
	f := newTestForwarder(t, 2*time.Second, fake.addr)
	fwd.Store(f)

	for i, step := range []struct {
		advance  time.Duration
		wantWarn int
	}{
		{wantWarn: 1},
		{advance: time.Second, wantWarn: 1}, // within a minute: no second warning
		{advance: 2 * time.Minute, wantWarn: 2},
	} {
		f.clock.Advance(step.advance)
		before := fake.total()
		m, err := serve(t, f.Forwarder, newRequest("loop.example.", dns.TypeA))
		if err == nil && m.Rcode != dns.RcodeServerFailure {
			t.Fatalf("query %d: got %s, want SERVFAIL or an error", i, dns.RcodeToString[m.Rcode])
		}
		if n := fake.total() - before; n != 1 {
			t.Errorf("query %d: upstream saw %d queries, want 1 (the loop must not amplify)", i, n)
		}
		if got := loopErrs.Load(); got != int64(i+1) {
			t.Errorf("query %d: %d looped queries got ErrLoop, want %d", i, got, i+1)
		}
		if got := testutil.ToFloat64(f.metrics.loops); got != float64(i+1) {
			t.Errorf("query %d: dijk_upstream_loops_total = %v, want %d", i, got, i+1)
		}
		if got := f.logs.count("forwarding loop"); got != step.wantWarn {
			t.Errorf("query %d: %d loop warnings logged, want %d", i, got, step.wantWarn)
		}
	}
}

func TestLoopDetection(t *testing.T) {
	tests := []struct {
		name     string
		client   string
		inFlight bool // the same query is already being forwarded
		wantLoop bool
		// production keeps the default: a loopback client is a local
		// program, never taken for a looping upstream.
		production bool
	}{
		{name: "from an upstream while in flight", client: "127.0.0.1:40000", inFlight: true, wantLoop: true},
		{name: "from an upstream, not in flight", client: "127.0.0.1:40000"},
		{name: "from an upstream as IPv4-mapped IPv6, in flight", client: "[::ffff:127.0.0.1]:40000", inFlight: true, wantLoop: true},
		{name: "from another client while in flight", client: "192.0.2.77:40000", inFlight: true},
		{name: "local client sharing a loopback upstream's address joins the flight", client: "127.0.0.1:40000", inFlight: true, production: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, release := gatedFake(t)
			f := newTestForwarder(t, hangGuard, fake.addr)
			if tt.production {
				f.loopbackLoops = false
			}
			first := make(chan error, 1)
			if tt.inFlight {
				go func() {
					_, err := serve(t, f.Forwarder, newRequest("detect.example.", dns.TypeA))
					first <- err
				}()
				waitFor(t, "the first query to reach the upstream", func() bool { return fake.total() == 1 })
			} else {
				release()
				first <- nil
			}

			req := requestFor(new(dns.Msg).SetQuestion("detect.example.", dns.TypeA), netip.MustParseAddrPort(tt.client))
			done := make(chan error, 1)
			go func() {
				_, err := serve(t, f.Forwarder, req)
				done <- err
			}()
			if tt.wantLoop {
				// Detected without waiting for the in-flight exchange.
				if err := <-done; !errors.Is(err, ErrLoop) {
					t.Errorf("got %v, want ErrLoop", err)
				}
				release()
			} else {
				if tt.inFlight {
					// Two callers plus the exchange.
					waitFor(t, "the query to join", func() bool { return f.holders(flightKey(req)) == 3 })
					release()
				}
				if err := <-done; err != nil || req.Outcome != chain.OutcomeForwarded {
					t.Errorf("got %v (outcome %v), want a forwarded answer", err, req.Outcome)
				}
			}
			if err := <-first; err != nil {
				t.Errorf("first query: %v", err)
			}
			if n := fake.total(); n != 1 {
				t.Errorf("upstream saw %d queries, want 1", n)
			}
		})
	}
}

// TestLoopAfterCallerGaveUp: the exchange is still in flight after its only
// caller left, so a query looped back now is still a loop.
func TestLoopAfterCallerGaveUp(t *testing.T) {
	fake, release := gatedFake(t)
	f := newTestForwarder(t, hangGuard, fake.addr)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := f.ServeDNS(ctx, newRequest("gaveup.example.", dns.TypeA))
		first <- err
	}()
	waitFor(t, "the query to reach the upstream", func() bool { return fake.total() == 1 })
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller got %v, want context.Canceled", err)
	}

	looped := requestFor(new(dns.Msg).SetQuestion("gaveup.example.", dns.TypeA), netip.MustParseAddrPort("127.0.0.1:40000"))
	if _, err := serve(t, f.Forwarder, looped); !errors.Is(err, ErrLoop) {
		t.Errorf("looped query got %v, want ErrLoop", err)
	}
	release()
}
