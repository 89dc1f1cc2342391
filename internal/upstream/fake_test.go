package upstream

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
)

// hangGuard bounds every wait in these tests; it is never an assertion on
// how fast something is, only a guard against a test hanging.
const hangGuard = 10 * time.Second

// testClient is the client address of test queries: not one of the fake
// upstreams, so loop detection stays out of the way unless a test wants it.
var testClient = netip.MustParseAddrPort("192.0.2.1:5353")

// fakeUpstream is an in-process DNS server on UDP and TCP of the same port
// that counts the queries it receives per transport and keeps the last one.
type fakeUpstream struct {
	addr     string
	udp, tcp atomic.Int64
	mu       sync.Mutex
	last     *dns.Msg
}

func (f *fakeUpstream) total() int64 { return f.udp.Load() + f.tcp.Load() }

func (f *fakeUpstream) lastQuery() *dns.Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// startFake starts a fake upstream on ip (port from :0) that answers with h.
// With tcp false it listens on UDP only.
func startFake(t testing.TB, ip string, tcp bool, h dns.HandlerFunc) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if w.RemoteAddr().Network() == "tcp" {
			f.tcp.Add(1)
		} else {
			f.udp.Add(1)
		}
		f.mu.Lock()
		f.last = r.Copy()
		f.mu.Unlock()
		h(w, r)
	})
	pc, ln := listenPair(t, ip, tcp)
	f.addr = pc.LocalAddr().String()
	servers := []*dns.Server{{PacketConn: pc, Handler: handler}}
	if ln != nil {
		servers = append(servers, &dns.Server{Listener: ln, Handler: handler})
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		select {
		case <-started:
		case <-time.After(hangGuard):
			t.Fatalf("fake upstream on %s did not start", f.addr)
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

// listenPair opens UDP on ip:0 and, if tcp, TCP on the same port. The TCP
// port may be taken by someone else, so it retries a bounded number of times.
func listenPair(t testing.TB, ip string, tcp bool) (net.PacketConn, net.Listener) {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		if !tcp {
			return pc, nil
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatalf("no port free on both udp and tcp at %s", ip)
	return nil, nil
}

// reply answers r with rcode and the given records in the answer section.
func reply(w dns.ResponseWriter, r *dns.Msg, rcode int, answer ...dns.RR) {
	m := new(dns.Msg).SetRcode(r, rcode)
	m.Answer = answer
	_ = w.WriteMsg(m)
}

// answerA is a handler that answers every query with one A record.
func answerA(ip string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		reply(w, r, dns.RcodeSuccess, rr(r.Question[0].Name+" 60 IN A "+ip))
	}
}

func answerRcode(rcode int) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) { reply(w, r, rcode) }
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

// deadUpstream is a UDP socket that reads queries and never answers.
type deadUpstream struct {
	addr    string
	conn    net.PacketConn
	queries atomic.Int64
	marks   atomic.Int64
}

const syncMark = "sync-mark" // not a DNS message; see deadUpstream.sync

func startDead(t testing.TB) *deadUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return watchDead(t, pc)
}

// watchDead turns pc into a deadUpstream: it counts and never answers.
func watchDead(t testing.TB, pc net.PacketConn) *deadUpstream {
	t.Helper()
	d := &deadUpstream{addr: pc.LocalAddr().String(), conn: pc}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, dns.MaxMsgSize)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == syncMark {
				d.marks.Add(1)
			} else {
				d.queries.Add(1)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return d
}

// seen returns the number of queries received so far, after making sure
// every datagram sent before the call has been read: it sends a marker and
// waits for it (a socket's queue is FIFO).
func (d *deadUpstream) seen(t testing.TB) int64 {
	t.Helper()
	c, err := net.Dial("udp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := d.marks.Load() + 1
	if _, err := c.Write([]byte(syncMark)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dead upstream to read the marker", func() bool { return d.marks.Load() >= want })
	return d.queries.Load()
}

// closedPort returns a UDP address where nothing listens, so queries get
// ICMP port unreachable.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// waitFor polls cond, bounded in count and by hangGuard.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// fakeClock is an injectable clock for cooldown tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testForwarder builds a Forwarder on a fresh registry with a fake clock.
type testForwarder struct {
	*Forwarder
	reg   *prometheus.Registry
	clock *fakeClock
	logs  *syncBuffer
}

func newTestForwarder(t testing.TB, timeout time.Duration, servers ...string) *testForwarder {
	t.Helper()
	return newTestForwarderWith(t, Options{Servers: servers, Timeout: timeout})
}

// newTestForwarderWith fills in the registry, logger and a one-minute
// cooldown, and closes the Forwarder's connections at the end of the test.
func newTestForwarderWith(t testing.TB, opts Options) *testForwarder {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	opts.Registerer = reg
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	if opts.Cooldown == 0 {
		opts.Cooldown = time.Minute
	}
	f, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = f.Close() })
	clock := newFakeClock()
	f.now = clock.Now
	f.loopbackLoops = true // the fakes stand in for remote upstreams
	return &testForwarder{Forwarder: f, reg: reg, clock: clock, logs: logs}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) count(substr string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), substr)
}

// newRequest builds a chain.Request as the server would for name/qtype.
func newRequest(name string, qtype uint16) *chain.Request {
	m := new(dns.Msg).SetQuestion(name, qtype)
	return requestFor(m, testClient)
}

func requestFor(m *dns.Msg, client netip.AddrPort) *chain.Request {
	req := &chain.Request{
		ID:        m.Id,
		Question:  m.Question[0],
		Name:      strings.ToLower(m.Question[0].Name),
		Client:    client,
		Transport: chain.TransportUDP,
		CD:        m.CheckingDisabled,
	}
	if opt := m.IsEdns0(); opt != nil {
		req.EDNS, req.DO = true, opt.Do()
	}
	return req
}

// serve runs ServeDNS with a hang guard. It may run in any goroutine, so it
// reports a hang with Errorf, never Fatalf.
func serve(t testing.TB, f *Forwarder, req *chain.Request) (*dns.Msg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	m, err := f.ServeDNS(ctx, req)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		t.Errorf("ServeDNS hung until the hang guard")
	}
	return m, err
}

// firstA returns the address of the first A record in m, or "".
func firstA(m *dns.Msg) string {
	if m == nil {
		return ""
	}
	for _, r := range m.Answer {
		if a, ok := r.(*dns.A); ok {
			return a.A.String()
		}
	}
	return ""
}
