package soc

import (
	"fmt"
	"hash/maphash"
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
//
// It is kept as the paper's stream summary: entries hang off buckets of equal
// count, in a list of buckets ordered by count, so a hit moves one entry to
// the next bucket in O(1). A binary heap needed a sift through ~13 levels of
// a 10,000-name table for every new name, the common case in a flood.
//
// The index is keyed by a seeded 64-bit hash of the name, not the name: in a
// flood every hit misses the index, evicts an entry and adds one, and integer
// keys sit in the map's own slots where string keys cost a hash over the
// bytes and a second memory access to compare them. Two names would have to
// collide in 64 bits of a per-process random hash to share a count. An
// evicted entry's name buffer is reused for the name that replaces it.
type topNames struct {
	max    int
	seed   maphash.Seed
	byHash map[uint64]*nameEntry
	min    *countBucket // least counted; nil when empty
	free   *countBucket // emptied buckets, reused
}

type countBucket struct {
	count      uint64
	prev, next *countBucket // neighbours by count, ascending
	entries    *nameEntry   // the names with this count (a list)
}

type nameEntry struct {
	name       []byte
	key        uint64 // hash of name: its key in topNames.byHash
	overcount  uint64
	bucket     *countBucket
	prev, next *nameEntry // within bucket
}

func (e *nameEntry) count() uint64 { return e.bucket.count }

func newTopNames(max int) topNames {
	return topNames{max: max, seed: maphash.MakeSeed(), byHash: make(map[uint64]*nameEntry)}
}

func (t *topNames) len() int { return len(t.byHash) }

func (t *topNames) hash(name string) uint64 { return maphash.String(t.seed, name) }

// each calls f for every tracked name.
func (t *topNames) each(f func(*nameEntry)) {
	for b := t.min; b != nil; b = b.next {
		for e := b.entries; e != nil; e = e.next {
			f(e)
		}
	}
}

func (t *topNames) add(name string) {
	h := t.hash(name)
	if e, ok := t.byHash[h]; ok {
		t.increment(e)
		return
	}
	if len(t.byHash) < t.max {
		e := &nameEntry{name: []byte(name), key: h}
		t.byHash[h] = e
		if t.min == nil || t.min.count != 1 {
			t.min = t.newBucket(1, nil, t.min)
		}
		t.link(e, t.min)
		return
	}
	e := t.min.entries
	delete(t.byHash, e.key)
	e.name, e.key = append(e.name[:0], name...), h
	e.overcount = e.count()
	t.byHash[h] = e
	t.increment(e)
}

// increment moves e to the bucket one count up, creating it if needed.
func (t *topNames) increment(e *nameEntry) {
	from := e.bucket
	to := from.next
	if to == nil || to.count != from.count+1 {
		to = t.newBucket(from.count+1, from, to)
	}
	t.unlink(e)
	t.link(e, to)
}

// newBucket inserts an empty bucket for count between prev and next.
func (t *topNames) newBucket(count uint64, prev, next *countBucket) *countBucket {
	b := t.free
	if b != nil {
		t.free = b.next
		*b = countBucket{}
	} else {
		b = new(countBucket)
	}
	b.count, b.prev, b.next = count, prev, next
	if prev != nil {
		prev.next = b
	}
	if next != nil {
		next.prev = b
	}
	return b
}

func (t *topNames) link(e *nameEntry, b *countBucket) {
	e.bucket, e.prev, e.next = b, nil, b.entries
	if b.entries != nil {
		b.entries.prev = e
	}
	b.entries = e
}

// unlink takes e out of its bucket and drops the bucket if it is left empty.
func (t *topNames) unlink(e *nameEntry) {
	b := e.bucket
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		b.entries = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.bucket, e.prev, e.next = nil, nil, nil
	if b.entries != nil {
		return
	}
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		t.min = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	}
	b.prev, b.next = nil, t.free
	t.free = b
}
