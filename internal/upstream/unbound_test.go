package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// unboundBinary finds unbound, which Debian installs in /usr/sbin (often
// not in a user's PATH). Without it the test skips, except in CI.
func unboundBinary(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("unbound"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/unbound"); err == nil {
		return "/usr/sbin/unbound"
	}
	const msg = "unbound not found: install the Debian package unbound (apt-get install unbound)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// unboundConf serves DoT only on 127.0.0.1:port with a static test zone.
const unboundConf = `server:
	interface: 127.0.0.1@%[1]d
	tls-port: %[1]d
	tls-service-key: %[2]q
	tls-service-pem: %[3]q
	do-daemonize: no
	chroot: ""
	username: ""
	directory: %[4]q
	pidfile: %[5]q
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	do-ip6: no
	do-udp: no
	access-control: 127.0.0.0/8 allow
	module-config: "iterator"
	local-zone: "test." static
	local-data: "dot.test. 60 IN A 192.0.2.53"
remote-control:
	control-enable: no
`

// startUnbound runs a real Unbound serving DoT with pki's certificate and
// returns its port. It is killed when the test ends.
func startUnbound(t *testing.T, pki *testPKI) int {
	t.Helper()
	bin := unboundBinary(t)
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	writeFile(t, key, pki.keyPEM)
	writeFile(t, cert, pki.certPEM)
	port := freeTCPPort(t)
	conf := filepath.Join(dir, "unbound.conf")
	writeFile(t, conf, fmt.Appendf(nil, unboundConf, port, key, cert, dir, filepath.Join(dir, "unbound.pid")))

	out := &syncBuffer{}
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unbound: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	waitTLS(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), pki, exited, out)
	return port
}

// waitTLS polls until addr completes a verified TLS handshake, a bounded
// number of times; it fails early if the server process exits.
func waitTLS(t *testing.T, addr string, pki *testPKI, exited <-chan struct{}, out *syncBuffer) {
	t.Helper()
	cfg := &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	var err error
	for range 200 {
		select {
		case <-exited:
			t.Fatalf("unbound exited early:\n%s", out.String())
		default:
		}
		var conn *tls.Conn
		d := &net.Dialer{Timeout: time.Second}
		if conn, err = tls.DialWithDialer(d, "tcp", addr, cfg); err == nil {
			conn.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("unbound never accepted TLS on %s (last error %v):\n%s", addr, err, out.String())
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDoTUnbound forwards over DNS over TLS to a real Unbound.
func TestDoTUnbound(t *testing.T) {
	pki, other := newTestPKI(t), newTestPKI(t)
	port := startUnbound(t, pki)
	server := dotURL("127.0.0.1", port)

	t.Run("sequential queries share one connection", func(t *testing.T) {
		f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
		const queries = 20
		for i := range queries {
			m, err := serve(t, f.Forwarder, newRequest("dot.test.", dns.TypeA))
			if err != nil || firstA(m) != "192.0.2.53" {
				t.Fatalf("query %d: got %v, %v; want A 192.0.2.53", i, m, err)
			}
		}
		if got := dialCount(f, server); got != 1 {
			t.Errorf("%d queries opened %v connections, want 1", queries, got)
		}
	})

	t.Run("concurrent queries pipelined", func(t *testing.T) {
		f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: pki.pool})
		const queries = 50
		var wg sync.WaitGroup
		for i := range queries {
			wg.Go(func() {
				m, err := serve(t, f.Forwarder, newRequest("n"+strconv.Itoa(i)+".test.", dns.TypeA))
				if err != nil || m.Rcode != dns.RcodeNameError {
					t.Errorf("query %d: got %v, %v; want NXDOMAIN from the static zone", i, m, err)
				}
			})
		}
		wg.Wait()
		t.Logf("%d concurrent queries used %v connections", queries, dialCount(f, server))
		if got := dialCount(f, server); got < 1 || got > dotMaxConns {
			t.Errorf("%d concurrent queries opened %v connections, want 1 to %d", queries, got, dotMaxConns)
		}
	})

	t.Run("untrusted CA fails closed", func(t *testing.T) {
		f := newTestForwarderWith(t, Options{Servers: []string{server}, Timeout: 2 * time.Second, RootCAs: other.pool})
		m, err := serve(t, f.Forwarder, newRequest("dot.test.", dns.TypeA))
		if !errors.Is(err, ErrAllFailed) {
			t.Fatalf("got %v, %v; want an error wrapping ErrAllFailed", m, err)
		}
		if got := errCount(f, server, kindTLS); got != 1 {
			t.Errorf("tls errors = %v, want 1 (error: %v)", got, err)
		}
	})
}
