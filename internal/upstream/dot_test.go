package upstream

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

func dotURL(host string, port int) string {
	return "tls://" + net.JoinHostPort(host, strconv.Itoa(port))
}

func TestDoTForward(t *testing.T) {
	pki := newTestPKI(t)
	dot := startDoT(t, pki, serveDoT(answerA("192.0.2.90")))
	tests := []struct {
		name   string
		server string
	}{
		{name: "IP only", server: dotURL("127.0.0.1", dot.port)},
		{name: "IP with name to verify", server: dotURL("127.0.0.1", dot.port) + "#" + testName},
		{name: "name with bootstrap IP", server: dotURL(testName, dot.port) + "#127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestForwarderWith(t, Options{Servers: []string{tt.server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
			before := dot.conns.Load()
			const queries = 20
			for i := range queries {
				m, err := serve(t, f.Forwarder, newRequest("dot"+strconv.Itoa(i)+".example.", dns.TypeA))
				if err != nil || firstA(m) != "192.0.2.90" {
					t.Fatalf("query %d: got %v, %v", i, m, err)
				}
			}
			if got := dot.conns.Load() - before; got != 1 {
				t.Errorf("%d sequential queries opened %d connections, want 1", queries, got)
			}
			if got := dialCount(f, tt.server); got != 1 {
				t.Errorf("dijk_upstream_connections_total = %v, want 1", got)
			}
		})
	}
}

// TestDoTPadding checks the query sizes the server reads (RFC 8467 §4.1).
func TestDoTPadding(t *testing.T) {
	pki := newTestPKI(t)
	dot := startDoT(t, pki, serveDoT(answerA("192.0.2.91")))
	f := newTestForwarderWith(t, Options{Servers: []string{dotURL("127.0.0.1", dot.port)}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	for _, name := range []string{"a.", "pad.example.", "a-much-longer-name-that-needs-more-octets.example.", "x.y.z.example."} {
		if _, err := serve(t, f.Forwarder, newRequest(name, dns.TypeA)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if size := <-dot.sizes; size%paddingBlock != 0 {
			t.Errorf("%s: query of %d octets, want a multiple of %d", name, size, paddingBlock)
		}
	}
}

// TestDoTOutOfOrder pipelines two queries on one connection and answers the
// second first: each must still get its own answer (RFC 7766 §7).
func TestDoTOutOfOrder(t *testing.T) {
	pki := newTestPKI(t)
	ids := make(chan [2]uint16, 1)
	dot := startDoT(t, pki, func(c *dotServerConn) {
		if c.index != 1 {
			return // a second connection means no pipelining: the test fails below
		}
		var qs [2]*dns.Msg
		for i := range qs {
			q, err := c.read()
			if err != nil {
				return
			}
			qs[i] = q
		}
		ids <- [2]uint16{qs[0].Id, qs[1].Id}
		for _, q := range []*dns.Msg{qs[1], qs[0]} {
			// Each name answers with its own address: first→.1, second→.2.
			ip := "192.0.2.1"
			if q.Question[0].Name == "second.example." {
				ip = "192.0.2.2"
			}
			if c.write(answer(answerA(ip), q)) != nil {
				return
			}
		}
		_ = c.waitClosed()
	})
	f := newTestForwarderWith(t, Options{Servers: []string{dotURL("127.0.0.1", dot.port)}, Timeout: hangGuard, RootCAs: pki.pool})

	want := map[string]string{"first.example.": "192.0.2.1", "second.example.": "192.0.2.2"}
	var wg sync.WaitGroup
	got := make(map[string]string)
	var mu sync.Mutex
	for name := range want {
		wg.Go(func() {
			m, err := serve(t, f.Forwarder, newRequest(name, dns.TypeA))
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			mu.Lock()
			got[name] = firstA(m)
			mu.Unlock()
		})
	}
	wg.Wait()
	for name, ip := range want {
		if got[name] != ip {
			t.Errorf("%s: A = %q, want %s", name, got[name], ip)
		}
	}
	if n := dot.conns.Load(); n != 1 {
		t.Errorf("two concurrent queries used %d connections, want 1 (pipelined)", n)
	}
	select {
	case pair := <-ids:
		if pair[0] == pair[1] {
			t.Errorf("both in-flight queries have ID %d; IDs must be unique on a connection", pair[0])
		}
	default:
		t.Error("the server never saw both queries on one connection")
	}
}

// TestDoTBrokenConnection: a connection that closes with a query unanswered
// is redialled and the query retried, once.
func TestDoTBrokenConnection(t *testing.T) {
	tests := []struct {
		name      string
		failConns int64 // connections closed after reading the query
		wantOK    bool
	}{
		{name: "closed once, retried on a new connection", failConns: 1, wantOK: true},
		{name: "always closed, retried only once", failConns: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pki := newTestPKI(t)
			answerer := serveDoT(answerA("192.0.2.92"))
			dot := startDoT(t, pki, func(c *dotServerConn) {
				if c.index <= tt.failConns {
					_, _ = c.read()
					return // closes without answering
				}
				answerer(c)
			})
			server := dotURL("127.0.0.1", dot.port)
			f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
			m, err := serve(t, f.Forwarder, newRequest("broken.example.", dns.TypeA))
			if tt.wantOK {
				if err != nil || firstA(m) != "192.0.2.92" {
					t.Fatalf("got %v, %v; want the answer from the second connection", m, err)
				}
			} else {
				if !errors.Is(err, ErrAllFailed) {
					t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
				}
				if got := errCount(f, server, kindNetwork); got != 1 {
					t.Errorf("network errors = %v, want 1", got)
				}
			}
			if got := dot.queries.Load(); got != 2 {
				t.Errorf("server read %d queries, want 2 (the first try and one retry)", got)
			}
			if got := dot.conns.Load(); got != 2 {
				t.Errorf("server saw %d connections, want 2", got)
			}
		})
	}
}

// TestDoTIdleClose: an unused connection is closed after the idle timeout,
// and the next query dials again.
func TestDoTIdleClose(t *testing.T) {
	pki := newTestPKI(t)
	closed := make(chan error, 2)
	dot := startDoT(t, pki, func(c *dotServerConn) {
		q, err := c.read()
		if err != nil {
			return
		}
		if c.write(answer(answerA("192.0.2.93"), q)) != nil {
			return
		}
		closed <- c.waitClosed()
	})
	server := dotURL("127.0.0.1", dot.port)
	f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	f.upstreams[0].dot.idle = 10 * time.Millisecond

	for i := range 2 {
		if _, err := serve(t, f.Forwarder, newRequest("idle.example.", dns.TypeA)); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("query %d: server saw %v, want the client to close the idle connection", i, err)
		}
	}
	if got := dot.conns.Load(); got != 2 {
		t.Errorf("server saw %d connections, want 2 (one per idle period)", got)
	}
}

// TestDoTVerification: bad certificates fail with kind "tls" before any
// query is sent.
func TestDoTVerification(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	dot := startDoT(t, pki, serveDoT(answerA("192.0.2.94")))
	tests := []struct {
		name   string
		server string
		roots  *testPKI
	}{
		{name: "untrusted CA", server: dotURL("127.0.0.1", dot.port), roots: other},
		{name: "name not in the certificate", server: dotURL("127.0.0.1", dot.port) + "#wrong.test", roots: pki},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestForwarderWith(t, Options{Servers: []string{tt.server}, Timeout: 2 * time.Second, RootCAs: tt.roots.pool})
			m, err := serve(t, f.Forwarder, newRequest("verify.example.", dns.TypeA))
			if !errors.Is(err, ErrAllFailed) {
				t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
			}
			if got := errCount(f, tt.server, kindTLS); got != 1 {
				t.Errorf("tls errors = %v, want 1 (error: %v)", got, err)
			}
		})
	}
	if got := dot.queries.Load(); got != 0 {
		t.Errorf("server read %d queries over unverified connections, want 0", got)
	}
}

// TestDoTMismatched: answers for no query in flight, or for another
// question, are counted and ignored; the real answer still arrives.
func TestDoTMismatched(t *testing.T) {
	pki := newTestPKI(t)
	dot := startDoT(t, pki, func(c *dotServerConn) {
		q, err := c.read()
		if err != nil {
			return
		}
		good := answer(answerA("192.0.2.95"), q)
		wrongID := good.Copy()
		wrongID.Id++
		wrongName := answer(answerA("203.0.113.1"), q)
		wrongName.Question[0].Name = "other.example."
		for _, m := range []*dns.Msg{wrongID, wrongName, good} {
			if c.write(m) != nil {
				return
			}
		}
		_ = c.waitClosed()
	})
	server := dotURL("127.0.0.1", dot.port)
	f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	m, err := serve(t, f.Forwarder, newRequest("mismatch.example.", dns.TypeA))
	if err != nil || firstA(m) != "192.0.2.95" {
		t.Fatalf("got %v, %v; want the matching answer", m, err)
	}
	if got := testutil.ToFloat64(f.metrics.mismatched.WithLabelValues(server)); got != 2 {
		t.Errorf("mismatched = %v, want 2", got)
	}
}

// TestDoTUniqueIDs: a query never gets an ID already in flight on its
// connection, even when the random source repeats itself.
func TestDoTUniqueIDs(t *testing.T) {
	tests := []struct {
		name    string
		ids     []uint16 // the ID source's output, in order
		want    []uint16 // IDs given to three queries; 0 with wantErr at the end
		wantErr bool
	}{
		{name: "distinct draws", ids: []uint16{1, 2, 3}, want: []uint16{1, 2, 3}},
		{name: "repeated draws skipped", ids: []uint16{7, 7, 7, 9, 9, 11}, want: []uint16{7, 9, 11}},
		{name: "source stuck on one ID", ids: []uint16{5}, want: []uint16{5}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := 0
			newID := func() uint16 {
				id := tt.ids[min(next, len(tt.ids)-1)]
				next++
				return id
			}
			client, server := net.Pipe()
			t.Cleanup(func() { client.Close(); server.Close() })
			m, err := newMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			um := m.forUpstream(Server{Raw: "tls://192.0.2.1", Transport: TransportTLS})
			c := newDoTConn(client, &um, time.Minute, newID)
			var got []uint16
			for range 3 {
				pq, err := c.register(new(dns.Msg).SetQuestion("id.example.", dns.TypeA))
				if err != nil {
					if !tt.wantErr {
						t.Fatalf("register: %v", err)
					}
					break
				}
				got = append(got, pq.req.Id)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("IDs %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("IDs %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestDoTClose: Close ends pooled connections, and the Forwarder sends
// nothing afterwards.
func TestDoTClose(t *testing.T) {
	pki := newTestPKI(t)
	closed := make(chan error, 1)
	dot := startDoT(t, pki, func(c *dotServerConn) {
		q, err := c.read()
		if err != nil {
			return
		}
		if c.write(answer(answerA("192.0.2.96"), q)) != nil {
			return
		}
		closed <- c.waitClosed()
	})
	f := newTestForwarderWith(t, Options{Servers: []string{dotURL("127.0.0.1", dot.port)}, Timeout: time.Second, RootCAs: pki.pool})
	if _, err := serve(t, f.Forwarder, newRequest("close.example.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("server saw %v, want the connection closed by Close", err)
	}
	if _, err := serve(t, f.Forwarder, newRequest("after.example.", dns.TypeA)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("query after Close got %v, want net.ErrClosed", err)
	}
	if got := dot.conns.Load(); got != 1 {
		t.Errorf("server saw %d connections, want 1", got)
	}
}

// TestTCPOnly: tcp:// never uses UDP, and a truncated answer over TCP is
// the answer (there is nothing larger to retry with).
func TestTCPOnly(t *testing.T) {
	tests := []struct {
		name    string
		handler dns.HandlerFunc
		wantTC  bool
	}{
		{name: "answer", handler: answerA("192.0.2.97")},
		{name: "truncated answer returned as is", handler: func(w dns.ResponseWriter, r *dns.Msg) {
			m := new(dns.Msg).SetReply(r)
			m.Truncated = true
			_ = w.WriteMsg(m)
		}, wantTC: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t, "127.0.0.1", true, tt.handler)
			f := newTestForwarder(t, 2*time.Second, "tcp://"+fake.addr)
			req := newRequest("tcp.example.", dns.TypeA)
			m, err := serve(t, f.Forwarder, req)
			if err != nil || req.Outcome != chain.OutcomeForwarded {
				t.Fatalf("got %v, %v", m, err)
			}
			if m.Truncated != tt.wantTC {
				t.Errorf("TC = %v, want %v", m.Truncated, tt.wantTC)
			}
			if fake.udp.Load() != 0 || fake.tcp.Load() != 1 {
				t.Errorf("fake saw udp=%d tcp=%d queries, want 0 and 1", fake.udp.Load(), fake.tcp.Load())
			}
		})
	}
}
