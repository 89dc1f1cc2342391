package main

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestConsoleShowsJustBlockedClient blocks a query from a distinct client
// address through the real resolver, then loads the SOC console in headless
// Chromium and looks for that client in the devices table.
func TestConsoleShowsJustBlockedClient(t *testing.T) {
	chromium := requireTool(t, "chromium", "chromium")
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))

	const client = "127.0.0.77"
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(client)}}}
	r, _, err := c.Exchange(new(dns.Msg).SetQuestion("chat.deepseek.com.", dns.TypeA), inst.dnsAddrs()[0])
	if err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("blocked query: %v %v", r, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-proxy-server", "--user-data-dir="+t.TempDir(),
		"--dump-dom", "http://"+inst.http.Addr()+"/")
	cmd.WaitDelay = 5 * time.Second
	var dom, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &dom, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	page := dom.String()
	table := devicesTable(page)
	if table == "" {
		t.Fatalf("no devices table in the rendered console:\n%.2000s", page)
	}
	for _, want := range []string{client, "chat.deepseek.com"} { // the device row and the name it asked for
		if !strings.Contains(table, want) {
			t.Errorf("devices table lacks %q:\n%s", want, table)
		}
	}
}

// devicesTable returns the HTML of the table that follows the "Devices"
// heading, or "".
func devicesTable(page string) string {
	i := strings.Index(page, "Devices")
	if i < 0 {
		return ""
	}
	start := strings.Index(page[i:], "<table")
	if start < 0 {
		return ""
	}
	rest := page[i+start:]
	end := strings.Index(rest, "</table>")
	if end < 0 {
		return ""
	}
	return rest[:end]
}

// TestConsoleHonoursClientIPPrivacy: with log.client_ip hash, the API and
// console must not show real client addresses either.
func TestConsoleHonoursClientIPPrivacy(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--log.hits", "off",
		"--log.client_ip", "hash", "--log.client_ip_key", "0123456789abcdef"))
	if r := ask(t, "udp", inst.dnsAddrs()[0], "chat.deepseek.com.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Fatalf("not blocked: %v", r)
	}
	stats := httpGet(t, "http://"+inst.http.Addr()+"/api/v1/stats")
	if strings.Contains(stats, "127.0.0.1") {
		t.Errorf("stats show the real client address:\n%s", stats)
	}
	if !strings.Contains(stats, `"ip":"fd`) {
		t.Errorf("stats lack a pseudonymous fd00::/8 device:\n%s", stats)
	}
}
