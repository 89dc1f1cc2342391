package soc

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// Defaults for Options left zero.
const (
	DefaultRingSize       = 10_000
	DefaultMaxDevices     = 100_000
	DefaultNamesPerDevice = 20
	DefaultMaxNames       = 10_000
)

// maxDeviceLimit keeps slab indices in an int32.
const maxDeviceLimit = 1 << 30

// hourWindow is how many hourly buckets the recorder keeps.
const hourWindow = 48

// maxLists bounds the per-list counters. Lists come from the config, so the
// bound only matters if a list source name is somehow unbounded.
const maxLists = 1000

// otherLists collects hits from lists beyond maxLists.
const otherLists = "(other lists)"

// Options configures a Recorder. Zero values mean the defaults above.
type Options struct {
	// RingSize is how many recent hits are kept for /api/v1/hits.
	RingSize int
	// MaxDevices bounds the device table; the least recently seen device is
	// evicted to make room.
	MaxDevices int
	// NamesPerDevice bounds the distinct names kept per device.
	NamesPerDevice int
	// MaxNames bounds the names counted for the top-names table. Beyond it the
	// counts become estimates (see NameCount.Overcount).
	MaxNames int
	// Registerer receives the dijk_soc_* metrics; nil uses a private registry.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now. Hits carry their own time, so
	// the clock only stamps the start, anchors the hourly window and resolves
	// "since=15m".
	Now func() time.Time
}

// Recorder keeps recent hits and aggregate statistics in memory for the SOC
// API and console. It implements policy.HitLogger. All memory is bounded by
// Options.
type Recorder struct {
	now     func() time.Time
	started time.Time

	newDevices prometheus.Counter
	evictions  prometheus.Counter
	// tracked mirrors len(devices.byAddr) for the gauge, so scrapes do not
	// take the lock.
	tracked atomic.Int64

	// mu guards everything below. Log holds it for a few map lookups and
	// field updates only; readers copy out and sort after unlocking.
	mu       sync.Mutex
	total    uint64
	bypass   uint64 // hits of kind bypass, included in total
	firstHit time.Time
	lastHit  time.Time
	ring     ring
	devices  deviceTable
	names    topNames
	hours    [hourWindow]hourBucket
	lists    map[string]uint64
	seen     uint64 // devices added since start, including returns after eviction
	evicted  uint64
}

// New returns an empty Recorder and registers its metrics.
func New(opts Options) (*Recorder, error) {
	sizes := []struct {
		name string
		v    *int
		def  int
	}{
		{"ring size", &opts.RingSize, DefaultRingSize},
		{"max devices", &opts.MaxDevices, DefaultMaxDevices},
		{"names per device", &opts.NamesPerDevice, DefaultNamesPerDevice},
		{"max names", &opts.MaxNames, DefaultMaxNames},
	}
	for _, s := range sizes {
		if *s.v < 0 {
			return nil, fmt.Errorf("soc: %s %d: must not be negative", s.name, *s.v)
		}
		if *s.v == 0 {
			*s.v = s.def
		}
	}
	if opts.MaxDevices > maxDeviceLimit {
		return nil, fmt.Errorf("soc: max devices %d: at most %d", opts.MaxDevices, maxDeviceLimit)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Recorder{
		now:     opts.Now,
		started: opts.Now(),
		ring:    ring{buf: make([]hitlog.Event, opts.RingSize)},
		devices: newDeviceTable(opts.MaxDevices, opts.NamesPerDevice),
		names:   newTopNames(opts.MaxNames),
		lists:   make(map[string]uint64),
		newDevices: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "soc", Name: "new_devices_total",
			Help: "Client addresses blocked for the first time since start (or since they were evicted from the device table).",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "soc", Name: "device_evictions_total",
			Help: "Devices dropped from the SOC device table because it was full.",
		}),
	}
	for i := range r.hours {
		r.hours[i].hour = noHour
	}
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "dijk", Subsystem: "soc", Name: "devices",
		Help: "Devices in the SOC device table.",
	}, func() float64 { return float64(r.tracked.Load()) })
	for _, c := range []prometheus.Collector{r.newDevices, r.evictions, tracked} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register soc metrics: %w", err)
		}
	}
	return r, nil
}

// Log records one blocked query. It never waits for anything but the short
// critical section, and allocates only for a device or name not seen before.
func (r *Recorder) Log(e hitlog.Event) {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	addr := deviceAddr(e.Client.Addr())
	name := strings.TrimSuffix(e.Name, ".")

	bypass := e.Kind == hitlog.KindBypass

	r.mu.Lock()
	r.total++
	if bypass {
		r.bypass++
	}
	if r.firstHit.IsZero() || e.Time.Before(r.firstHit) {
		r.firstHit = e.Time
	}
	if e.Time.After(r.lastHit) {
		r.lastHit = e.Time
	}
	r.ring.add(e)
	r.addHour(e.Time)
	r.addList(e.Source)
	r.names.add(name)
	added, evicted := r.devices.touch(addr, e.Time, name, bypass)
	if added {
		r.seen++
	}
	if evicted {
		r.evicted++
	}
	r.tracked.Store(int64(r.devices.len()))
	r.mu.Unlock()

	if added {
		r.newDevices.Inc()
	}
	if evicted {
		r.evictions.Inc()
	}
}

// deviceAddr is the key for a client: an IPv4 client on a dual-stack socket
// arrives as ::ffff:a.b.c.d and must count as the same device.
func deviceAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func (r *Recorder) addList(source string) {
	if _, ok := r.lists[source]; !ok && len(r.lists) >= maxLists {
		source = otherLists
	}
	r.lists[source]++
}

// noHour marks an unused hourly bucket.
const noHour = -1 << 62

type hourBucket struct {
	hour  int64 // hours since the Unix epoch
	count uint64
}

// addHour counts t in its bucket. Buckets are reused round-robin; a hit older
// than the hour its bucket now holds is too old for the window and dropped.
func (r *Recorder) addHour(t time.Time) {
	h := unixHour(t)
	b := &r.hours[mod(h, hourWindow)]
	switch {
	case b.hour == h:
		b.count++
	case h > b.hour:
		b.hour, b.count = h, 1
	}
}

func unixHour(t time.Time) int64 {
	s := t.Unix()
	h := s / 3600
	if s < 0 && s%3600 != 0 {
		h-- // floor, so times before 1970 land in the right hour
	}
	return h
}

func mod(a int64, n int) int {
	m := int(a % int64(n))
	if m < 0 {
		m += n
	}
	return m
}

// ring holds the most recent hits, oldest overwritten first.
type ring struct {
	buf  []hitlog.Event
	next int
	full bool
}

func (g *ring) add(e hitlog.Event) {
	g.buf[g.next] = e
	g.next++
	if g.next == len(g.buf) {
		g.next, g.full = 0, true
	}
}

func (g *ring) len() int {
	if g.full {
		return len(g.buf)
	}
	return g.next
}

// at returns the i-th newest hit (0 is the newest).
func (g *ring) at(i int) *hitlog.Event {
	j := g.next - 1 - i
	if j < 0 {
		j += len(g.buf)
	}
	return &g.buf[j]
}

// topNames counts hits per name with the space-saving algorithm (Metwally et
// al.): at most max names are tracked; a new name replaces the least counted
// one and inherits its count as an overcount bound. Heavy hitters are thus
// never lost to a flood of random subdomains, and memory stays bounded.
type topNames struct {
	max    int
	byName map[string]*nameEntry
	heap   []*nameEntry // min-heap on count
}

type nameEntry struct {
	name      string
	count     uint64
	overcount uint64
	idx       int
}

func newTopNames(max int) topNames {
	return topNames{max: max, byName: make(map[string]*nameEntry)}
}

func (t *topNames) add(name string) {
	if n, ok := t.byName[name]; ok {
		n.count++
		t.down(n.idx)
		return
	}
	if len(t.heap) < t.max {
		n := &nameEntry{name: strings.Clone(name), count: 1, idx: len(t.heap)}
		t.heap = append(t.heap, n)
		t.byName[n.name] = n
		t.up(n.idx)
		return
	}
	n := t.heap[0]
	delete(t.byName, n.name)
	n.name = strings.Clone(name)
	n.overcount = n.count
	n.count++
	t.byName[n.name] = n
	t.down(0)
}

func (t *topNames) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if t.heap[p].count <= t.heap[i].count {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topNames) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(t.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(t.heap) && t.heap[r].count < t.heap[l].count {
			m = r
		}
		if t.heap[i].count <= t.heap[m].count {
			return
		}
		t.swap(i, m)
		i = m
	}
}

func (t *topNames) swap(i, j int) {
	t.heap[i], t.heap[j] = t.heap[j], t.heap[i]
	t.heap[i].idx, t.heap[j].idx = i, j
}
