// Package cache is the chain handler that answers repeated queries from
// memory instead of asking the next handler (the upstream) again.
//
// Positive answers live as long as their smallest record TTL, negative answers
// as long as RFC 2308 allows, and failures for a few seconds only (RFC 9520).
// Every hit is a new message with TTLs counted down; its records are shared
// with other hits in the same second, as the chain contract allows.
//
// With Options.StaleFor set, expired answers are kept for that long and
// served stale when next fails (RFC 8767). That cannot leak a name blocked
// after it was cached: the policy handler sits above the cache and decides
// before the cache is asked, fresh or stale.
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// DefaultServfailTTL is used when Options.ServfailTTL is zero: long
	// enough to shed a retry storm, short enough to notice recovery.
	DefaultServfailTTL = 3 * time.Second
	// MaxServfailTTL caps Options.ServfailTTL; a longer failure cache would
	// keep serving SERVFAIL well after the upstream is back.
	MaxServfailTTL = 30 * time.Second
	// DefaultStaleTTL is used when Options.StaleTTL is zero; RFC 8767 §4
	// recommends 30 s so clients come back soon, when the upstream may be
	// reachable again.
	DefaultStaleTTL = 30 * time.Second
	// maxStaleRefreshes bounds the background refreshes of Options.StaleAfter;
	// past it a query waits for next itself, as without the timer.
	maxStaleRefreshes = 128
)

// Options configures a Cache.
type Options struct {
	// Size is the maximum number of entries; 0 disables caching and New
	// returns a pass-through handler.
	Size int
	// MinTTL and MaxTTL clamp positive and negative TTLs (whole seconds;
	// the fraction is dropped). MaxTTL 0 means no upper clamp.
	MinTTL time.Duration
	MaxTTL time.Duration
	// ServfailTTL is how long failures are cached: 0 means
	// DefaultServfailTTL, and it is capped at MaxServfailTTL.
	ServfailTTL time.Duration
	// StaleFor is how long after expiry an answer is kept to be served
	// stale when next fails (RFC 8767 "maximum stale timer", 1 to 3 days
	// recommended). 0 turns serve-stale off.
	StaleFor time.Duration
	// StaleTTL is the TTL of every record in a stale answer: 0 means
	// DefaultStaleTTL, otherwise at least one second (whole seconds).
	StaleTTL time.Duration
	// StaleAfter is the client response timer (RFC 8767 §5, 1.8 s
	// suggested): a query for an expired entry that next has not answered
	// within StaleAfter is answered stale while the refresh goes on in the
	// background. 0 waits for next. Only used with StaleFor; it must be
	// shorter than the server's per-query timeout to matter.
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Registerer receives the cache metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Cache is a chain.Handler that caches the answers of the next handler.
type Cache struct {
	next   chain.Handler
	lru    *lru.Cache[key, *entry] // nil when caching is disabled
	policy ttlPolicy
	now    func() time.Time
	epoch  time.Time // instant 0

	// Background refreshes (Options.StaleAfter); see stale.go.
	staleAfter time.Duration
	// after starts the client response timer; tests replace it so the
	// timer fires when they say, not when wall time passes.
	after        func(time.Duration) (<-chan time.Time, func() bool)
	maxRefreshes int
	mu           sync.Mutex
	refreshes    map[key]*refresh // in flight, at most one per key
	running      sync.WaitGroup   // the refresh goroutines
	life         context.Context  // cancelled by Close
	stop         context.CancelFunc

	hits      prometheus.Counter
	misses    prometheus.Counter
	evictions prometheus.Counter
	stale     prometheus.Counter
}

var _ chain.Handler = (*Cache)(nil)

// New returns a Cache in front of next.
func New(opts Options, next chain.Handler) (*Cache, error) {
	if next == nil {
		return nil, errors.New("cache: next handler is nil")
	}
	policy, err := policyFor(opts)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{
		next:   next,
		policy: policy,
		now:    opts.Now,
		hits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_cache_hits_total",
			Help: "Queries answered from the cache.",
		}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_cache_misses_total",
			Help: "Queries passed to the next handler because the cache had no live entry.",
		}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_cache_evictions_total",
			Help: "Entries dropped because the cache was full.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_cache_stale_answers_total",
			Help: "Queries answered with expired data (RFC 8767) because next failed or was too slow.",
		}),
		staleAfter:   opts.StaleAfter,
		after:        realTimer,
		maxRefreshes: maxStaleRefreshes,
		refreshes:    make(map[key]*refresh),
	}
	if opts.StaleFor == 0 {
		c.staleAfter = 0
	}
	c.life, c.stop = context.WithCancel(context.Background())
	if c.now == nil {
		c.now = time.Now
	}
	c.epoch = c.now()
	if opts.Size > 0 {
		c.lru, err = lru.New[key, *entry](opts.Size)
		if err != nil {
			return nil, fmt.Errorf("cache: create lru of size %d: %w", opts.Size, err)
		}
	}
	if opts.Registerer != nil {
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dijk_cache_entries",
			Help: "Entries currently in the cache, stale ones kept for serve-stale included, expired ones until looked up.",
		}, func() float64 { return float64(c.Len()) })
		if err := register(opts.Registerer, c.hits, c.misses, c.evictions, c.stale, entries); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	return c, nil
}

// policyFor validates opts and turns them into the TTL rules.
func policyFor(opts Options) (ttlPolicy, error) {
	switch {
	case opts.Size < 0:
		return ttlPolicy{}, fmt.Errorf("size %d is negative", opts.Size)
	case opts.MinTTL < 0 || opts.MaxTTL < 0 || opts.ServfailTTL < 0:
		return ttlPolicy{}, fmt.Errorf("negative TTL option (min %v, max %v, servfail %v)",
			opts.MinTTL, opts.MaxTTL, opts.ServfailTTL)
	case opts.MaxTTL > 0 && opts.MinTTL > opts.MaxTTL:
		return ttlPolicy{}, fmt.Errorf("min TTL %v exceeds max TTL %v", opts.MinTTL, opts.MaxTTL)
	case opts.StaleFor < 0 || opts.StaleTTL < 0 || opts.StaleAfter < 0:
		return ttlPolicy{}, fmt.Errorf("negative serve-stale option (for %v, TTL %v, after %v)",
			opts.StaleFor, opts.StaleTTL, opts.StaleAfter)
	case opts.StaleTTL > 0 && opts.StaleTTL < time.Second:
		// It would round to TTL 0, which tells clients not to cache at all.
		return ttlPolicy{}, fmt.Errorf("stale TTL %v is below one second", opts.StaleTTL)
	}
	servfail := opts.ServfailTTL
	if servfail == 0 {
		servfail = DefaultServfailTTL
	}
	staleTTL := opts.StaleTTL
	if staleTTL == 0 {
		staleTTL = DefaultStaleTTL
	}
	return ttlPolicy{
		min:      durationTTL(opts.MinTTL),
		max:      durationTTL(opts.MaxTTL),
		servfail: min(servfail, MaxServfailTTL),
		staleFor: opts.StaleFor,
		staleTTL: durationTTL(staleTTL),
	}, nil
}

// register registers all collectors or none, so a failed New leaves the
// registry as it was.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, col := range cs {
		if err := reg.Register(col); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// ServeDNS answers from the cache or asks next and remembers its answer.
// An expired entry within Options.StaleFor answers instead of next when next
// fails (an error other than the client's cancellation, or SERVFAIL).
func (c *Cache) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	if c.lru == nil {
		c.misses.Inc()
		req.Blocking()
		return c.next.ServeDNS(ctx, req)
	}
	k := keyFor(req)
	now := c.clock()
	e, fresh := c.lookup(k, now)
	switch {
	case fresh:
		m, err := e.serve(now, req)
		if err == nil {
			c.hits.Inc()
			req.Outcome = chain.OutcomeCached
			return m, nil
		}
		// Asking next beats failing on an entry that cannot be read.
		c.removeIf(k, e)
		e = nil
	case e != nil && e.recheckPending(now):
		// A refresh failed less than ServfailTTL ago: spare the upstream
		// as a remembered SERVFAIL would, but answer with the data.
		c.hits.Inc()
		return c.answerStale(e, req)
	}
	c.misses.Inc()
	req.Blocking() // next and the refresh below wait on the upstream
	if e != nil && c.staleAfter > 0 {
		return c.refreshWithTimer(ctx, req, k, e)
	}
	return c.ask(ctx, req, k, e)
}

// ask calls next and settles its answer; stale is the expired entry found
// for k, or nil.
func (c *Cache) ask(ctx context.Context, req *chain.Request, k key, stale *entry) (*dns.Msg, error) {
	msg, err := c.next.ServeDNS(ctx, req)
	if c.settle(k, stale, msg, err) {
		if m, staleErr := c.answerStale(stale, req); staleErr == nil {
			return m, nil
		}
	}
	return msg, err
}

// settle stores what next returned for k and reports whether to answer from
// stale, the expired entry found before asking (nil: none), instead.
func (c *Cache) settle(k key, stale *entry, msg *dns.Msg, err error) (useStale bool) {
	// The client going away says nothing about the upstream; every other
	// error (timeouts included) is a failure worth remembering.
	if errors.Is(err, context.Canceled) {
		return false
	}
	now := c.clock()
	failed := err != nil || classify(msg) == kindFailure
	// Only while stale is still the cached entry: after Purge, eviction or
	// a concurrent refresh it must not come back.
	if failed && stale != nil && c.current(k, stale) {
		// Remembered on the stale entry, not as a failure entry over it,
		// which would hide the data for ServfailTTL.
		stale.failedRefresh(now, c.policy.servfail)
		return true
	}
	if err != nil {
		c.add(k, failureEntry(now, c.policy.servfail))
		return false
	}
	if e, ok := c.policy.newEntry(msg, now); ok {
		c.add(k, e) // replaces any stale entry
		return false
	}
	if stale != nil && classify(msg) != kindNone {
		// A definite but uncacheable answer about the name (TTL 0, or a
		// negative answer without SOA) supersedes the stale data; a later
		// outage must not bring it back. REFUSED and the like describe the
		// upstream, not the name, and leave it be.
		c.removeIf(k, stale)
	}
	return false
}

// answerStale answers req from the expired entry e.
func (c *Cache) answerStale(e *entry, req *chain.Request) (*dns.Msg, error) {
	m, err := e.serveStale(req, c.policy.staleTTL)
	if err != nil {
		return nil, err
	}
	c.stale.Inc()
	req.Outcome = chain.OutcomeCached
	return m, nil
}

// lookup returns the entry for k and whether it is fresh. An expired entry is
// returned as not fresh while it may be served stale; past that it is removed.
// It does not allocate.
func (c *Cache) lookup(k key, now instant) (e *entry, fresh bool) {
	e, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if !e.expired(now) {
		return e, true
	}
	if e.staleServable(now) {
		return e, false
	}
	c.removeIf(k, e)
	return nil, false
}

// clock returns the current instant. Time.Sub uses the monotonic clock
// when both times carry it, as time.Now's do, so a step of the wall clock
// neither expires nor revives entries.
func (c *Cache) clock() instant {
	return instant(c.now().Sub(c.epoch))
}

// current reports whether e is still the entry stored under k.
func (c *Cache) current(k key, e *entry) bool {
	cur, ok := c.lru.Peek(k)
	return ok && cur == e
}

// removeIf removes k if e is still its entry. Peek and Remove are not one
// step, so a concurrent store may still be lost in between; that costs one
// extra upstream query, nothing more.
func (c *Cache) removeIf(k key, e *entry) {
	if c.current(k, e) {
		c.lru.Remove(k)
	}
}

func (c *Cache) add(k key, e *entry) {
	// Add's result counts only capacity evictions; the lru eviction
	// callback would also fire for expiry removals and Purge.
	if c.lru.Add(k, e) {
		c.evictions.Inc()
	}
}

// Len returns the number of entries: stale ones kept for serve-stale
// included, and other expired ones until looked up.
func (c *Cache) Len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}

// Purge drops every entry, e.g. after the upstream configuration changed.
func (c *Cache) Purge() {
	if c.lru != nil {
		c.lru.Purge()
	}
}
