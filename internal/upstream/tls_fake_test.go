package upstream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testName is the DNS SAN of test leaf certificates, besides 127.0.0.1 and ::1.
const testName = "dns.test"

// testPKI is a throwaway CA and a server certificate it signed.
type testPKI struct {
	pool    *x509.CertPool // trusts only this CA
	cert    tls.Certificate
	certPEM []byte // the leaf, for servers configured by file
	keyPEM  []byte
}

// newTestPKI makes a CA and a leaf for 127.0.0.1, ::1 and testName.
func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey := newKey(t)
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Dijk test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("creating CA: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := newKey(t)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: testName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{testName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("creating leaf: %v", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		pool:    x509.NewCertPool(),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	p.pool.AddCert(caCert)
	if p.cert, err = tls.X509KeyPair(p.certPEM, p.keyPEM); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}, MinVersion: tls.VersionTLS12}
}

// captureWriter lets the miekg handlers of fake_test.go answer DoH and
// in-process DoT queries.
type captureWriter struct {
	msg *dns.Msg
}

func (w *captureWriter) LocalAddr() net.Addr  { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (w *captureWriter) RemoteAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (w *captureWriter) WriteMsg(m *dns.Msg) error {
	w.msg = m
	return nil
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.msg = new(dns.Msg)
	return len(b), w.msg.Unpack(b)
}
func (w *captureWriter) Close() error        { return nil }
func (w *captureWriter) TsigStatus() error   { return nil }
func (w *captureWriter) TsigTimersOnly(bool) {}
func (w *captureWriter) Hijack()             {}

// answer runs h on q and returns its reply.
func answer(h dns.HandlerFunc, q *dns.Msg) *dns.Msg {
	w := &captureWriter{}
	h(w, q)
	return w.msg
}

// dohRequest is what the DoH server saw of one request.
type dohRequest struct {
	method, contentType, accept, host string
	protoMajor                        int
	bodyLen                           int
	query                             *dns.Msg
}

// dohServer is an in-process DoH server (httptest, TLS, HTTP/2).
type dohServer struct {
	srv      *httptest.Server
	port     int
	conns    atomic.Int64 // TCP connections accepted
	closed   atomic.Int64 // TCP connections ended
	requests atomic.Int64
	mu       sync.Mutex
	last     dohRequest
}

// url returns the DoH URL of the server with host (an IP or a name).
func (d *dohServer) url(host string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(d.port)) + "/dns-query"
}

func (d *dohServer) lastRequest() dohRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// dohRaw writes a whole HTTP answer to the query q.
type dohRaw func(w http.ResponseWriter, r *http.Request, q *dns.Msg)

// startDoH serves DoH on 127.0.0.1 with pki's certificate. h answers the
// DNS query; raw, when set, replaces the whole HTTP answer.
func startDoH(t testing.TB, pki *testPKI, h dns.HandlerFunc, raw dohRaw) *dohServer {
	t.Helper()
	d := &dohServer{}
	d.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.requests.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, dns.MaxMsgSize))
		q := new(dns.Msg)
		if q.Unpack(body) != nil {
			http.Error(w, "bad query", http.StatusBadRequest)
			return
		}
		d.mu.Lock()
		d.last = dohRequest{
			method: r.Method, contentType: r.Header.Get("Content-Type"), accept: r.Header.Get("Accept"),
			host: r.Host, protoMajor: r.ProtoMajor, bodyLen: len(body), query: q,
		}
		d.mu.Unlock()
		if raw != nil {
			raw(w, r, q)
			return
		}
		b, err := answer(h, q).Pack()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", dohMediaType)
		_, _ = w.Write(b)
	}))
	d.srv.EnableHTTP2 = true
	d.srv.TLS = pki.serverConfig()
	d.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are expected in some tests
	d.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			d.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			d.closed.Add(1)
		}
	}
	d.srv.StartTLS()
	t.Cleanup(d.srv.Close)
	d.port = d.srv.Listener.Addr().(*net.TCPAddr).Port
	return d
}

// dotServer is an in-process DoT server; serve runs for each connection
// after the handshake, with the connection's index from 1.
type dotServer struct {
	addr    string
	port    int
	conns   atomic.Int64 // TCP connections accepted
	queries atomic.Int64
	sizes   chan int // lengths of the queries read, for padding checks
}

// startDoT listens on 127.0.0.1 with pki's certificate.
func startDoT(t testing.TB, pki *testPKI, serve func(c *dotServerConn)) *dotServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.serverConfig())
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &dotServer{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port, sizes: make(chan int, 1000)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			n := s.conns.Add(1)
			mu.Lock()
			open = append(open, conn)
			mu.Unlock()
			wg.Go(func() {
				defer conn.Close()
				if conn.(*tls.Conn).Handshake() != nil {
					return
				}
				serve(&dotServerConn{Conn: conn, server: s, index: n})
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// dotServerConn reads and writes length-prefixed DNS messages.
type dotServerConn struct {
	net.Conn
	server *dotServer
	index  int64
}

func (c *dotServerConn) read() (*dns.Msg, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	raw := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := io.ReadFull(c, raw); err != nil {
		return nil, err
	}
	c.server.queries.Add(1)
	select {
	case c.server.sizes <- len(raw):
	default:
	}
	m := new(dns.Msg)
	return m, m.Unpack(raw)
}

func (c *dotServerConn) write(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	out := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
	_, err = c.Write(append(out, b...))
	return err
}

// serveDoT answers every query on the connection with h, in order.
func serveDoT(h dns.HandlerFunc) func(c *dotServerConn) {
	return func(c *dotServerConn) {
		for {
			q, err := c.read()
			if err != nil {
				return
			}
			if c.write(answer(h, q)) != nil {
				return
			}
		}
	}
}

// waitClosed waits until the peer closes c (or the hang guard ends it).
func (c *dotServerConn) waitClosed() error {
	_ = c.SetReadDeadline(time.Now().Add(hangGuard))
	_, err := c.Read(make([]byte, 1))
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
