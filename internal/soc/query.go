package soc

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// Limits for readers.
const (
	DefaultHitLimit     = 100
	MaxHitLimit         = 1000
	DefaultStatsDevices = 100
	MaxStatsDevices     = 10_000
	DefaultStatsNames   = 20
	MaxStatsNames       = 1000
)

// HitQuery selects recent hits. Zero fields do not filter.
type HitQuery struct {
	Since  time.Time  // hits at or after this time
	Client netip.Addr // hits from this client
	List   string     // hits matched by an entry of this list
	Kind   string     // hits of this kind (hitlog.KindBlock, hitlog.KindBypass)
	Limit  int        // at most this many; zero means DefaultHitLimit
}

// Hits returns the matching hits still in the ring, newest first, and whether
// more matched than the limit allowed.
func (r *Recorder) Hits(q HitQuery) (hits []hitlog.Event, more bool) {
	if q.Limit <= 0 {
		q.Limit = DefaultHitLimit
	}
	client := q.Client
	if client.IsValid() {
		client = deviceAddr(client)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// The ring is in arrival order, which is only roughly time order across
	// goroutines, so scan it all rather than stop at the first old hit.
	for i, n := 0, r.ring.len(); i < n; i++ {
		e := r.ring.at(i)
		if !q.Since.IsZero() && e.Time.Before(q.Since) {
			continue
		}
		if client.IsValid() && deviceAddr(e.Client.Addr()) != client {
			continue
		}
		if q.List != "" && e.Source != q.List {
			continue
		}
		if q.Kind != "" && kindOf(e) != q.Kind {
			continue
		}
		if len(hits) == q.Limit {
			return hits, true
		}
		hits = append(hits, *e)
	}
	return hits, false
}

// kindOf defaults the kind of events from before kinds existed.
func kindOf(e *hitlog.Event) string {
	if e.Kind == "" {
		return hitlog.KindBlock
	}
	return e.Kind
}

// DeviceSort orders the device table.
type DeviceSort string

// Device orders.
const (
	ByLastSeen  DeviceSort = "last_seen"  // most recently seen first
	ByCount     DeviceSort = "count"      // most blocked queries first
	ByFirstSeen DeviceSort = "first_seen" // longest known first
)

func (s DeviceSort) valid() bool {
	return s == "" || s == ByLastSeen || s == ByCount || s == ByFirstSeen
}

// StatsQuery sizes the tables in Stats. Zero fields mean the defaults.
type StatsQuery struct {
	Devices int
	Sort    DeviceSort
	Names   int
}

// Stats is a snapshot of the aggregates. Times are UTC.
type Stats struct {
	Generated time.Time   `json:"generated"`
	Started   time.Time   `json:"started"`
	Totals    Totals      `json:"totals"`
	Devices   []Device    `json:"devices"`
	TopNames  []NameCount `json:"top_names"`
	PerHour   []HourCount `json:"per_hour"`
	PerList   []ListCount `json:"per_list"`
	// Lists is the list status from HandlerOptions.ListStatus; Recorder.Stats
	// leaves it empty.
	Lists []ListStatus `json:"lists"`
}

// Totals count since start.
type Totals struct {
	Hits           uint64    `json:"hits"`
	Bypass         uint64    `json:"bypass"` // hits of kind bypass, included in hits
	FirstHit       time.Time `json:"first_hit,omitzero"`
	LastHit        time.Time `json:"last_hit,omitzero"`
	DevicesSeen    uint64    `json:"devices_seen"`
	DevicesTracked int       `json:"devices_tracked"`
	DevicesEvicted uint64    `json:"devices_evicted"`
	NamesTracked   int       `json:"names_tracked"`
	RecentHits     int       `json:"recent_hits"`
}

// Device is one row of the device table.
type Device struct {
	Client    Client    `json:"client"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     uint64    `json:"count"`
	Bypass    uint64    `json:"bypass"` // attempts to route around the resolver, included in count
	// Names are the distinct names the device asked for, in first-seen order,
	// up to Options.NamesPerDevice; NamesTruncated says there were more.
	Names          []string `json:"names"`
	NamesTruncated bool     `json:"names_truncated"`
}

// Client is the ECS client object.
type Client struct {
	IP netip.Addr `json:"ip"`
}

// NameCount is one row of the top-names table.
type NameCount struct {
	DNS   DNS    `json:"dns"`
	Count uint64 `json:"count"`
	// Overcount bounds how much Count may exceed the truth, non-zero only
	// once more than Options.MaxNames distinct names were blocked.
	Overcount uint64 `json:"overcount,omitempty"`
}

// DNS is the ECS dns object, question name only.
type DNS struct {
	Question Question `json:"question"`
}

// Question is the ECS dns.question object.
type Question struct {
	Name string `json:"name"`
}

// HourCount is the number of hits in the hour starting at Start.
type HourCount struct {
	Start time.Time `json:"start"`
	Count uint64    `json:"count"`
}

// ListCount is the number of hits per list (dijk.list in the hit log).
type ListCount struct {
	Dijk  DijkList `json:"dijk"`
	Count uint64   `json:"count"`
}

// DijkList is the dijk object of the hit log, list only.
type DijkList struct {
	List string `json:"list"`
}

// Stats returns a snapshot. The lock is held only to copy; selecting and
// sorting happen after.
func (r *Recorder) Stats(q StatsQuery) (Stats, error) {
	if !q.Sort.valid() {
		return Stats{}, fmt.Errorf("soc: unknown device sort %q", q.Sort)
	}
	if q.Devices <= 0 {
		q.Devices = DefaultStatsDevices
	}
	if q.Names <= 0 {
		q.Names = DefaultStatsNames
	}
	now := r.now()
	s := Stats{Generated: now.UTC(), Started: r.started.UTC()}
	byRecency := q.Sort == "" || q.Sort == ByLastSeen
	var keys []devKey
	if !byRecency {
		// Allocate before locking; the table rarely grows in between.
		keys = make([]devKey, 0, r.tracked.Load())
	}

	r.mu.Lock()
	s.Totals = Totals{
		Hits:           r.total,
		Bypass:         r.bypass,
		FirstHit:       utc(r.firstHit),
		LastHit:        utc(r.lastHit),
		DevicesSeen:    r.seen,
		DevicesTracked: r.devices.len(),
		DevicesEvicted: r.evicted,
		NamesTracked:   r.names.len(),
		RecentHits:     r.ring.len(),
	}
	if byRecency {
		s.Devices = r.recentDevices(q.Devices)
	} else {
		keys = r.deviceKeys(keys)
	}
	names := make([]NameCount, 0, r.names.len())
	r.names.each(func(n *nameEntry) {
		names = append(names, NameCount{DNS: DNS{Question{string(n.name)}}, Count: n.count(), Overcount: n.overcount})
	})
	s.PerList = make([]ListCount, 0, len(r.lists))
	for l, c := range r.lists {
		s.PerList = append(s.PerList, ListCount{Dijk: DijkList{l}, Count: c})
	}
	hours := r.hours
	r.mu.Unlock()

	if !byRecency {
		picked := selectKeys(keys, q.Devices, q.Sort)
		r.mu.Lock()
		s.Devices = r.devicesFor(picked)
		r.mu.Unlock()
	}

	slices.SortFunc(names, func(a, b NameCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.DNS.Question.Name, b.DNS.Question.Name))
	})
	s.TopNames = names[:min(len(names), q.Names)]
	sortDevices(s.Devices, q.Sort)
	slices.SortFunc(s.PerList, func(a, b ListCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Dijk.List, b.Dijk.List))
	})
	s.PerHour = perHour(hours, now)
	s.Lists = []ListStatus{}
	return s, nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// perHour lists the last hourWindow hours, oldest first, ending with the
// current one; hours without hits count zero.
func perHour(hours [hourWindow]hourBucket, now time.Time) []HourCount {
	cur := unixHour(now)
	out := make([]HourCount, hourWindow)
	for i := range out {
		h := cur - hourWindow + 1 + int64(i)
		out[i].Start = time.Unix(h*3600, 0).UTC()
		if b := hours[mod(h, hourWindow)]; b.hour == h {
			out[i].Count = b.count
		}
	}
	return out
}

// recentDevices copies the n most recently seen devices. Callers hold mu.
func (r *Recorder) recentDevices(n int) []Device {
	out := make([]Device, 0, min(n, r.devices.len()))
	for i := r.devices.head; i != none && len(out) < n; i = r.devices.slab[i].next {
		out = append(out, r.devices.slab[i].row())
	}
	return out
}

// deviceKeys copies the sort keys of every device, a sequential pass over
// the slab, so that selecting by count or first seen happens unlocked.
// Callers hold mu.
func (r *Recorder) deviceKeys(keys []devKey) []devKey {
	for i := range r.devices.slab {
		keys = append(keys, r.devices.slab[i].key())
	}
	return keys
}

// devicesFor copies the devices picked by key. A device evicted since its
// key was copied keeps the key's figures, without names. Callers hold mu.
func (r *Recorder) devicesFor(keys []devKey) []Device {
	out := make([]Device, len(keys))
	for j, k := range keys {
		if i, ok := r.devices.byAddr[k.addr]; ok {
			out[j] = r.devices.slab[i].row()
			continue
		}
		out[j] = Device{
			Client: Client{IP: k.addr}, FirstSeen: time.Unix(0, k.first).UTC(), LastSeen: time.Unix(0, k.last).UTC(),
			Count: k.count, Names: []string{},
		}
	}
	return out
}

func (v *device) row() Device {
	d := Device{
		Client:         Client{IP: v.addr},
		FirstSeen:      time.Unix(0, v.first).UTC(),
		LastSeen:       time.Unix(0, v.last).UTC(),
		Count:          v.count,
		Bypass:         v.bypass,
		Names:          slices.Clone(v.names),
		NamesTruncated: v.namesFull,
	}
	if d.Names == nil {
		d.Names = []string{}
	}
	return d
}

// selectKeys returns the first n keys in the order, unsorted: a heap of the
// best n so far, O(len(keys)·log n).
func selectKeys(keys []devKey, n int, by DeviceSort) []devKey {
	h := make(ranked, 0, min(n, len(keys)))
	for _, k := range keys {
		switch {
		case len(h) < n:
			h = append(h, k)
			h.up(len(h)-1, by)
		case compareKeys(by, k, h[0]) < 0:
			h[0] = k
			h.down(0, by)
		}
	}
	return h
}

// sortDevices puts a selection in order. For last_seen this also corrects
// the list order, which is arrival order and can differ from hit time by
// the scheduling jitter between goroutines.
func sortDevices(ds []Device, by DeviceSort) {
	slices.SortFunc(ds, func(a, b Device) int { return compareKeys(by, a.key(), b.key()) })
}

// devKey is what the device orders compare.
type devKey struct {
	count       uint64
	first, last int64
	addr        netip.Addr
}

func (v *device) key() devKey { return devKey{v.count, v.first, v.last, v.addr} }

func (d *Device) key() devKey {
	return devKey{d.Count, d.FirstSeen.UnixNano(), d.LastSeen.UnixNano(), d.Client.IP}
}

// compareKeys orders a before b (negative) if a comes first in the order.
// Ties fall back to last seen and then the address, so the order is total
// and pages are stable.
func compareKeys(by DeviceSort, a, b devKey) int {
	var c int
	switch by {
	case ByCount:
		c = cmp.Compare(b.count, a.count)
	case ByFirstSeen:
		c = cmp.Compare(a.first, b.first)
	}
	if c != 0 {
		return c
	}
	if c = cmp.Compare(b.last, a.last); c != 0 {
		return c
	}
	return a.addr.Compare(b.addr)
}

// ranked is a heap of selected devices with the one that comes last in the
// order on top, to be replaced by a better one.
type ranked []devKey

func (h ranked) worse(i, j int, by DeviceSort) bool { return compareKeys(by, h[i], h[j]) > 0 }

func (h ranked) up(i int, by DeviceSort) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.worse(i, p, by) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h ranked) down(i int, by DeviceSort) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.worse(r, l, by) {
			m = r
		}
		if !h.worse(m, i, by) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
