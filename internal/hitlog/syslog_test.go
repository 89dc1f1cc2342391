package hitlog

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// received is one syslog message as a receiver got it.
type received struct {
	conn int    // which accepted connection (0 for UDP)
	msg  string // the message without transport framing
}

// receiver is a syslog collector on a loopback port.
type receiver struct {
	addr string
	msgs chan received
}

// next waits for the next message; the timeout only bounds a broken test.
func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case m := <-r.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no syslog message arrived")
		return received{}
	}
}

// udpReceiver collects one message per datagram (RFC 5426).
func udpReceiver(t *testing.T) *receiver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: pc.LocalAddr().String(), msgs: make(chan received, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			r.msgs <- received{msg: string(buf[:n])}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return r
}

// tcpReceiver collects octet-counted messages (RFC 6587 section 3.4.1),
// over TLS when cfg is not nil. closeAfter > 0 closes each connection after
// that many messages, as a restarting collector would.
func tcpReceiver(t *testing.T, cfg *tls.Config, closeAfter int) *receiver {
	t.Helper()
	var (
		ln  net.Listener
		err error
	)
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{addr: ln.Addr().String(), msgs: make(chan received, 100)}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; closeAfter == 0 || i < closeAfter; i++ {
					msg, err := readFrame(br)
					if err != nil {
						return
					}
					r.msgs <- received{conn: n, msg: msg}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return r
}

// readFrame reads MSG-LEN SP SYSLOG-MSG.
func readFrame(br *bufio.Reader) (string, error) {
	lenText, err := br.ReadString(' ')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
	if err != nil || n <= 0 {
		return "", fmt.Errorf("bad MSG-LEN %q", lenText)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(br, msg); err != nil {
		return "", err
	}
	return string(msg), nil
}

// testPKI is a CA and a collector certificate it signed, for 127.0.0.1
// and siem.test.
type testPKI struct {
	caFile string
	server *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Dijk test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "siem.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"siem.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testPKI{
		caFile: caFile,
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}},
	}
}

// rfc5424 splits <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP
// PROCID SP MSGID SP STRUCTURED-DATA SP MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>(\d) (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\]) (.*)$`)

type header struct {
	pri, version                                    int
	timestamp, hostname, appName, procID, msgID, sd string
	msg                                             string
}

func parseSyslog(t *testing.T, s string) header {
	t.Helper()
	m := rfc5424.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("not an RFC 5424 message: %q", s)
	}
	pri, _ := strconv.Atoi(m[1])
	version, _ := strconv.Atoi(m[2])
	return header{pri, version, m[3], m[4], m[5], m[6], m[7], m[8], m[9]}
}

func TestSyslogMessage(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name     string
		recv     func(t *testing.T) *receiver
		opts     func(addr string) SyslogOptions
		wantPRI  int
		wantApp  string
		wantHost string
	}{
		{
			name:    "udp, defaults",
			recv:    udpReceiver,
			opts:    func(addr string) SyslogOptions { return SyslogOptions{Address: addr} },
			wantPRI: 16*8 + 5, wantApp: "dijk", wantHost: "dijk-1",
		},
		{
			name: "tcp, facility and app name",
			recv: func(t *testing.T) *receiver { return tcpReceiver(t, nil, 0) },
			opts: func(addr string) SyslogOptions {
				return SyslogOptions{Address: addr, Transport: SyslogTCP, Facility: "local3", AppName: "dijk-edge"}
			},
			wantPRI: 19*8 + 5, wantApp: "dijk-edge", wantHost: "dijk-1",
		},
		{
			name: "tls, certificate for the IP address",
			recv: func(t *testing.T) *receiver { return tcpReceiver(t, pki.server, 0) },
			opts: func(addr string) SyslogOptions {
				return SyslogOptions{Address: addr, Transport: SyslogTLS, CAFile: pki.caFile, Facility: "AUTH"}
			},
			wantPRI: 4*8 + 5, wantApp: "dijk", wantHost: "dijk-1",
		},
		{
			name: "tls, server name",
			recv: func(t *testing.T) *receiver { return tcpReceiver(t, pki.server, 0) },
			opts: func(addr string) SyslogOptions {
				return SyslogOptions{Address: addr, Transport: SyslogTLS, CAFile: pki.caFile, ServerName: "siem.test"}
			},
			wantPRI: 16*8 + 5, wantApp: "dijk", wantHost: "dijk-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.recv(t)
			opts := tt.opts(r.addr)
			l, err := New(Options{Syslog: &opts, Observer: "dijk-1", Version: "1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			e := sampleEvent()
			e.Time = e.Time.Add(456789 * time.Nanosecond) // sub-microsecond part is cut
			l.Log(e)
			h := parseSyslog(t, r.next(t).msg)

			if h.pri != tt.wantPRI {
				t.Errorf("PRI = %d, want %d", h.pri, tt.wantPRI)
			}
			if h.version != 1 {
				t.Errorf("VERSION = %d, want 1", h.version)
			}
			ts, err := time.Parse(time.RFC3339Nano, h.timestamp)
			if err != nil {
				t.Errorf("TIMESTAMP %q: %v", h.timestamp, err)
			}
			if want := e.Time.Truncate(time.Microsecond); !ts.Equal(want) {
				t.Errorf("TIMESTAMP = %s, want %s", ts, want)
			}
			if h.timestamp != "2026-11-23T08:30:00.123456Z" {
				t.Errorf("TIMESTAMP text = %q, want UTC with six fraction digits", h.timestamp)
			}
			for _, f := range []struct{ name, got, want string }{
				{"HOSTNAME", h.hostname, tt.wantHost},
				{"APP-NAME", h.appName, tt.wantApp},
				{"PROCID", h.procID, strconv.Itoa(os.Getpid())},
				{"MSGID", h.msgID, "hit"},
				{"STRUCTURED-DATA", h.sd, "-"},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
			if strings.HasPrefix(h.msg, "\ufeff") || strings.HasSuffix(h.msg, "\n") {
				t.Errorf("MSG has a BOM or newline: %q", h.msg)
			}
			// MSG is the file sink's line: the ECS checks of TestLineFields,
			// with the timestamp of this event.
			msg := strings.Replace(h.msg, `"2026-11-23T08:30:00.123456789Z"`, `"2026-11-23T08:30:00.123000000Z"`, 1)
			checkHitFields(t, []byte(msg))
		})
	}
}

func TestSyslogSeverityAndMsgID(t *testing.T) {
	tests := []struct {
		name    string
		dataset Dataset
		mutate  func(e *Event)
		wantPRI int
		wantID  string
	}{
		{name: "hit is a notice", mutate: func(*Event) {}, wantPRI: 16*8 + 5, wantID: "hit"},
		{name: "bypass hit is a warning", mutate: func(e *Event) { e.Kind = KindBypass }, wantPRI: 16*8 + 4, wantID: "hit"},
		{name: "forwarded query is info", dataset: DatasetQueries, mutate: func(e *Event) { e.Outcome, e.Rule = OutcomeForwarded, "" }, wantPRI: 16*8 + 6, wantID: "query"},
		{name: "blocked query is a notice", dataset: DatasetQueries, mutate: func(e *Event) { e.Outcome = OutcomeBlocked }, wantPRI: 16*8 + 5, wantID: "query"},
		{name: "failed query is a warning", dataset: DatasetQueries, mutate: func(e *Event) { e.Outcome, e.Rule = OutcomeError, "" }, wantPRI: 16*8 + 4, wantID: "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := udpReceiver(t)
			l, err := New(Options{Syslog: &SyslogOptions{Address: r.addr}, Dataset: tt.dataset})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			e := sampleEvent()
			tt.mutate(&e)
			l.Log(e)
			h := parseSyslog(t, r.next(t).msg)
			if h.pri != tt.wantPRI || h.msgID != tt.wantID {
				t.Errorf("PRI %d MSGID %s, want %d %s", h.pri, h.msgID, tt.wantPRI, tt.wantID)
			}
			if h.hostname != "-" {
				t.Errorf("HOSTNAME = %q without an observer name, want the nil value -", h.hostname)
			}
		})
	}
}

// TestSyslogAndFileBothGetLines checks the fan-out: the same line in the
// file and in syslog.
func TestSyslogAndFileBothGetLines(t *testing.T) {
	r := tcpReceiver(t, nil, 0)
	var file safeBuffer
	l, err := New(Options{Writer: &file, Syslog: &SyslogOptions{Address: r.addr, Transport: SyslogTCP}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		e := sampleEvent()
		e.QueryID = uint16(i)
		l.Log(e)
	}
	for i := range n {
		h := parseSyslog(t, r.next(t).msg)
		if !strings.Contains(h.msg, fmt.Sprintf(`"id":%d,`, i)) {
			t.Fatalf("syslog message %d out of order: %s", i, h.msg)
		}
	}
	l.Close()
	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	if len(lines) != n {
		t.Fatalf("file has %d lines, want %d", len(lines), n)
	}
	if got := testutil.ToFloat64(l.written); got != 2*n {
		t.Errorf("lines_total = %v, want %d (each sink counts)", got, 2*n)
	}
}

// TestDeadSyslogDoesNotBlock logs to a collector that is not there: Log
// must return at once, the lines must be dropped and counted, and the file
// sink beside it must get every line.
func TestDeadSyslogDoesNotBlock(t *testing.T) {
	tests := []struct {
		name      string
		transport string
		dropsAll  bool // a stream transport cannot connect, so every line is dropped
	}{
		{name: "tcp", transport: SyslogTCP, dropsAll: true},
		{name: "tls", transport: SyslogTLS, dropsAll: true},
		{name: "udp", transport: SyslogUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := deadAddr(t, tt.transport)
			var file safeBuffer
			l, err := New(Options{
				Writer: &file, Queue: 4096,
				Syslog: &SyslogOptions{Address: addr, Transport: tt.transport},
			})
			if err != nil {
				t.Fatal(err)
			}
			const n = 2000
			logged := make(chan struct{})
			go func() {
				defer close(logged)
				for range n {
					l.Log(sampleEvent())
				}
			}()
			select {
			case <-logged:
			case <-time.After(10 * time.Second): // bounds a broken test only
				t.Fatal("Log blocked on a dead syslog collector")
			}
			l.Close()
			written := testutil.ToFloat64(l.written)
			dropped := testutil.ToFloat64(l.dropped)
			errs := testutil.ToFloat64(l.writeErrors)
			if lines := strings.Count(file.String(), "\n"); lines != n {
				t.Errorf("file has %d lines, want all %d", lines, n)
			}
			if written+dropped+errs != 2*n {
				t.Errorf("written %v + dropped %v + errors %v != %d lines for two sinks", written, dropped, errs, 2*n)
			}
			if tt.dropsAll && (dropped != n || written != n) {
				t.Errorf("dropped %v written %v, want %d each (file written, syslog dropped)", dropped, written, n)
			}
		})
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T, transport string) string {
	t.Helper()
	if transport == SyslogUDP {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSyslogReconnects has the collector close the connection after each
// message, as a restart would: delivery must resume on a new connection.
func TestSyslogReconnects(t *testing.T) {
	tests := []struct {
		name string
		tls  bool
	}{
		{name: "tcp"},
		{name: "tls", tls: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := SyslogOptions{Transport: SyslogTCP}
			var r *receiver
			if tt.tls {
				pki := newTestPKI(t)
				r = tcpReceiver(t, pki.server, 1)
				opts.Transport, opts.CAFile = SyslogTLS, pki.caFile
			} else {
				r = tcpReceiver(t, nil, 1)
			}
			opts.Address = r.addr
			l, err := New(Options{Syslog: &opts})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			l.Log(sampleEvent())
			if first := r.next(t); first.conn != 0 {
				t.Fatalf("first message on connection %d", first.conn)
			}
			// Lines written while the close is under way may be lost; keep
			// logging until one arrives on a new connection.
			deadline := time.After(10 * time.Second) // bounds a broken test only
			for {
				l.Log(sampleEvent())
				select {
				case m := <-r.msgs:
					if m.conn == 0 {
						t.Fatal("second message on the closed connection")
					}
					parseSyslog(t, m.msg)
					return
				case <-time.After(20 * time.Millisecond):
				case <-deadline:
					t.Fatalf("no message after the collector closed the connection; dropped %v, errors %v",
						testutil.ToFloat64(l.dropped), testutil.ToFloat64(l.writeErrors))
				}
			}
		})
	}
}

// TestSyslogUntrustedCollector: a collector whose certificate the CA file
// does not vouch for gets nothing, not even in the clear.
func TestSyslogUntrustedCollector(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	r := tcpReceiver(t, pki.server, 0)
	tests := []struct {
		name string
		opts SyslogOptions
	}{
		{name: "other CA", opts: SyslogOptions{Address: r.addr, Transport: SyslogTLS, CAFile: other.caFile}},
		{name: "wrong server name", opts: SyslogOptions{Address: r.addr, Transport: SyslogTLS, CAFile: pki.caFile, ServerName: "other.test"}},
		{name: "system roots", opts: SyslogOptions{Address: r.addr, Transport: SyslogTLS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(Options{Syslog: &tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			l.Log(sampleEvent())
			l.Close()
			if got := testutil.ToFloat64(l.dropped); got != 1 {
				t.Errorf("dropped = %v, want 1", got)
			}
			select {
			case m := <-r.msgs:
				t.Errorf("collector got %q", m.msg)
			default:
			}
		})
	}
}

func TestSyslogOptionErrors(t *testing.T) {
	pem := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(pem, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts SyslogOptions
		want string
	}{
		{name: "address without port", opts: SyslogOptions{Address: "127.0.0.1"}, want: `syslog address "127.0.0.1"`},
		{name: "unknown transport", opts: SyslogOptions{Address: "127.0.0.1:514", Transport: "quic"}, want: `transport "quic"`},
		{name: "unknown facility", opts: SyslogOptions{Address: "127.0.0.1:514", Facility: "local9"}, want: `facility "local9"`},
		{name: "missing CA file", opts: SyslogOptions{Address: "127.0.0.1:514", Transport: SyslogTLS, CAFile: "/nonexistent/ca.pem"}, want: "/nonexistent/ca.pem"},
		{name: "CA file without certificates", opts: SyslogOptions{Address: "127.0.0.1:514", Transport: SyslogTLS, CAFile: pem}, want: "no PEM certificate"},
		{name: "CA file over tcp", opts: SyslogOptions{Address: "127.0.0.1:514", Transport: SyslogTCP, CAFile: pem}, want: "tls only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(Options{Syslog: &tt.opts})
			if err == nil {
				l.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
		})
	}
}

func TestParseFacility(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
		err  bool
	}{
		{name: "kern", in: "kern", want: 0},
		{name: "daemon", in: "daemon", want: 3},
		{name: "authpriv", in: "authpriv", want: 10},
		{name: "local0", in: "local0", want: 16},
		{name: "local7 upper-case", in: "LOCAL7", want: 23},
		{name: "unknown", in: "local8", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFacility(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseFacility(%q) = %d, %v", tt.in, got, err)
			}
		})
	}
}

func TestHeaderField(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{name: "plain", in: "dijk-1.example.gov", max: maxHostname, want: "dijk-1.example.gov"},
		{name: "empty is nil value", in: "", max: maxHostname, want: "-"},
		{name: "spaces and controls removed", in: "dijk 1\n", max: maxHostname, want: "dijk1"},
		{name: "non-ASCII removed", in: "dïjk", max: maxAppName, want: "djk"},
		{name: "cut to the limit", in: strings.Repeat("a", 60), max: maxAppName, want: strings.Repeat("a", 48)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := headerField(tt.in, tt.max); got != tt.want {
				t.Errorf("headerField(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// safeBuffer is a bytes.Buffer for a sink goroutine and a test goroutine.
type safeBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
