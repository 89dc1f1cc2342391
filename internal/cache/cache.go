// Package cache is the chain handler that answers repeated queries from
// memory instead of asking the next handler (the upstream) again.
//
// Positive answers live as long as their smallest record TTL, negative answers
// as long as RFC 2308 allows, and failures for a few seconds only (RFC 9520).
// Every hit is a fresh copy with TTLs counted down, so callers may modify it.
package cache

import (
	"context"
	"errors"
	"fmt"
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

	hits      prometheus.Counter
	misses    prometheus.Counter
	evictions prometheus.Counter
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
	}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.Size > 0 {
		c.lru, err = lru.New[key, *entry](opts.Size)
		if err != nil {
			return nil, fmt.Errorf("cache: create lru of size %d: %w", opts.Size, err)
		}
	}
	if opts.Registerer != nil {
		entries := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dijk_cache_entries",
			Help: "Entries currently in the cache, expired ones included until looked up.",
		}, func() float64 { return float64(c.Len()) })
		if err := register(opts.Registerer, c.hits, c.misses, c.evictions, entries); err != nil {
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
	}
	servfail := opts.ServfailTTL
	if servfail == 0 {
		servfail = DefaultServfailTTL
	}
	return ttlPolicy{
		min:      durationTTL(opts.MinTTL),
		max:      durationTTL(opts.MaxTTL),
		servfail: min(servfail, MaxServfailTTL),
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
func (c *Cache) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	if c.lru == nil {
		c.misses.Inc()
		return c.next.ServeDNS(ctx, req)
	}
	k := keyFor(req)
	now := c.now()
	if e, ok := c.lookup(k, now); ok {
		c.hits.Inc()
		req.Outcome = chain.OutcomeCached
		return e.serve(now, req), nil
	}
	c.misses.Inc()
	msg, err := c.next.ServeDNS(ctx, req)
	if err != nil {
		// The client going away says nothing about the upstream; every
		// other error (timeouts included) is a failure worth remembering.
		if !errors.Is(err, context.Canceled) {
			c.add(k, failureEntry(c.now(), c.policy.servfail))
		}
		return msg, err
	}
	if e, ok := c.policy.newEntry(msg, c.now()); ok {
		c.add(k, e)
	}
	return msg, nil
}

// lookup returns the live entry for k. It does not allocate.
func (c *Cache) lookup(k key, now time.Time) (*entry, bool) {
	e, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if e.expired(now) {
		// A concurrent miss may have just stored a fresh entry under k;
		// removing it costs one extra upstream query, nothing more.
		c.lru.Remove(k)
		return nil, false
	}
	return e, true
}

func (c *Cache) add(k key, e *entry) {
	// Add's result counts only capacity evictions; the lru eviction
	// callback would also fire for expiry removals and Purge.
	if c.lru.Add(k, e) {
		c.evictions.Inc()
	}
}

// Len returns the number of entries, expired ones included until looked up.
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
