package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/config"
)

const groupsYAML = `upstream:
  servers: [%q]
log:
  hits: %q
policy:
  groups:
    - name: ministry
      clients: [127.0.2.0/24]
      blocklists: [builtin:deepseek, builtin:chinese-ai]
      sinkhole: {action: "null"}
    - name: it-lab
      clients: [127.0.2.128/25]
      blocklists: []
`

// TestPolicyGroupsThroughTheServer queries from client addresses in two
// groups and the default group, and checks each gets its own policy.
func TestPolicyGroupsThroughTheServer(t *testing.T) {
	up := startFakeUpstream(t)
	dir := t.TempDir()
	hits := filepath.Join(dir, "hits.jsonl")
	cfgPath := filepath.Join(dir, "dijk.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(groupsYAML, up.addr, hits)), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", cfgPath}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen.DNS, cfg.Listen.HTTP = []string{"127.0.0.1:0"}, "127.0.0.1:0"
	inst := startDijk(t, cfg)

	tests := []struct {
		name   string
		client string
		qname  string
		want   string // "nxdomain", "null" (0.0.0.0) or "allowed"
	}{
		{"default group blocks deepseek", "127.0.0.1", "chat.deepseek.com.", "nxdomain"},
		{"default group allows kimi", "127.0.0.1", "kimi.com.", "allowed"},
		{"ministry blocks kimi with its null sinkhole", "127.0.2.10", "kimi.com.", "null"},
		{"ministry blocks deepseek too", "127.0.2.10", "chat.deepseek.com.", "null"},
		{"it-lab (more specific) is exempt", "127.0.2.200", "chat.deepseek.com.", "allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(tt.client)}}}
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion(tt.qname, dns.TypeA), inst.dnsAddrs()[0])
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch {
			case r.Rcode == dns.RcodeNameError:
				got = "nxdomain"
			case len(r.Answer) == 1 && strings.HasSuffix(r.Answer[0].String(), "\t0.0.0.0"):
				got = "null"
			case len(r.Answer) == 1 && strings.HasSuffix(r.Answer[0].String(), "\t192.0.2.1"):
				got = "allowed"
			}
			if got != tt.want {
				t.Errorf("got %s (%v), want %s", got, r, tt.want)
			}
		})
	}
	stopDijk(t, inst)
	data, err := os.ReadFile(hits)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"group":"ministry"`) || !strings.Contains(string(data), `"group":"default"`) {
		t.Errorf("hit log does not name the groups:\n%s", data)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", cfgPath, "--client", "127.0.2.10", "kimi.com"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("check: exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "blocked kimi.com") || !strings.Contains(out.String(), "group: ministry") {
		t.Errorf("check --client = %q, want blocked in group ministry", out.String())
	}
	out.Reset()
	run([]string{"check", "--config", cfgPath, "--client", "127.0.2.200", "chat.deepseek.com"}, nil, &out, &errOut)
	if !strings.HasPrefix(out.String(), "allowed") || !strings.Contains(out.String(), "group: it-lab") {
		t.Errorf("check --client = %q, want allowed in group it-lab", out.String())
	}
}
