package soc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"defaults", Options{}, ""},
		{"negative ring", Options{RingSize: -1}, "ring size -1"},
		{"negative devices", Options{MaxDevices: -5}, "max devices -5"},
		{"negative names per device", Options{NamesPerDevice: -1}, "names per device -1"},
		{"negative names", Options{MaxNames: -1}, "max names -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	_, err := New(Options{Registerer: reg})
	if err == nil || !strings.Contains(err.Error(), "register soc metrics") {
		t.Fatalf("second New on one registry: err = %v, want a registration error", err)
	}
}

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		logged int
		want   []string // names, newest first
	}{
		{"empty", 3, 0, nil},
		{"partly filled", 3, 2, []string{"n1.deepseek.com", "n0.deepseek.com"}},
		{"exactly full", 3, 3, []string{"n2.deepseek.com", "n1.deepseek.com", "n0.deepseek.com"}},
		{"wrapped keeps newest", 3, 7, []string{"n6.deepseek.com", "n5.deepseek.com", "n4.deepseek.com"}},
		{"size one", 1, 4, []string{"n3.deepseek.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := newTestRecorder(t, Options{RingSize: tt.size})
			for i := range tt.logged {
				r.Log(hit("192.0.2.1", fmt.Sprintf("n%d.deepseek.com", i), t0().Add(time.Duration(i)*time.Second)))
			}
			got, more := r.Hits(HitQuery{})
			if more {
				t.Error("more = true, want false")
			}
			var names []string
			for _, e := range got {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("hits = %v, want %v", names, tt.want)
			}
			s, err := r.Stats(StatsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if s.Totals.Hits != uint64(tt.logged) {
				t.Errorf("totals.hits = %d, want %d (the ring must not bound the totals)", s.Totals.Hits, tt.logged)
			}
			if s.Totals.RecentHits != len(tt.want) {
				t.Errorf("totals.recent_hits = %d, want %d", s.Totals.RecentHits, len(tt.want))
			}
		})
	}
}

func TestHitsFilters(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	events := []hitlog.Event{
		hit("192.0.2.1", "chat.deepseek.com", t0()),
		hit("192.0.2.2", "api.deepseek.com.", t0().Add(time.Minute)),
		with(hit("192.0.2.1", "dns.google", t0().Add(2*time.Minute)), func(e *hitlog.Event) {
			e.Source, e.Rule, e.Kind = "builtin:doh-bypass", "dns.google", hitlog.KindBypass
		}),
		// The same device reaching a dual-stack socket.
		with(hit("192.0.2.1", "cdn.deepseek.com", t0().Add(3*time.Minute)), func(e *hitlog.Event) {
			e.Client = netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.1"), 5353)
		}),
		hit("2001:db8::7", "chat.deepseek.com", t0().Add(4*time.Minute)),
	}
	for _, e := range events {
		r.Log(e)
	}
	tests := []struct {
		name     string
		q        HitQuery
		want     []string
		wantMore bool
	}{
		{"all newest first", HitQuery{}, []string{"chat.deepseek.com", "cdn.deepseek.com", "dns.google", "api.deepseek.com.", "chat.deepseek.com"}, false},
		{"client matches mapped and plain", HitQuery{Client: netip.MustParseAddr("192.0.2.1")}, []string{"cdn.deepseek.com", "dns.google", "chat.deepseek.com"}, false},
		{"client given mapped", HitQuery{Client: netip.MustParseAddr("::ffff:192.0.2.2")}, []string{"api.deepseek.com."}, false},
		{"ipv6 client", HitQuery{Client: netip.MustParseAddr("2001:db8::7")}, []string{"chat.deepseek.com"}, false},
		{"unknown client", HitQuery{Client: netip.MustParseAddr("198.51.100.1")}, nil, false},
		{"since is inclusive", HitQuery{Since: t0().Add(3 * time.Minute)}, []string{"chat.deepseek.com", "cdn.deepseek.com"}, false},
		{"list", HitQuery{List: "builtin:doh-bypass"}, []string{"dns.google"}, false},
		{"kind bypass", HitQuery{Kind: hitlog.KindBypass}, []string{"dns.google"}, false},
		{"kind block", HitQuery{Kind: hitlog.KindBlock, Client: netip.MustParseAddr("192.0.2.1")}, []string{"cdn.deepseek.com", "chat.deepseek.com"}, false},
		{"limit with more", HitQuery{Limit: 2}, []string{"chat.deepseek.com", "cdn.deepseek.com"}, true},
		{"limit exactly the matches", HitQuery{Limit: 1, List: "builtin:doh-bypass"}, []string{"dns.google"}, false},
		{"filters combine", HitQuery{Client: netip.MustParseAddr("192.0.2.1"), Since: t0().Add(time.Minute), List: "builtin:deepseek"}, []string{"cdn.deepseek.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, more := r.Hits(tt.q)
			var names []string
			for _, e := range got {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("hits = %v, want %v", names, tt.want)
			}
			if more != tt.wantMore {
				t.Errorf("more = %v, want %v", more, tt.wantMore)
			}
		})
	}
}

func TestDeviceStats(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{NamesPerDevice: 2})
	dev := "192.0.2.77"
	r.Log(hit(dev, "chat.deepseek.com", t0().Add(time.Minute)))
	r.Log(hit(dev, "chat.deepseek.com.", t0().Add(3*time.Minute))) // same name, trailing dot
	r.Log(hit(dev, "api.deepseek.com", t0()))                      // arrives late: an earlier first seen
	r.Log(hit(dev, "cdn.deepseek.com", t0().Add(2*time.Minute)))   // third name: over the cap
	r.Log(with(hit(dev, "dns.google", t0().Add(2*time.Minute)), func(e *hitlog.Event) { e.Kind = hitlog.KindBypass }))
	r.Log(hit("192.0.2.78", "chat.deepseek.com", t0().Add(time.Second)))

	s, err := r.Stats(StatsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Devices) != 2 {
		t.Fatalf("devices = %d, want 2", len(s.Devices))
	}
	// Default order is by last seen: 192.0.2.78 arrived last, but its hit is older.
	if got := s.Devices[1].Client.IP.String(); got != "192.0.2.78" {
		t.Errorf("second device = %s, want 192.0.2.78, last seen before 192.0.2.77", got)
	}
	d := s.Devices[0]
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"client", d.Client.IP.String(), dev},
		{"first seen is the earliest hit", d.FirstSeen, t0()},
		{"last seen is the latest hit", d.LastSeen, t0().Add(3 * time.Minute)},
		{"count", d.Count, uint64(5)},
		{"bypass", d.Bypass, uint64(1)},
		{"names capped, first seen order", strings.Join(d.Names, ","), "chat.deepseek.com,api.deepseek.com"},
		{"names truncated", d.NamesTruncated, true},
		{"totals hits", s.Totals.Hits, uint64(6)},
		{"totals bypass", s.Totals.Bypass, uint64(1)},
		{"totals first hit", s.Totals.FirstHit, t0()},
		{"totals last hit", s.Totals.LastHit, t0().Add(3 * time.Minute)},
		{"devices seen", s.Totals.DevicesSeen, uint64(2)},
		{"devices tracked", s.Totals.DevicesTracked, 2},
		{"started", s.Started, t0()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestDeviceSort(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	// a: first seen earliest, 1 hit; b: 3 hits; c: most recent.
	r.Log(hit("192.0.2.1", "x.deepseek.com", t0()))
	for i := range 3 {
		r.Log(hit("192.0.2.2", "x.deepseek.com", t0().Add(time.Duration(i+1)*time.Minute)))
	}
	r.Log(hit("192.0.2.3", "x.deepseek.com", t0().Add(10*time.Minute)))
	r.Log(hit("192.0.2.3", "x.deepseek.com", t0().Add(11*time.Minute)))

	tests := []struct {
		name string
		q    StatsQuery
		want []string
	}{
		{"default is last seen", StatsQuery{}, []string{"192.0.2.3", "192.0.2.2", "192.0.2.1"}},
		{"last seen", StatsQuery{Sort: ByLastSeen}, []string{"192.0.2.3", "192.0.2.2", "192.0.2.1"}},
		{"count", StatsQuery{Sort: ByCount}, []string{"192.0.2.2", "192.0.2.3", "192.0.2.1"}},
		{"first seen", StatsQuery{Sort: ByFirstSeen}, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}},
		{"count limited", StatsQuery{Sort: ByCount, Devices: 1}, []string{"192.0.2.2"}},
		{"first seen limited", StatsQuery{Sort: ByFirstSeen, Devices: 2}, []string{"192.0.2.1", "192.0.2.2"}},
		{"last seen limited", StatsQuery{Devices: 2}, []string{"192.0.2.3", "192.0.2.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := r.Stats(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range s.Devices {
				got = append(got, d.Client.IP.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("devices = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := r.Stats(StatsQuery{Sort: "bogus"}); err == nil {
		t.Error("Stats with an unknown sort: no error")
	}
}

func TestDeviceEviction(t *testing.T) {
	r, _, reg := newTestRecorder(t, Options{MaxDevices: 2})
	steps := []struct {
		name        string
		client      string
		wantDevices []string // most recent first
		wantNew     float64
		wantEvicted float64
	}{
		{"first device", "192.0.2.1", []string{"192.0.2.1"}, 1, 0},
		{"second device", "192.0.2.2", []string{"192.0.2.2", "192.0.2.1"}, 2, 0},
		{"repeat refreshes recency", "192.0.2.1", []string{"192.0.2.1", "192.0.2.2"}, 2, 0},
		{"third evicts least recently seen", "192.0.2.3", []string{"192.0.2.3", "192.0.2.1"}, 3, 1},
		{"evicted device returns as new", "192.0.2.2", []string{"192.0.2.2", "192.0.2.3"}, 4, 2},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r.Log(hit(st.client, "chat.deepseek.com", t0().Add(time.Duration(i)*time.Second)))
			s, err := r.Stats(StatsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range s.Devices {
				got = append(got, d.Client.IP.String())
			}
			if !slices.Equal(got, st.wantDevices) {
				t.Errorf("devices = %v, want %v", got, st.wantDevices)
			}
			if n := testutil.ToFloat64(r.newDevices); n != st.wantNew {
				t.Errorf("dijk_soc_new_devices_total = %v, want %v", n, st.wantNew)
			}
			if n := testutil.ToFloat64(r.evictions); n != st.wantEvicted {
				t.Errorf("dijk_soc_device_evictions_total = %v, want %v", n, st.wantEvicted)
			}
			if s.Totals.DevicesEvicted != uint64(st.wantEvicted) || s.Totals.DevicesSeen != uint64(st.wantNew) {
				t.Errorf("totals seen/evicted = %d/%d, want %v/%v", s.Totals.DevicesSeen, s.Totals.DevicesEvicted, st.wantNew, st.wantEvicted)
			}
		})
	}
	// An evicted device starts afresh: count 1, first seen at its return.
	s, _ := r.Stats(StatsQuery{})
	if d := s.Devices[0]; d.Count != 1 || !d.FirstSeen.Equal(t0().Add(4*time.Second)) || len(d.Names) != 1 {
		t.Errorf("returned device = %+v, want a fresh entry", d)
	}
	const metrics = `
# HELP dijk_soc_devices Devices in the SOC device table.
# TYPE dijk_soc_devices gauge
dijk_soc_devices 2
# HELP dijk_soc_new_devices_total Client addresses blocked for the first time since start (or since they were evicted from the device table).
# TYPE dijk_soc_new_devices_total counter
dijk_soc_new_devices_total 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(metrics), "dijk_soc_devices", "dijk_soc_new_devices_total"); err != nil {
		t.Error(err)
	}
}

func TestTopNames(t *testing.T) {
	tests := []struct {
		name     string
		maxNames int
		logs     []string
		want     []string // "name=count" or "name<=count" for estimates
	}{
		{"counts and orders", 10,
			[]string{"a.deepseek.com", "b.deepseek.com", "b.deepseek.com.", "c.deepseek.com", "b.deepseek.com", "c.deepseek.com"},
			[]string{"b.deepseek.com=3", "c.deepseek.com=2", "a.deepseek.com=1"}},
		{"heavy hitter survives a flood of new names", 2,
			[]string{"chat.deepseek.com", "chat.deepseek.com", "chat.deepseek.com", "r1.deepseek.com", "r2.deepseek.com", "r3.deepseek.com"},
			[]string{"chat.deepseek.com=3", "r3.deepseek.com<=3"}},
		{"replacement inherits the minimum", 1,
			[]string{"a.deepseek.com", "b.deepseek.com"},
			[]string{"b.deepseek.com<=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, _ := newTestRecorder(t, Options{MaxNames: tt.maxNames})
			for i, n := range tt.logs {
				r.Log(hit("192.0.2.1", n, t0().Add(time.Duration(i)*time.Second)))
			}
			s, err := r.Stats(StatsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range s.TopNames {
				op := "="
				if n.Overcount > 0 {
					op = "<="
				}
				got = append(got, fmt.Sprintf("%s%s%d", n.DNS.Question.Name, op, n.Count))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("top names = %v, want %v", got, tt.want)
			}
			if s.Totals.NamesTracked > tt.maxNames {
				t.Errorf("names tracked = %d, above the cap %d", s.Totals.NamesTracked, tt.maxNames)
			}
		})
	}
}

func TestTopNamesSummaryInvariant(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{MaxNames: 16})
	exact := map[string]uint64{}
	// A skewed stream: name i appears with weight i%7+1, repeated.
	for i := range 2000 {
		n := i % 37
		for range n%7 + 1 {
			name := fmt.Sprintf("h%d.deepseek.com", n)
			exact[name]++
			r.Log(hit("192.0.2.1", name, t0()))
		}
	}
	tn := &r.names
	seen := 0
	var prev *countBucket
	for b := tn.min; b != nil; b = b.next {
		if b.prev != prev {
			t.Fatalf("bucket %d: back link broken", b.count)
		}
		if prev != nil && prev.count >= b.count {
			t.Fatalf("buckets out of order: %d before %d", prev.count, b.count)
		}
		if b.entries == nil {
			t.Fatalf("empty bucket %d kept", b.count)
		}
		var prevE *nameEntry
		for e := b.entries; e != nil; e = e.next {
			if e.bucket != b || e.prev != prevE {
				t.Fatalf("entry %q: links broken", e.name)
			}
			if tn.byHash[tn.hash(string(e.name))] != e {
				t.Fatalf("index map disagrees for %q", e.name)
			}
			// Space-saving's guarantee: count-overcount <= true <= count.
			if c := e.count(); exact[string(e.name)] > c || c-e.overcount > exact[string(e.name)] {
				t.Fatalf("%q: count %d overcount %d, true %d", e.name, c, e.overcount, exact[string(e.name)])
			}
			prevE = e
			seen++
		}
		prev = b
	}
	if seen != tn.len() || seen != 16 {
		t.Fatalf("%d entries in buckets, %d in the map, want 16", seen, tn.len())
	}
}

func TestPerHour(t *testing.T) {
	tests := []struct {
		name string
		hits []time.Time
		now  time.Time
		want map[int]uint64 // index in per_hour (47 = current hour) → count
	}{
		{"none", nil, t0(), map[int]uint64{}},
		{"current hour", []time.Time{t0(), t0().Add(29 * time.Minute)}, t0(), map[int]uint64{47: 2}},
		{"hour boundaries", []time.Time{t0().Add(-31 * time.Minute), t0().Add(-30 * time.Minute), t0().Add(-29 * time.Minute)}, t0(), map[int]uint64{46: 1, 47: 2}},
		{"window start is included", []time.Time{t0().Add(-47 * time.Hour)}, t0(), map[int]uint64{0: 1}},
		{"older than the window is not shown", []time.Time{t0().Add(-48 * time.Hour)}, t0(), map[int]uint64{}},
		{"bucket reused by a later hour", []time.Time{t0().Add(-48 * time.Hour), t0()}, t0(), map[int]uint64{47: 1}},
		{"late hit for a reused bucket is dropped", []time.Time{t0(), t0().Add(-48 * time.Hour)}, t0(), map[int]uint64{47: 1}},
		{"window moves with the clock", []time.Time{t0()}, t0().Add(3 * time.Hour), map[int]uint64{44: 1}},
		{"future hits are not shown", []time.Time{t0().Add(2 * time.Hour)}, t0(), map[int]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, clock, _ := newTestRecorder(t, Options{})
			for _, at := range tt.hits {
				r.Log(hit("192.0.2.1", "chat.deepseek.com", at))
			}
			clock.Set(tt.now)
			s, err := r.Stats(StatsQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.PerHour) != hourWindow {
				t.Fatalf("per_hour has %d entries, want %d", len(s.PerHour), hourWindow)
			}
			cur := tt.now.Truncate(time.Hour)
			for i, h := range s.PerHour {
				if want := cur.Add(time.Duration(i-47) * time.Hour); !h.Start.Equal(want) {
					t.Errorf("per_hour[%d].start = %v, want %v", i, h.Start, want)
				}
				if h.Count != tt.want[i] {
					t.Errorf("per_hour[%d] (%v) = %d, want %d", i, h.Start, h.Count, tt.want[i])
				}
			}
		})
	}
}

func TestPerList(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	for i, src := range []string{"builtin:deepseek", "builtin:doh-bypass", "builtin:deepseek", "/etc/dijk/local.txt", "builtin:deepseek"} {
		r.Log(with(hit("192.0.2.1", "x.deepseek.com", t0().Add(time.Duration(i))), func(e *hitlog.Event) { e.Source = src }))
	}
	s, err := r.Stats(StatsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range s.PerList {
		got = append(got, fmt.Sprintf("%s=%d", l.Dijk.List, l.Count))
	}
	want := []string{"builtin:deepseek=3", "/etc/dijk/local.txt=1", "builtin:doh-bypass=1"}
	if !slices.Equal(got, want) {
		t.Errorf("per_list = %v, want %v", got, want)
	}
}

func TestPerListBounded(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	for i := range maxLists + 5 {
		r.Log(with(hit("192.0.2.1", "x.deepseek.com", t0()), func(e *hitlog.Event) { e.Source = fmt.Sprintf("/lists/%d", i) }))
	}
	s, _ := r.Stats(StatsQuery{})
	if len(s.PerList) != maxLists+1 {
		t.Fatalf("per_list has %d entries, want %d (the cap plus %q)", len(s.PerList), maxLists+1, otherLists)
	}
	if s.PerList[0].Dijk.List != otherLists || s.PerList[0].Count != 5 {
		t.Errorf("first per_list entry = %+v, want %q with 5", s.PerList[0], otherLists)
	}
}

func TestLogZeroTimeUsesClock(t *testing.T) {
	r, clock, _ := newTestRecorder(t, Options{})
	clock.Set(t0().Add(time.Hour))
	r.Log(hit("192.0.2.1", "chat.deepseek.com", time.Time{}))
	got, _ := r.Hits(HitQuery{})
	if len(got) != 1 || !got[0].Time.Equal(t0().Add(time.Hour)) {
		t.Fatalf("hit time = %v, want the clock's %v", got, t0().Add(time.Hour))
	}
}

// TestLogSteadyStateAllocs holds Log to the promise the benchmark measures:
// a repeat device and name allocate nothing.
func TestLogSteadyStateAllocs(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{RingSize: 64})
	events := []hitlog.Event{
		hit("192.0.2.1", "chat.deepseek.com", t0()),
		hit("192.0.2.2", "api.deepseek.com.", t0()),
		with(hit("2001:db8::1", "dns.google", t0()), func(e *hitlog.Event) { e.Kind = hitlog.KindBypass }),
	}
	for _, e := range events {
		r.Log(e)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		r.Log(events[i%len(events)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Log allocates %v times per repeat hit, want 0", allocs)
	}
}

func TestConcurrentLogAndRead(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{RingSize: 100, MaxDevices: 50, MaxNames: 20})
	const writers, perWriter = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				r.Log(hit(fmt.Sprintf("192.0.2.%d", (w*perWriter+i)%97), fmt.Sprintf("n%d.deepseek.com", i%31), t0().Add(time.Duration(i)*time.Second)))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			if _, err := r.Stats(StatsQuery{Sort: ByCount}); err != nil {
				t.Error(err)
				return
			}
			r.Hits(HitQuery{Client: netip.MustParseAddr("192.0.2.5")})
		}
	})
	wg.Wait()
	s, err := r.Stats(StatsQuery{Devices: MaxStatsDevices})
	if err != nil {
		t.Fatal(err)
	}
	if s.Totals.Hits != writers*perWriter {
		t.Errorf("totals.hits = %d, want %d", s.Totals.Hits, writers*perWriter)
	}
	var sum uint64
	for _, d := range s.Devices {
		sum += d.Count
	}
	if len(s.Devices) != 50 || s.Totals.DevicesTracked != 50 {
		t.Errorf("devices = %d (tracked %d), want the cap 50", len(s.Devices), s.Totals.DevicesTracked)
	}
	if s.Totals.DevicesSeen-s.Totals.DevicesEvicted != 50 {
		t.Errorf("seen %d - evicted %d != tracked 50", s.Totals.DevicesSeen, s.Totals.DevicesEvicted)
	}
	if sum > s.Totals.Hits {
		t.Errorf("device counts sum to %d, more than the %d hits", sum, s.Totals.Hits)
	}
}
