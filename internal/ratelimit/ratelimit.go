// Package ratelimit limits how fast each client gets answers over UDP, so
// that Dijk cannot be used to amplify a flood at a spoofed victim. It works
// like BIND's response rate limiting: a token bucket per client address,
// and over the limit most queries get no answer while every Slip-th gets an
// empty truncated one, so a real client behind a spoofed flood can still get
// through by retrying over TCP.
package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
)

// Options configures a Limiter.
type Options struct {
	// QPS is the sustained answer rate per client; 0 disables limiting.
	QPS float64
	// Burst is how many answers a client may get at once.
	Burst int
	// Slip: every Slip-th limited query gets a truncated answer instead of
	// none; 0 drops them all, 1 truncates them all.
	Slip int
	// MaxClients bounds the clients tracked; the least recently seen are
	// forgotten first (they start again with a full bucket).
	MaxClients int
	Now        func() time.Time
	Registerer prometheus.Registerer
}

// Limiter is a chain handler.
type Limiter struct {
	opts    Options
	next    chain.Handler
	clients *lru.Cache[netip.Addr, *bucket]
	limited *prometheus.CounterVec
}

type bucket struct {
	mu      sync.Mutex
	tokens  float64
	last    time.Time
	limited uint64
}

// New returns a Limiter in front of next.
func New(opts Options, next chain.Handler) (*Limiter, error) {
	if opts.QPS < 0 || opts.Burst < 0 || opts.Slip < 0 {
		return nil, fmt.Errorf("ratelimit: qps, burst and slip must not be negative")
	}
	if opts.QPS > 0 && opts.Burst < 1 {
		opts.Burst = max(1, int(opts.QPS))
	}
	if opts.MaxClients <= 0 {
		opts.MaxClients = 100_000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	clients, err := lru.New[netip.Addr, *bucket](opts.MaxClients)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	l := &Limiter{
		opts: opts, next: next, clients: clients,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "ratelimit", Name: "limited_total",
			Help: "UDP queries over a client's rate limit, by what was sent (dropped, truncated).",
		}, []string{"action"}),
	}
	if err := opts.Registerer.Register(l.limited); err != nil {
		return nil, fmt.Errorf("register ratelimit metrics: %w", err)
	}
	return l, nil
}

// ServeDNS passes queries within the client's rate to next. TCP is never
// limited here: a completed handshake proves the source address is real,
// so TCP cannot be used for reflection.
func (l *Limiter) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	if l.opts.QPS == 0 || req.Transport != chain.TransportUDP {
		return l.next.ServeDNS(ctx, req)
	}
	allowed, n := l.take(req.Client.Addr())
	if allowed {
		return l.next.ServeDNS(ctx, req)
	}
	req.Outcome = chain.OutcomeRefused
	if l.opts.Slip > 0 && n%uint64(l.opts.Slip) == 0 {
		l.limited.WithLabelValues("truncated").Inc()
		return &dns.Msg{MsgHdr: dns.MsgHdr{Truncated: true}}, nil
	}
	l.limited.WithLabelValues("dropped").Inc()
	return nil, chain.ErrDrop
}

// take spends one token of addr's bucket. Over the limit it returns false
// and how many queries this client has had limited so far.
func (l *Limiter) take(addr netip.Addr) (bool, uint64) {
	addr = addr.Unmap()
	b, ok := l.clients.Get(addr)
	if !ok {
		fresh := &bucket{tokens: float64(l.opts.Burst), last: l.opts.Now()}
		if prev, found, _ := l.clients.PeekOrAdd(addr, fresh); found {
			b = prev
		} else {
			b = fresh
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := l.opts.Now()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(l.opts.Burst), b.tokens+elapsed.Seconds()*l.opts.QPS)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	b.limited++
	return false, b.limited
}
