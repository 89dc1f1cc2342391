package cache

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is an injected clock; safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// stub is a next handler that counts calls and returns a fresh copy of its
// response each time, as a real upstream would.
type stub struct {
	calls atomic.Int64
	mu    sync.Mutex
	resp  *dns.Msg
	err   error
	// gate, when set, holds every call until it is closed or the call's
	// context ends: a slow or hung upstream.
	gate chan struct{}
	// hook, when set, runs at the start of every call.
	hook func(*chain.Request)
}

func (s *stub) set(resp *dns.Msg, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resp, s.err = resp, err
}

// hold makes calls wait until release.
func (s *stub) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

// release lets held and future calls through.
func (s *stub) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func (s *stub) setHook(hook func(*chain.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = hook
}

func (s *stub) handler() chain.Handler {
	return chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		s.calls.Add(1)
		s.mu.Lock()
		gate, hook := s.gate, s.hook
		s.mu.Unlock()
		if hook != nil {
			hook(req)
		}
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.err != nil {
			return nil, s.err
		}
		if s.resp == nil {
			return nil, nil
		}
		req.Outcome = chain.OutcomeForwarded // as the upstream forwarder does
		return s.resp.Copy(), nil
	})
}

func newReq(name string, qtype uint16) *chain.Request {
	q := new(dns.Msg).SetQuestion(name, qtype)
	return &chain.Request{
		ID:       q.Id,
		Question: q.Question[0],
		Name:     strings.ToLower(name),
		EDNS:     true,
	}
}

func rr(t testing.TB, s string) dns.RR {
	t.Helper()
	r, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("dns.NewRR(%q): %v", s, err)
	}
	return r
}

func rrs(t testing.TB, ss ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, s := range ss {
		out = append(out, rr(t, s))
	}
	return out
}

func reply(rcode int, answer, ns, extra []dns.RR) *dns.Msg {
	m := new(dns.Msg)
	m.Response = true
	m.Rcode = rcode
	m.Answer, m.Ns, m.Extra = answer, ns, extra
	return m
}

func aReply(t testing.TB, ttl string) *dns.Msg {
	return reply(dns.RcodeSuccess, rrs(t, "example.com. "+ttl+" IN A 192.0.2.1"), nil, nil)
}

func soa(t testing.TB, ttl, minimum string) dns.RR {
	return rr(t, "example.com. "+ttl+" IN SOA ns.example.com. host.example.com. 1 3600 600 86400 "+minimum)
}

func optWithEDE(code uint16, text string) *dns.OPT {
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(1232)
	o.Option = append(o.Option,
		&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e73"},
		&dns.EDNS0_EDE{InfoCode: code, ExtraText: text})
	return o
}

type fixture struct {
	c     *Cache
	next  *stub
	clock *fakeClock
	reg   *prometheus.Registry
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{next: &stub{}, clock: newClock(), reg: prometheus.NewRegistry()}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	opts.Registerer = f.reg
	c, err := New(opts, f.next.handler())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.c = c
	return f
}

func (f *fixture) query(t testing.TB, req *chain.Request) *dns.Msg {
	t.Helper()
	m, err := f.c.ServeDNS(context.Background(), req)
	if err != nil {
		t.Fatalf("ServeDNS(%s): %v", req.Question.Name, err)
	}
	return m
}

// metric reads one counter or gauge from the fixture's registry.
func (f *fixture) metric(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// edeCodes lists the EDE codes of every OPT in m's additional section.
func edeCodes(m *dns.Msg) []uint16 {
	var out []uint16
	for _, r := range m.Extra {
		opt, ok := r.(*dns.OPT)
		if !ok {
			continue
		}
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, ede.InfoCode)
			}
		}
	}
	return out
}

// manualTimers replaces Cache.after: every client response timer fires once
// fire is closed, never by itself.
type manualTimers struct {
	fire    chan time.Time
	started atomic.Int64
}

func newManualTimers(c *Cache) *manualTimers {
	m := &manualTimers{fire: make(chan time.Time)}
	c.after = m.after
	return m
}

func (m *manualTimers) after(time.Duration) (<-chan time.Time, func() bool) {
	m.started.Add(1)
	return m.fire, func() bool { return false }
}

func ttls(rrs []dns.RR) []uint32 {
	var out []uint32
	for _, r := range rrs {
		out = append(out, r.Header().Ttl)
	}
	return out
}
