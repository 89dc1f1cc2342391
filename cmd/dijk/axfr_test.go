package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestRPZOverAXFR transfers the active policy with dig, signed with TSIG,
// and checks that unsigned, wrongly signed and unlisted clients get nothing.
func TestRPZOverAXFR(t *testing.T) {
	digPath := requireTool(t, "dig", "bind9-dnsutils")
	up := startFakeUpstream(t)
	const key = "dijk-xfr:hmac-sha256:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA=="
	// 600 suffix entries become 1,200 records: several messages, each of
	// which dig checks against the running TSIG MAC.
	big := filepath.Join(t.TempDir(), "big.txt")
	var list strings.Builder
	for i := range 600 {
		fmt.Fprintf(&list, "host%d.example\n", i)
	}
	if err := os.WriteFile(big, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--blocklists", "builtin:deepseek,"+big,
		"--rpz.transfer_allow", "127.0.0.1/32", "--rpz.tsig_key", key))
	host, port, _ := net.SplitHostPort(inst.dnsAddrs()[0])
	digAXFR := func(extra ...string) string {
		args := append([]string{"@" + host, "-p", port, "+time=3", "+tries=1", "axfr", "rpz.dijk."}, extra...)
		out, _ := exec.Command(digPath, args...).CombinedOutput()
		return string(out)
	}

	out := digAXFR("-y", "hmac-sha256:dijk-xfr:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA==")
	for _, want := range []string{
		"deepseek.com.rpz.dijk.", "*.deepseek.com.rpz.dijk.", "CNAME\t.",
		"apmplus.ap-southeast-1.volces.com.rpz.dijk.", "rpz.dijk.\t\t300\tIN\tSOA",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("signed transfer lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "*.host599.example.rpz.dijk.") || !strings.Contains(out, "messages 3") || strings.Contains(out, "tsig") && strings.Contains(out, "failure") {
		t.Errorf("multi-message transfer incomplete or badly signed:\n%.3000s", out[max(0, len(out)-3000):])
	}
	if strings.Count(out, "IN\tSOA") != 2 {
		t.Errorf("transfer does not start and end with the SOA:\n%s", out)
	}
	if strings.Contains(out, "*.apmplus.ap-southeast-1.volces.com") {
		t.Errorf("exact entry transferred as a wildcard:\n%s", out)
	}

	for name, extra := range map[string][]string{
		"unsigned":  nil,
		"wrong key": {"-y", "hmac-sha256:dijk-xfr:" + "b3RoZXIta2V5LW5vdC10aGUtcmlnaHQtb25lLTEyMzQ1Njc4"},
	} {
		if out := digAXFR(extra...); strings.Contains(out, "deepseek.com.rpz.dijk.") || !strings.Contains(out, "Transfer failed") {
			t.Errorf("%s transfer was not refused:\n%s", name, out)
		}
	}

	// A client outside rpz.transfer_allow is refused even with the key.
	other := startDijk(t, testConfig(t, "--upstream.servers", up.addr,
		"--rpz.transfer_allow", "192.0.2.0/24", "--rpz.tsig_key", key))
	host, port, _ = net.SplitHostPort(other.dnsAddrs()[0])
	if out := digAXFR("-y", "hmac-sha256:dijk-xfr:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA=="); strings.Contains(out, "deepseek.com.rpz.dijk.") {
		t.Errorf("unlisted client got the zone:\n%s", out)
	}
}

// TestRPZFromPrimaryOverAXFR: one Dijk serves its policy as an RPZ over
// AXFR; a second one, with nothing but that zone as its block list, blocks
// the same names, and keeps blocking from its copy when the primary is gone.
func TestRPZFromPrimaryOverAXFR(t *testing.T) {
	up := startFakeUpstream(t)
	const key = "dijk-xfr:hmac-sha256:c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY3OA=="
	primary := startDijk(t, testConfig(t, "--upstream.servers", up.addr,
		"--rpz.transfer_allow", "127.0.0.1/32", "--rpz.tsig_key", key))
	src := "axfr://" + primary.dnsAddrs()[0] + "/rpz.dijk."
	flags := []string{"--upstream.servers", up.addr, "--blocklists", src,
		"--lists.cache_dir", t.TempDir(), "--lists.axfr_tsig_key", key}
	secondary := startDijk(t, testConfig(t, flags...))
	tests := []struct {
		name    string
		blocked bool
	}{
		{"deepseek.com.", true}, {"chat.deepseek.com.", true},
		{"apmplus.ap-southeast-1.volces.com.", true}, {"other.volces.com.", false}, {"www.example.org.", false},
	}
	check := func(inst *instance, when string) {
		t.Helper()
		for _, tt := range tests {
			r := ask(t, "udp", inst.dnsAddrs()[0], tt.name, dns.TypeA, false)
			if got := r.Rcode == dns.RcodeNameError; got != tt.blocked {
				t.Errorf("%s: %s blocked = %v, want %v", when, tt.name, got, tt.blocked)
			}
		}
	}
	check(secondary, "from the transferred zone")

	stopDijk(t, primary)
	if err := secondary.reload(); err != nil {
		t.Fatalf("reload with the primary gone: %v", err)
	}
	check(secondary, "after the primary went away")
}
