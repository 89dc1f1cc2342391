package soc

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// BenchmarkRecorderLog measures Log under contention from all Ps, as the
// policy handler calls it from every query goroutine.
func BenchmarkRecorderLog(b *testing.B) {
	b.Run("repeat devices and names", func(b *testing.B) {
		// Steady state: 1,000 known devices, 20 names; must not allocate.
		events := make([]hitlog.Event, 1000)
		for i := range events {
			events[i] = hit(fmt.Sprintf("10.0.%d.%d", i/250, i%250), fmt.Sprintf("n%d.deepseek.com", i%20), t0())
		}
		r, _, _ := newTestRecorder(b, Options{})
		for _, e := range events {
			r.Log(e)
		}
		benchLog(b, r, func(i uint64) hitlog.Event { return events[i%uint64(len(events))] })
	})
	b.Run("new devices with eviction", func(b *testing.B) {
		// Worst case: every hit is a device never seen, the table is full,
		// so each Log evicts one. Addresses are made outside the timed path.
		r, _, _ := newTestRecorder(b, Options{MaxDevices: 1000})
		base := hit("10.0.0.1", "chat.deepseek.com", t0())
		benchLog(b, r, func(i uint64) hitlog.Event {
			e := base
			e.Client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 53)
			return e
		})
	})
}

func BenchmarkRecorderLogNewNames(b *testing.B) {
	// A flood of random subdomains (the bench/ blocked workload, or a
	// tunnel): every hit is a name never seen, with the name table full.
	r, _, _ := newTestRecorder(b, Options{})
	for i := range DefaultMaxNames {
		r.Log(hit("10.0.0.1", fmt.Sprintf("warm%d.deepseek.com", i), t0()))
	}
	const distinct = 1 << 16
	events := make([]hitlog.Event, distinct)
	for i := range events {
		events[i] = hit("10.0.0.1", fmt.Sprintf("r%x.deepseek.com", i), t0())
	}
	benchLog(b, r, func(i uint64) hitlog.Event { return events[i%distinct] })
}

func benchLog(b *testing.B, r *Recorder, event func(uint64) hitlog.Event) {
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine walks its own stride so goroutines hit different
		// devices, as different clients would.
		i := seq.Add(1) * 7919
		for pb.Next() {
			r.Log(event(i))
			i++
		}
	})
}

// fullRecorder has a full default device table and 500 names.
func fullRecorder(b *testing.B) *Recorder {
	r, _, _ := newTestRecorder(b, Options{})
	for i := range DefaultMaxDevices {
		r.Log(hit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String(), fmt.Sprintf("n%d.deepseek.com", i%500), t0().Add(time.Duration(i))))
	}
	return r
}

// BenchmarkStats measures a stats request with a full device table: the
// whole call, and the part of it that holds the lock Log waits on.
func BenchmarkStats(b *testing.B) {
	r := fullRecorder(b)
	for _, sort := range []DeviceSort{ByLastSeen, ByCount} {
		b.Run(string(sort), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Stats(StatsQuery{Devices: consoleDevices, Sort: sort}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("locked part of count", func(b *testing.B) {
		// Sorting by count copies every key under the lock; the selection
		// and sorting run unlocked.
		keys := make([]devKey, 0, DefaultMaxDevices)
		for b.Loop() {
			r.mu.Lock()
			keys = r.deviceKeys(keys[:0])
			r.mu.Unlock()
		}
	})
	b.Run("locked part of last_seen", func(b *testing.B) {
		for b.Loop() {
			r.mu.Lock()
			r.recentDevices(consoleDevices)
			r.mu.Unlock()
		}
	})
}
