package ratelimit

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

func newLimiter(t *testing.T, opts Options) (*Limiter, *clock, *atomic.Int64) {
	t.Helper()
	clk := &clock{t: time.Unix(1795000000, 0)}
	opts.Now = clk.now
	var passed atomic.Int64
	l, err := New(opts, chain.HandlerFunc(func(context.Context, *chain.Request) (*dns.Msg, error) {
		passed.Add(1)
		return &dns.Msg{}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return l, clk, &passed
}

func request(client, transport string) *chain.Request {
	q := new(dns.Msg).SetQuestion("example.org.", dns.TypeA)
	return &chain.Request{ID: q.Id, Question: q.Question[0], Name: "example.org.",
		Client: netip.MustParseAddrPort(client), Transport: transport}
}

// outcome sends one query and says what the client got.
func outcome(t *testing.T, l *Limiter, client, transport string) string {
	t.Helper()
	resp, err := l.ServeDNS(context.Background(), request(client, transport))
	switch {
	case errors.Is(err, chain.ErrDrop):
		return "dropped"
	case err != nil:
		t.Fatal(err)
	case resp.Truncated:
		return "truncated"
	}
	return "answered"
}

func TestBucketAndSlip(t *testing.T) {
	l, clk, _ := newLimiter(t, Options{QPS: 10, Burst: 3, Slip: 2})
	var got []string
	for range 6 {
		got = append(got, outcome(t, l, "192.0.2.1:1000", "udp"))
	}
	want := []string{"answered", "answered", "answered", "dropped", "truncated", "dropped"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("burst sequence = %v, want %v", got, want)
		}
	}
	clk.add(100 * time.Millisecond) // one token at 10 qps
	if o := outcome(t, l, "192.0.2.1:1000", "udp"); o != "answered" {
		t.Errorf("after refill: %s, want answered", o)
	}
	if o := outcome(t, l, "192.0.2.1:1000", "udp"); o == "answered" {
		t.Error("second query after a one-token refill was answered")
	}
	clk.add(time.Hour) // refill never exceeds the burst
	for i := range 4 {
		o := outcome(t, l, "192.0.2.1:1000", "udp")
		if (i < 3) != (o == "answered") {
			t.Errorf("after a long pause, query %d: %s", i, o)
		}
	}
}

func TestFloodFromOneClientDoesNotStarveAnother(t *testing.T) {
	l, _, passed := newLimiter(t, Options{QPS: 50, Burst: 50, Slip: 2})
	const flood = 10_000
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range flood / 4 {
				_, _ = l.ServeDNS(context.Background(), request("192.0.2.66:4000", "udp"))
			}
		}()
	}
	wg.Wait()
	if p := passed.Load(); p != 50 {
		t.Errorf("flooding client got %d answers through, want the burst of 50", p)
	}
	for i := range 20 {
		if o := outcome(t, l, "192.0.2.7:5000", "udp"); o != "answered" {
			t.Fatalf("other client's query %d: %s, want answered", i, o)
		}
	}
}

func TestTCPAndDisabledAreNotLimited(t *testing.T) {
	l, _, _ := newLimiter(t, Options{QPS: 1, Burst: 1})
	for range 10 {
		if o := outcome(t, l, "192.0.2.1:1000", "tcp"); o != "answered" {
			t.Fatalf("tcp query: %s, want answered", o)
		}
	}
	off, _, _ := newLimiter(t, Options{})
	for range 100 {
		if o := outcome(t, off, "192.0.2.1:1000", "udp"); o != "answered" {
			t.Fatalf("limiter off: %s", o)
		}
	}
}

func TestMaxClientsBoundsMemory(t *testing.T) {
	l, _, _ := newLimiter(t, Options{QPS: 1, Burst: 1, MaxClients: 100})
	for i := range 1000 {
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		_, _ = l.ServeDNS(context.Background(), request(netip.AddrPortFrom(addr, 53).String(), "udp"))
	}
	if n := l.clients.Len(); n != 100 {
		t.Errorf("tracked clients = %d, want the cap of 100", n)
	}
}
