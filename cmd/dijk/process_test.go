package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// requireTool finds an outside program the test drives. On a developer
// machine a missing one skips the test, naming the Debian package; in CI
// (CI=true) it fails, because .ci/run installs it.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found; .ci/run should have installed Debian package %s", name, debianPackage)
	}
	t.Skipf("%s not found: install Debian package %s to run this test", name, debianPackage)
	return ""
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// TestMain removes the binary dijkBinary built: 22 MB per test run would
// otherwise pile up in the temporary directory.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildOnce.path != "" {
		_ = os.RemoveAll(filepath.Dir(buildOnce.path))
	}
	os.Exit(code)
}

// dijkBinary builds cmd/dijk once per test run.
func dijkBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dijk-test-bin")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "dijk")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, ".").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// freePort returns a loopback port that is free for both UDP and TCP.
func freePort(t *testing.T) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no free loopback port")
	return ""
}

// dijkProcess is `dijk serve` running as a child process.
type dijkProcess struct {
	cmd            *exec.Cmd
	dns, http      string
	stdout, stderr *syncBuffer
	exited         chan error
}

func startProcess(t *testing.T, configYAML string, dnsAddr, httpAddr string) *dijkProcess {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "dijk.yaml")
	if err := os.WriteFile(cfgPath, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &dijkProcess{dns: dnsAddr, http: httpAddr, stdout: new(syncBuffer), stderr: new(syncBuffer), exited: make(chan error, 1)}
	p.cmd = exec.Command(dijkBinary(t), "serve", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	for try := 0; ; try++ {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if try == 100 {
			t.Fatalf("dijk did not come up: %v\nstderr:\n%s", err, p.stderr)
		}
		select {
		case err := <-p.exited:
			t.Fatalf("dijk exited: %v\nstderr:\n%s", err, p.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *dijkProcess) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// dig runs dig against the process and returns its output.
func (p *dijkProcess) dig(t *testing.T, args ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(p.dns)
	all := append([]string{"@" + host, "-p", port, "+time=3", "+tries=1"}, args...)
	out, err := exec.Command(requireTool(t, "dig", "bind9-dnsutils"), all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestDigAgainstRunningBinary(t *testing.T) {
	requireTool(t, "dig", "bind9-dnsutils")
	up := startFakeUpstream(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "local.txt")
	if err := os.WriteFile(list, []byte("# Source: test\nexample.net\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hits := filepath.Join(dir, "hits.jsonl")
	dnsAddr, httpAddr := freePort(t), freePort(t)
	p := startProcess(t, fmt.Sprintf(`
listen:
  dns: [%q]
  http: %q
upstream:
  servers: [%q]
blocklists: [builtin:deepseek, %q]
log:
  hits: %q
`, dnsAddr, httpAddr, up.addr, list, hits), dnsAddr, httpAddr)

	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"blocked over UDP with EDE", []string{"chat.deepseek.com"},
			[]string{"status: NXDOMAIN", "EDE: 15 (Blocked)", "builtin:deepseek", "deepseek.com.\t\t300\tIN\tSOA\tsinkhole.dijk.invalid."}, nil},
		{"blocked over TCP", []string{"+tcp", "api.deepseek.com", "AAAA"}, []string{"status: NXDOMAIN", "EDE: 15 (Blocked)"}, nil},
		{"blocked HTTPS query", []string{"chat.deepseek.com", "HTTPS"}, []string{"status: NXDOMAIN"}, nil},
		{"no EDE without EDNS", []string{"+noedns", "chat.deepseek.com"}, []string{"status: NXDOMAIN"}, []string{"EDE", "OPT PSEUDOSECTION"}},
		{"mixed case echoed", []string{"ChAt.DeEpSeEk.CoM"}, []string{"status: NXDOMAIN", ";ChAt.DeEpSeEk.CoM.\t\tIN\tA"}, nil},
		{"allowed name forwarded", []string{"www.example.org"}, []string{"status: NOERROR", "192.0.2.1"}, []string{"EDE"}},
		{"EDNS version 1 is BADVERS", []string{"+edns=1", "+noednsnegotiation", "www.example.org"}, []string{"status: BADVERS"}, nil},
		{"list from a file", []string{"www.example.net"}, []string{"status: NXDOMAIN", list}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := p.dig(t, tt.args...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("dig %v output lacks %q:\n%s", tt.args, w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(out, n) {
					t.Errorf("dig %v output has %q:\n%s", tt.args, n, out)
				}
			}
		})
	}

	t.Run("SIGHUP reloads the lists", func(t *testing.T) {
		if err := os.WriteFile(list, []byte("# Source: test\nkimi.com\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p.signal(t, syscall.SIGHUP)
		waitFor(t, "kimi.com to be blocked after SIGHUP", func() bool {
			return strings.Contains(p.dig(t, "kimi.com"), "status: NXDOMAIN")
		})
		if out := p.dig(t, "www.example.net"); !strings.Contains(out, "status: NOERROR") {
			t.Errorf("example.net still blocked after the reload removed it:\n%s", out)
		}
	})

	t.Run("SIGHUP with a broken list keeps the old lists", func(t *testing.T) {
		if err := os.Remove(list); err != nil {
			t.Fatal(err)
		}
		p.signal(t, syscall.SIGHUP)
		waitFor(t, "the failed reload to be logged", func() bool {
			return strings.Contains(p.stderrText(), "list reload failed")
		})
		if out := p.dig(t, "kimi.com"); !strings.Contains(out, "status: NXDOMAIN") {
			t.Errorf("kimi.com not blocked after a failed reload:\n%s", out)
		}
	})

	t.Run("SIGTERM exits cleanly and flushes the hit log", func(t *testing.T) {
		p.signal(t, syscall.SIGTERM)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Fatalf("exit: %v\nstderr:\n%s", err, p.stderrText())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("dijk did not exit after SIGTERM")
		}
		data, err := os.ReadFile(hits)
		if err != nil {
			t.Fatal(err)
		}
		// Blocked queries above: chat, api, chat HTTPS, noedns, mixed case,
		// example.net, kimi.com (at least once), kimi.com again.
		if n := strings.Count(string(data), "\n"); n < 8 {
			t.Errorf("hit log has %d lines, want at least 8:\n%s", n, data)
		}
		if !strings.Contains(string(data), `"name":"chat.deepseek.com"`) {
			t.Errorf("hit log lacks chat.deepseek.com:\n%s", data)
		}
	})
}

func (p *dijkProcess) stderrText() string { return p.stderr.String() }

// syncBuffer is a bytes.Buffer safe to read while exec's copier writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 50 {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
