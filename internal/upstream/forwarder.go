package upstream

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
)

// loopWarnEvery limits the loop warning: a loop repeats for every query.
const loopWarnEvery = time.Minute

// Forwarder is the terminal chain.Handler: it forwards queries to the
// upstream resolvers. It is safe for concurrent use.
type Forwarder struct {
	// slots holds a token per running exchange (Options.MaxConcurrent).
	slots chan struct{}
	// loopbackLoops makes loopback clients count for loop detection; only
	// tests, whose fake upstreams must live on loopback, set it.
	loopbackLoops bool
	upstreams     []*upstream
	timeout       time.Duration
	cooldown      time.Duration
	log           *slog.Logger
	metrics       *metrics
	// now is the clock for cooldowns and the loop-warning limit; tests
	// replace it instead of sleeping. Network deadlines use the real clock.
	now func() time.Time

	// flights holds the running exchanges by coalescing key, guarded by
	// mu: identical queries share one, and loop detection needs to know
	// what is in flight.
	mu           sync.Mutex
	flights      map[string]*flight
	lastLoopWarn atomic.Int64 // unix nanoseconds of now
	udpBufs      sync.Pool    // *[]byte of maxUDPAnswer: to pack a query into, or to read an answer
	udp          udpSockets
}

// New validates opts and returns a Forwarder.
func New(opts Options) (*Forwarder, error) {
	servers, err := parseServers(opts.Servers)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		return nil, fmt.Errorf("upstream: timeout must be positive, got %v", opts.Timeout)
	}
	cooldown, err := opts.cooldown()
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry() // kept private: nobody scrapes it
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	if opts.MaxConcurrent < 0 {
		return nil, fmt.Errorf("upstream: negative MaxConcurrent %d", opts.MaxConcurrent)
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	f := &Forwarder{
		slots:    make(chan struct{}, opts.MaxConcurrent),
		timeout:  opts.Timeout,
		cooldown: cooldown,
		log:      log,
		metrics:  m,
		now:      time.Now,
		flights:  make(map[string]*flight),
		udpBufs: sync.Pool{New: func() any {
			b := make([]byte, maxUDPAnswer)
			return &b
		}},
	}
	for _, srv := range servers {
		u := newUpstream(srv, opts.RootCAs, m)
		if err := registerUp(reg, u.addr, func() bool { return !u.down(f.now()) }); err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, u)
	}
	return f, nil
}

// newUpstream sets up srv's transport; encrypted ones get their reusable
// connections here, opened on first use.
func newUpstream(srv Server, roots *x509.CertPool, m *metrics) *upstream {
	ip := srv.Addr.Addr().Unmap()
	u := &upstream{
		addr:    srv.Raw,
		dial:    srv.Addr.String(),
		udpAddr: net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, srv.Addr.Port())),
		ip:      ip,
		tr:      srv.Transport,
		m:       m.forUpstream(srv),
	}
	switch srv.Transport {
	case TransportTLS:
		// ALPN "dot" is the IANA-registered ID of DoT; servers without
		// ALPN ignore it.
		u.dot = newDoTPool(srv, tlsConfig(srv, roots, "dot"), &u.m)
	case TransportHTTPS:
		u.doh = newDoHClient(srv, roots, &u.m)
	}
	return u
}

// Close closes the connections of encrypted upstreams; later queries to
// them fail with net.ErrClosed, and DoT queries still running fail too
// (DoH requests in flight finish). Plain UDP queries still waiting for an
// answer time out; later ones still work. Call it on shutdown, after the
// listeners stopped.
func (f *Forwarder) Close() error {
	f.closeUDP()
	for _, u := range f.upstreams {
		if u.dot != nil {
			u.dot.close()
		}
		if u.doh != nil {
			u.doh.close()
		}
	}
	return nil
}

// Ready reports whether the Forwarder can be expected to answer: true when at
// least one upstream is healthy (it answered, or has not been tried, or its
// cooldown has passed). This matches dijk_upstream_up, and it turns true
// again by itself when cooldowns expire, so a readiness probe that stops
// traffic cannot keep it false forever.
func (f *Forwarder) Ready() bool {
	now := f.now()
	for _, u := range f.upstreams {
		if !u.down(now) {
			return true
		}
	}
	return false
}

// query is what an upstream exchange needs from a chain.Request; copied so
// the shared exchange does not read the first caller's Request after it left.
type query struct {
	question dns.Question
	do, cd   bool
}

// flight is one exchange with the upstreams, shared by the callers that
// ask the same question while it runs. It runs in its own goroutine so that
// it outlives any caller: the others still want its answer, and it stays in
// flight for loop detection.
type flight struct {
	done    chan struct{} // closed once msg, err and shared are set
	msg     *dns.Msg
	err     error
	callers int  // guarded by Forwarder.mu until the flight lands
	shared  bool // more than one caller: each takes a copy of msg
}

// ServeDNS forwards req and sets req.Outcome to chain.OutcomeForwarded when
// it returns an answer. The answer is the caller's own copy.
func (f *Forwarder) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	req.Blocking()
	key := flightKey(req)
	fromUpstream := f.isUpstream(req.Client.Addr())
	f.mu.Lock()
	fl := f.flights[key]
	if fl != nil && fromUpstream {
		// The same query is in flight and comes back from an upstream.
		f.mu.Unlock()
		return nil, f.loop(req.Client.Addr())
	}
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		f.flights[key] = fl
		// The exchange keeps ctx's values but not its cancellation;
		// resolve bounds it by f.timeout.
		go f.fly(context.WithoutCancel(ctx), key, fl, query{question: req.Question, do: req.DO, cd: req.CD})
	}
	fl.callers++
	f.mu.Unlock()

	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("upstream: waiting for answer: %w", context.Cause(ctx))
	case <-fl.done:
	}
	if fl.err != nil {
		return nil, fl.err
	}
	msg := fl.msg
	if fl.shared {
		// Callers may modify their answer, so each takes a copy.
		msg = msg.Copy()
	}
	req.Outcome = chain.OutcomeForwarded
	return msg, nil
}

// fly runs fl's exchange and lands it: off the flights map, so later
// queries start afresh, then its waiters are woken.
func (f *Forwarder) fly(ctx context.Context, key string, fl *flight, q query) {
	var (
		msg *dns.Msg
		err error
	)
	select {
	case f.slots <- struct{}{}:
		msg, err = f.resolve(ctx, q)
		<-f.slots
	default:
		f.metrics.overloaded.Inc()
		err = ErrOverloaded
	}
	f.mu.Lock()
	delete(f.flights, key)
	fl.shared = fl.callers > 1
	f.mu.Unlock()
	fl.msg, fl.err = msg, err
	close(fl.done)
}

// flightKey identifies identical queries: lower-cased name, type, class, DO, CD.
func flightKey(req *chain.Request) string {
	var b [5]byte
	binary.BigEndian.PutUint16(b[0:], req.Question.Qtype)
	binary.BigEndian.PutUint16(b[2:], req.Question.Qclass)
	if req.DO {
		b[4] |= 1
	}
	if req.CD {
		b[4] |= 2
	}
	return req.Name + string(b[:])
}

// holders returns the callers plus the running exchange for key, 0 when
// none runs (for tests).
func (f *Forwarder) holders(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.flights[key]; fl != nil {
		return fl.callers + 1
	}
	return 0
}

// loop counts a detected loop, warns at most once per loopWarnEvery, and
// returns the error for the looped query.
func (f *Forwarder) loop(from netip.Addr) error {
	f.metrics.loops.Inc()
	now := f.now().UnixNano()
	last := f.lastLoopWarn.Load()
	if (last == 0 || now-last >= int64(loopWarnEvery)) && f.lastLoopWarn.CompareAndSwap(last, now) {
		f.log.Warn("forwarding loop: an upstream sent back a query we are forwarding; make sure no upstream forwards to Dijk",
			"upstream", from.String())
	}
	return fmt.Errorf("upstream: query from upstream %s already in flight: %w", from, ErrLoop)
}
