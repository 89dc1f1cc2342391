package soc

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// t0 is an arbitrary fixed start, mid-hour so hour boundaries are exercised.
func t0() time.Time { return time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC) }

// fakeClock is the injected clock: tests move it, never sleep.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newTestRecorder returns a recorder on a fake clock at t0() and its registry.
func newTestRecorder(t testing.TB, opts Options) (*Recorder, *fakeClock, *prometheus.Registry) {
	t.Helper()
	clock := newFakeClock(t0())
	reg := prometheus.NewRegistry()
	opts.Now, opts.Registerer = clock.Now, reg
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r, clock, reg
}

// hit builds a block event the way the policy handler does.
func hit(client, name string, at time.Time) hitlog.Event {
	return hitlog.Event{
		Time:      at,
		Client:    netip.AddrPortFrom(netip.MustParseAddr(client), 53124),
		Transport: "udp",
		QueryID:   4242,
		Name:      name,
		Type:      "A",
		Class:     "IN",
		Rule:      "deepseek.com",
		Source:    "builtin:deepseek",
		Line:      12,
		Action:    "nxdomain",
		Rcode:     "NXDOMAIN",
		Kind:      hitlog.KindBlock,
	}
}

// with returns e changed by f, for table rows that differ in one field.
func with(e hitlog.Event, f func(*hitlog.Event)) hitlog.Event {
	f(&e)
	return e
}
