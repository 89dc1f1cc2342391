package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestRPZExportEnforcedByUnbound exports Dijk's policy as an RPZ zone, loads
// it into a real Unbound (rpz: clause) forwarding to the same upstream, and
// checks that Unbound blocks exactly what Dijk blocks.
func TestRPZExportEnforcedByUnbound(t *testing.T) {
	unbound := requireTool(t, "unbound", "unbound")
	up := startFakeUpstream(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "policy.txt")
	allow := filepath.Join(dir, "allow.txt")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(list, "# Source: test\nkimi.com\nexact:host.shared.example\n*.wild.example\n")
	write(allow, "# Source: test\nstatus.deepseek.com\n")
	flags := []string{"--upstream.servers", up.addr, "--blocklists", "builtin:deepseek," + list, "--allowlists", allow}

	var zone, stderr bytes.Buffer
	if code := run(append([]string{"lists", "export", "--format", "rpz", "--origin", "rpz.dijk."}, flags...), nil, &zone, &stderr); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	zonePath := filepath.Join(dir, "dijk.rpz")
	write(zonePath, zone.String())

	port := freePort(t)
	host, portNum := splitHostPortT(t, port)
	_, upPort := splitHostPortT(t, up.addr)
	conf := filepath.Join(dir, "unbound.conf")
	write(conf, fmt.Sprintf(`server:
  interface: %s@%s
  port: %s
  do-daemonize: no
  chroot: ""
  username: ""
  directory: %q
  pidfile: %q
  use-syslog: no
  logfile: ""
  verbosity: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "respip iterator"
  do-not-query-localhost: no
rpz:
  name: rpz.dijk.
  zonefile: %q
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@%s
`, host, portNum, portNum, dir, filepath.Join(dir, "unbound.pid"), zonePath, upPort))
	cmd := exec.Command(unbound, "-d", "-c", conf)
	var ublog bytes.Buffer
	cmd.Stdout, cmd.Stderr = &ublog, &ublog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	inst := startDijk(t, testConfig(t, flags...))
	// The upstream answers every name with an address, so an answer
	// without one is a block (NXDOMAIN, or NODATA where an allowed name
	// lies below: Dijk follows RFC 8020 there, Unbound's RPZ does not).
	ask := func(server, name string) (*dns.Msg, error) {
		c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), server)
		return r, err
	}
	waitFor(t, "unbound to answer", func() bool {
		_, err := ask(port, "www.example.org.")
		return err == nil
	})

	names := []string{
		"deepseek.com.", "chat.deepseek.com.", "a.b.deepseek.com.", "notdeepseek.com.",
		"kimi.com.", "www.kimi.com.", "host.shared.example.", "other.shared.example.", "x.host.shared.example.",
		"wild.example.", "a.wild.example.", "apmplus.ap-southeast-1.volces.com.", "volces.com.",
		"www.example.org.", "status.deepseek.com.",
	}
	for _, name := range names {
		dijk, err := ask(inst.dnsAddrs()[0], name)
		if err != nil {
			t.Fatalf("dijk %s: %v", name, err)
		}
		ub, err := ask(port, name)
		if err != nil {
			t.Fatalf("unbound %s: %v\n%s", name, err, ublog.String())
		}
		if blocked(dijk) != blocked(ub) {
			t.Errorf("%s: Dijk %s %v, Unbound %s %v", name, dns.RcodeToString[dijk.Rcode], dijk.Answer, dns.RcodeToString[ub.Rcode], ub.Answer)
		}
	}
}

func blocked(r *dns.Msg) bool { return len(r.Answer) == 0 }

func splitHostPortT(t *testing.T, addr string) (string, string) {
	t.Helper()
	host, port, err := netSplit(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

var netSplit = net.SplitHostPort
