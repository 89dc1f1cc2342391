package cache

import (
	"context"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
)

// fakeUpstream is a real DNS server on a loopback UDP port that answers every
// A query with 192.0.2.7, TTL 60.
type fakeUpstream struct {
	addr    string
	srv     *dns.Server
	served  atomic.Int64
	stopped chan error
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	u := &fakeUpstream{addr: pc.LocalAddr().String(), stopped: make(chan error, 1)}
	started := make(chan struct{})
	u.srv = &dns.Server{
		PacketConn:        pc,
		NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			u.served.Add(1)
			m := new(dns.Msg).SetReply(q)
			a := &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}}
			a.A = net.IPv4(192, 0, 2, 7)
			m.Answer = append(m.Answer, a)
			_ = w.WriteMsg(m)
		}),
	}
	go func() { u.stopped <- u.srv.ActivateAndServe() }()
	safetyWait(t, "the upstream start", started)
	t.Cleanup(func() { u.kill(t) })
	return u
}

// kill shuts the server down and closes its socket; safe to call twice.
func (u *fakeUpstream) kill(t *testing.T) {
	t.Helper()
	if u.srv == nil {
		return
	}
	if err := u.srv.Shutdown(); err != nil {
		t.Errorf("upstream shutdown: %v", err)
	}
	<-u.stopped
	u.srv = nil
}

// forwarder is the smallest next handler that asks a real server.
func forwarder(addr string, failures *atomic.Int64) chain.Handler {
	client := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
	return chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		q := new(dns.Msg)
		q.Id = dns.Id()
		q.RecursionDesired = true
		q.Question = []dns.Question{req.Question}
		resp, _, err := client.ExchangeContext(ctx, q, addr)
		if err != nil {
			failures.Add(1)
			return nil, err
		}
		req.Outcome = chain.OutcomeForwarded
		return resp, nil
	})
}

func TestStaleWithKilledUpstream(t *testing.T) {
	up := startUpstream(t)
	clock := newClock()
	var failures atomic.Int64
	c, err := New(Options{Size: 10, StaleFor: time.Hour, Now: clock.Now}, forwarder(up.addr, &failures))
	if err != nil {
		t.Fatal(err)
	}
	ask := func() (*dns.Msg, *chain.Request) {
		t.Helper()
		req := newReq("www.example.com.", dns.TypeA)
		m, err := c.ServeDNS(context.Background(), req)
		if err != nil {
			t.Fatalf("ServeDNS: %v", err)
		}
		return m, req
	}

	if m, req := ask(); aRecord(t, m) != "192.0.2.7" || req.Outcome != chain.OutcomeForwarded {
		t.Fatalf("first answer %v (%v), want the upstream's", m, req.Outcome)
	}
	up.kill(t)
	clock.Advance(61 * time.Second)

	m, req := ask()
	if got := failures.Load(); got != 1 {
		t.Errorf("upstream failures = %d, want 1: the refresh must have been tried", got)
	}
	if got := aRecord(t, m); got != "192.0.2.7" {
		t.Errorf("stale A = %s, want 192.0.2.7", got)
	}
	if got := m.Answer[0].Header().Ttl; got != 30 {
		t.Errorf("stale TTL = %d, want 30", got)
	}
	if got := edeCodes(m); !slices.Equal(got, []uint16{dns.ExtendedErrorCodeStaleAnswer}) {
		t.Errorf("EDE = %v, want [3]", got)
	}
	if req.Outcome != chain.OutcomeCached {
		t.Errorf("Outcome = %v, want cached", req.Outcome)
	}
	if got := up.served.Load(); got != 1 {
		t.Errorf("upstream served %d queries, want 1", got)
	}
}
