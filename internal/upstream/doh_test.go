package upstream

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// errCount returns dijk_upstream_errors_total{upstream=label,kind=kind}.
func errCount(f *testForwarder, label, kind string) float64 {
	return testutil.ToFloat64(f.metrics.errors.WithLabelValues(label, kind))
}

func dialCount(f *testForwarder, label string) float64 {
	return testutil.ToFloat64(f.metrics.dials.WithLabelValues(label))
}

// paddedQuery reports whether m has an EDNS Padding option.
func paddedQuery(m *dns.Msg) bool {
	opt := m.IsEdns0()
	if opt == nil {
		return false
	}
	for _, o := range opt.Option {
		if _, ok := o.(*dns.EDNS0_PADDING); ok {
			return true
		}
	}
	return false
}

func TestDoHForward(t *testing.T) {
	pki := newTestPKI(t)
	doh := startDoH(t, pki, answerA("192.0.2.80"), nil)
	port := strconv.Itoa(doh.port)
	tests := []struct {
		name     string
		server   string
		wantHost string
	}{
		{name: "IP in the URL", server: doh.url("127.0.0.1"), wantHost: "127.0.0.1:" + port},
		{name: "name with bootstrap IP", server: doh.url(testName) + "#127.0.0.1", wantHost: testName + ":" + port},
		{name: "IP with name to verify", server: doh.url("127.0.0.1") + "#" + testName, wantHost: testName + ":" + port},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestForwarderWith(t, Options{Servers: []string{tt.server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
			client := new(dns.Msg).SetQuestion("DoH.Example.", dns.TypeA)
			client.CheckingDisabled = true
			client.SetEdns0(4096, true)
			m, err := serve(t, f.Forwarder, requestFor(client, testClient))
			if err != nil {
				t.Fatalf("ServeDNS: %v", err)
			}
			if got := firstA(m); got != "192.0.2.80" {
				t.Errorf("A = %q, want 192.0.2.80", got)
			}
			r := doh.lastRequest()
			checks := []struct {
				what string
				ok   bool
				got  any
			}{
				{"method POST", r.method == http.MethodPost, r.method},
				{"content type " + dohMediaType, r.contentType == dohMediaType, r.contentType},
				{"accept " + dohMediaType, r.accept == dohMediaType, r.accept},
				{"HTTP/2", r.protoMajor == 2, r.protoMajor},
				{"host " + tt.wantHost, r.host == tt.wantHost, r.host},
				{"DNS ID 0 (RFC 8484 §4.1)", r.query.Id == 0, r.query.Id},
				{"body a multiple of 128 octets (RFC 8467)", r.bodyLen%paddingBlock == 0 && paddedQuery(r.query), r.bodyLen},
				{"client's spelling of the name", r.query.Question[0].Name == "DoH.Example.", r.query.Question[0].Name},
				{"CD copied", r.query.CheckingDisabled, r.query.CheckingDisabled},
				{"DO copied", r.query.IsEdns0() != nil && r.query.IsEdns0().Do(), r.query.IsEdns0()},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("request at the server: want %s, got %v", c.what, c.got)
				}
			}
		})
	}
}

// TestDoHConnectionReuse: sequential queries share one HTTP/2 connection.
func TestDoHConnectionReuse(t *testing.T) {
	pki := newTestPKI(t)
	doh := startDoH(t, pki, answerA("192.0.2.81"), nil)
	server := doh.url("127.0.0.1")
	f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	const queries = 20
	for i := range queries {
		m, err := serve(t, f.Forwarder, newRequest("reuse"+strconv.Itoa(i)+".example.", dns.TypeA))
		if err != nil || firstA(m) != "192.0.2.81" {
			t.Fatalf("query %d: got %v, %v", i, m, err)
		}
	}
	if got := doh.requests.Load(); got != queries {
		t.Errorf("server saw %d requests, want %d", got, queries)
	}
	if got := doh.conns.Load(); got != 1 {
		t.Errorf("%d queries opened %d connections at the server, want 1", queries, got)
	}
	if got := dialCount(f, server); got != 1 {
		t.Errorf("dijk_upstream_connections_total = %v, want 1", got)
	}
}

// TestDoHVerification: a certificate that does not verify fails the
// upstream with kind "tls", and nothing is sent in cleartext instead.
func TestDoHVerification(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	doh := startDoH(t, pki, answerA("192.0.2.82"), nil)
	// A cleartext fallback would go to the same port over UDP or TCP: the
	// TCP side is the TLS server (it would count a request or a connection
	// without a handshake); listen on the UDP side to catch the other.
	udp := listenUDPOnPort(t, doh.port)
	tests := []struct {
		name   string
		server string
		roots  bool // trust pki; else other
		system bool // no RootCAs at all
	}{
		{name: "certificate from an untrusted CA", server: doh.url("127.0.0.1")},
		{name: "system roots do not know the test CA", server: doh.url("127.0.0.1"), system: true},
		{name: "name not in the certificate", server: doh.url("127.0.0.1") + "#wrong.test", roots: true},
		{name: "bootstrap name not in the certificate", server: doh.url("wrong.test") + "#127.0.0.1", roots: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Servers: []string{tt.server}, Timeout: 2 * time.Second, RootCAs: other.pool}
			switch {
			case tt.roots:
				opts.RootCAs = pki.pool
			case tt.system:
				opts.RootCAs = nil
			}
			f := newTestForwarderWith(t, opts)
			before := doh.requests.Load()
			m, err := serve(t, f.Forwarder, newRequest("verify.example.", dns.TypeA))
			if !errors.Is(err, ErrAllFailed) {
				t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
			}
			if got := errCount(f, tt.server, kindTLS); got != 1 {
				t.Errorf("tls errors = %v, want 1 (error: %v)", got, err)
			}
			if got := errCount(f, tt.server, kindNetwork) + errCount(f, tt.server, kindHTTP); got != 0 {
				t.Errorf("network+http errors = %v, want 0", got)
			}
			if got := doh.requests.Load() - before; got != 0 {
				t.Errorf("server answered %d requests, want 0", got)
			}
			if !f.upstreams[0].down(f.now()) {
				t.Error("upstream with a bad certificate not in cooldown")
			}
		})
	}
	if n := udp.seen(t); n != 0 {
		t.Errorf("%d cleartext UDP queries reached the upstream's port, want 0", n)
	}
}

// listenUDPOnPort is a deadUpstream on 127.0.0.1:port.
func listenUDPOnPort(t *testing.T, port int) *deadUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("UDP port %d is taken by someone else; rerun: %v", port, err)
	}
	return watchDead(t, pc)
}

func TestDoHBadAnswers(t *testing.T) {
	good := func(q *dns.Msg) *dns.Msg { return answer(answerA("192.0.2.83"), q) }
	writeMsg := func(ct string, edit func(m *dns.Msg)) dohRaw {
		return func(w http.ResponseWriter, _ *http.Request, q *dns.Msg) {
			m := good(q)
			edit(m)
			b, _ := m.Pack()
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write(b)
		}
	}
	keep := func(*dns.Msg) {}
	tests := []struct {
		name           string
		raw            dohRaw
		wantOK         bool
		wantMismatched float64
	}{
		{name: "media type parameters ignored", raw: writeMsg(dohMediaType+"; x=1", keep), wantOK: true},
		{name: "HTTP 500", raw: func(w http.ResponseWriter, _ *http.Request, _ *dns.Msg) {
			http.Error(w, "down", http.StatusInternalServerError)
		}},
		{name: "HTTP 500 with a DNS answer", raw: func(w http.ResponseWriter, _ *http.Request, q *dns.Msg) {
			b, _ := good(q).Pack()
			w.Header().Set("Content-Type", dohMediaType)
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(b)
		}},
		{name: "HTTP 404", raw: func(w http.ResponseWriter, r *http.Request, _ *dns.Msg) { http.NotFound(w, r) }},
		{name: "redirect not followed", raw: func(w http.ResponseWriter, r *http.Request, _ *dns.Msg) {
			http.Redirect(w, r, "https://elsewhere.example/dns-query", http.StatusTemporaryRedirect)
		}},
		{name: "wrong content type", raw: writeMsg("text/plain", keep)},
		{name: "no content type", raw: func(w http.ResponseWriter, _ *http.Request, _ *dns.Msg) {
			w.Header()["Content-Type"] = nil // stops sniffing too
			_, _ = w.Write([]byte{0, 0})
		}},
		{name: "answer over 65535 octets", raw: func(w http.ResponseWriter, _ *http.Request, _ *dns.Msg) {
			w.Header().Set("Content-Type", dohMediaType)
			_, _ = w.Write(make([]byte, dns.MaxMsgSize+1))
		}},
		{name: "not a DNS message", wantMismatched: 1, raw: func(w http.ResponseWriter, _ *http.Request, _ *dns.Msg) {
			w.Header().Set("Content-Type", dohMediaType)
			_, _ = w.Write([]byte("junk"))
		}},
		{name: "answer for another name", wantMismatched: 1, raw: writeMsg(dohMediaType, func(m *dns.Msg) { m.Question[0].Name = "other.example." })},
		{name: "answer with another ID", wantMismatched: 1, raw: writeMsg(dohMediaType, func(m *dns.Msg) { m.Id = 1 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pki := newTestPKI(t)
			doh := startDoH(t, pki, nil, tt.raw)
			server := doh.url("127.0.0.1")
			f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
			m, err := serve(t, f.Forwarder, newRequest("bad.example.", dns.TypeA))
			if tt.wantOK {
				if err != nil || firstA(m) != "192.0.2.83" {
					t.Fatalf("got %v, %v; want the answer", m, err)
				}
				return
			}
			if !errors.Is(err, ErrAllFailed) {
				t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
			}
			if got := errCount(f, server, kindHTTP); got != 1 {
				t.Errorf("http errors = %v, want 1 (error: %v)", got, err)
			}
			if got := testutil.ToFloat64(f.metrics.mismatched.WithLabelValues(server)); got != tt.wantMismatched {
				t.Errorf("mismatched = %v, want %v", got, tt.wantMismatched)
			}
		})
	}
}

// TestDoHFailover: an upstream answering HTTP 500 is skipped for the next
// one, and for later queries during its cooldown.
func TestDoHFailover(t *testing.T) {
	pki := newTestPKI(t)
	broken := startDoH(t, pki, nil, func(w http.ResponseWriter, _ *http.Request, _ *dns.Msg) {
		http.Error(w, "down", http.StatusInternalServerError)
	})
	good := startDoH(t, pki, answerA("192.0.2.84"), nil)
	first, second := broken.url("127.0.0.1"), good.url("127.0.0.1")
	f := newTestForwarderWith(t, Options{Servers: []string{first, second}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	for i := range 2 {
		m, err := serve(t, f.Forwarder, newRequest("failover.example.", dns.TypeA))
		if err != nil || firstA(m) != "192.0.2.84" {
			t.Fatalf("query %d: got %v, %v; want the second upstream's answer", i, m, err)
		}
	}
	if got := broken.requests.Load(); got != 1 {
		t.Errorf("failing upstream saw %d requests, want 1 (skipped during its cooldown)", got)
	}
	if got := errCount(f, first, kindHTTP); got != 1 {
		t.Errorf("http errors of the failing upstream = %v, want 1", got)
	}
	if got := upGauge(t, f, first); got != 0 {
		t.Errorf("dijk_upstream_up of the failing upstream = %v, want 0", got)
	}
}

// TestDoHDeadline: a server that never answers costs the attempt's share of
// the budget, then the query fails as a timeout.
func TestDoHDeadline(t *testing.T) {
	pki := newTestPKI(t)
	doh := startDoH(t, pki, nil, func(_ http.ResponseWriter, r *http.Request, _ *dns.Msg) {
		select {
		case <-r.Context().Done(): // the client gave up
		case <-time.After(hangGuard):
		}
	})
	server := doh.url("127.0.0.1")
	const budget = 300 * time.Millisecond
	f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: budget, RootCAs: pki.pool})
	m, err := serve(t, f.Forwarder, newRequest("slow.example.", dns.TypeA))
	if !errors.Is(err, ErrAllFailed) {
		t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
	}
	if got := errCount(f, server, kindTimeout); got != 1 {
		t.Errorf("timeout errors = %v, want 1 (error: %v)", got, err)
	}
	if !strings.Contains(err.Error(), server) {
		t.Errorf("error %q does not name the upstream", err)
	}
}

// TestDoHClose: after Close the DoH upstream takes no queries and its idle
// connection is gone.
func TestDoHClose(t *testing.T) {
	pki := newTestPKI(t)
	doh := startDoH(t, pki, answerA("192.0.2.85"), nil)
	f := newTestForwarderWith(t, Options{Servers: []string{doh.url("127.0.0.1")}, Timeout: time.Second, RootCAs: pki.pool})
	if _, err := serve(t, f.Forwarder, newRequest("close.example.", dns.TypeA)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitFor(t, "the server to see the idle connection closed", func() bool { return doh.closed.Load() == doh.conns.Load() })
	if _, err := serve(t, f.Forwarder, newRequest("after.example.", dns.TypeA)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("query after Close got %v, want net.ErrClosed", err)
	}
	if got := doh.requests.Load(); got != 1 {
		t.Errorf("server saw %d requests, want 1", got)
	}
}
