package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/config"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

// stopDijk shuts inst down (flushing its logs) before the test reads them,
// and keeps startDijk's cleanup from shutting it down again.
func stopDijk(t *testing.T, inst *instance) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := inst.shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	inst.dns, inst.hits, inst.queries, inst.hitsSink, inst.http = nil, nil, nil, nil, nil
}

// jsonLines parses a log file's lines.
func jsonLines(t *testing.T, data string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		if line == "" {
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		docs = append(docs, doc)
	}
	return docs
}

func field(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func TestHitLogWiring(t *testing.T) {
	tests := []struct {
		name     string
		flags    []string
		wantIP   string
		wantPort bool
	}{
		{name: "full addresses", flags: nil, wantIP: "127.0.0.1", wantPort: true},
		{name: "truncated addresses", flags: []string{"--log.client_ip", "truncate"}, wantIP: "127.0.0.0"},
		{
			name:   "hashed addresses",
			flags:  []string{"--log.client_ip", "hash", "--log.client_ip_key", "0123456789abcdef"},
			wantIP: "", // checked for shape below
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startFakeUpstream(t)
			dir := t.TempDir()
			hits, queries := filepath.Join(dir, "hits.jsonl"), filepath.Join(dir, "queries.jsonl")
			flags := append([]string{"--upstream.servers", up.addr, "--log.hits", hits, "--log.queries", queries}, tt.flags...)
			inst := startDijk(t, testConfig(t, flags...))
			if inst.queries == nil {
				t.Fatal("log.queries is a file but the instance has no query logger")
			}
			ask(t, "udp", inst.dnsAddrs()[0], "chat.deepseek.com.", dns.TypeA, false)
			// The server logs every answered query, blocked or forwarded.
			ask(t, "udp", inst.dnsAddrs()[0], "example.org.", dns.TypeA, false)
			stopDijk(t, inst)

			for _, f := range []struct {
				path, dataset string
				lines         int
			}{{hits, "dijk.hits", 1}, {queries, "dijk.queries", 2}} {
				data, err := os.ReadFile(f.path)
				if err != nil {
					t.Fatal(err)
				}
				docs := jsonLines(t, string(data))
				if len(docs) != f.lines {
					t.Fatalf("%s has %d lines, want %d", f.path, len(docs), f.lines)
				}
				doc := docs[0]
				if got := field(doc, "event.dataset"); got != f.dataset {
					t.Errorf("%s: event.dataset = %v, want %s", f.path, got, f.dataset)
				}
				ip, _ := field(doc, "client.ip").(string)
				switch {
				case tt.wantIP != "" && ip != tt.wantIP:
					t.Errorf("%s: client.ip = %q, want %q", f.path, ip, tt.wantIP)
				case tt.wantIP == "" && (len(ip) != 32 || strings.Trim(ip, "0123456789abcdef") != ""):
					t.Errorf("%s: client.ip = %q, want 32 hex digits", f.path, ip)
				}
				if _, ok := field(doc, "client").(map[string]any)["port"]; ok != tt.wantPort {
					t.Errorf("%s: client.port present = %v, want %v", f.path, ok, tt.wantPort)
				}
			}
		})
	}
}

func TestHitLogRotationWiring(t *testing.T) {
	up := startFakeUpstream(t)
	hits := filepath.Join(t.TempDir(), "hits.jsonl")
	cfg := testConfig(t, "--upstream.servers", up.addr, "--log.hits", hits, "--log.hits_retain", "3")
	cfg.Log.HitsMaxSize = 1500 // below the configurable floor, to rotate within a few lines
	inst := startDijk(t, cfg)
	const blocked = 12
	for range blocked {
		ask(t, "udp", inst.dnsAddrs()[0], "chat.deepseek.com.", dns.TypeA, false)
	}
	stopDijk(t, inst)
	total := 0
	for _, name := range []string{hits, hits + ".1", hits + ".2", hits + ".3"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("want %s after rotations: %v", name, err)
		}
		if len(data) > 1500 {
			t.Errorf("%s is %d bytes, over the limit", name, len(data))
		}
		total += len(jsonLines(t, string(data)))
	}
	if _, err := os.Stat(hits + ".4"); err == nil {
		t.Errorf("%s.4 exists beyond hits_retain 3", hits)
	}
	if total == 0 || total > blocked {
		t.Errorf("%d lines kept, want some and at most %d", total, blocked)
	}
}

func TestSyslogWiring(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--log.hits", "off",
		"--log.syslog.address", pc.LocalAddr().String(), "--log.syslog.facility", "local4"))
	if inst.hits == nil {
		t.Fatal("log.hits off with syslog on: want a hit logger for syslog")
	}
	ask(t, "udp", inst.dnsAddrs()[0], "chat.deepseek.com.", dns.TypeA, false)
	if err := pc.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil { // bounds a broken test only
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no syslog message: %v", err)
	}
	msg := string(buf[:n])
	if want := "<165>1 "; !strings.HasPrefix(msg, want) { // local4 (20) * 8 + notice (5)
		t.Errorf("message %q does not start with %q", msg, want)
	}
	if !strings.Contains(msg, " dijk ") || !strings.Contains(msg, " hit - {") || !strings.Contains(msg, `"name":"chat.deepseek.com"`) {
		t.Errorf("message lacks APP-NAME, MSGID or the JSON line: %q", msg)
	}
}

func TestBadSyslogCAFailsStart(t *testing.T) {
	up := startFakeUpstream(t)
	cfg := testConfig(t, "--upstream.servers", up.addr, "--log.syslog.address", "127.0.0.1:6514",
		"--log.syslog.transport", "tls", "--log.syslog.ca_file", filepath.Join(t.TempDir(), "missing.pem"))
	inst, err := start(cfg, slog.New(slog.DiscardHandler), nil)
	if err == nil {
		stopDijk(t, inst)
		t.Fatal("start with a missing CA file succeeded")
	}
	if !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("error %q does not name the CA file", err)
	}
}

// TestStdoutSharedByBothLogs: hits and queries on one stdout write whole
// lines, never torn (the race detector watches the writer).
func TestStdoutSharedByBothLogs(t *testing.T) {
	up := startFakeUpstream(t)
	// Unsynchronized on purpose: without the instance's lock around a
	// shared stdout, the race detector fails the test.
	var out bytes.Buffer
	cfg := testConfig(t, "--upstream.servers", up.addr, "--log.hits", "stdout", "--log.queries", "stdout")
	inst, err := start(cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopDijk(t, inst) })
	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range n {
			inst.queries.Log(hitlog.Event{Time: time.Now(), Name: "example.org.", Outcome: hitlog.OutcomeCached})
		}
	}()
	for range n {
		inst.hits.Log(hitlog.Event{Time: time.Now(), Name: "chat.deepseek.com.", Rule: "deepseek.com"})
	}
	wg.Wait()
	stopDijk(t, inst)
	docs := jsonLines(t, out.String())
	if len(docs) != 2*n {
		t.Errorf("%d lines, want %d", len(docs), 2*n)
	}
}

// TestFacilitiesAgree keeps config's list of facility names and hitlog's
// parser in step.
func TestFacilitiesAgree(t *testing.T) {
	tests := []struct {
		name  string
		valid bool
	}{
		{"kern", true}, {"user", true}, {"mail", true}, {"daemon", true}, {"auth", true},
		{"syslog", true}, {"lpr", true}, {"news", true}, {"uucp", true}, {"cron", true},
		{"authpriv", true}, {"ftp", true}, {"ntp", true}, {"audit", true}, {"alert", true},
		{"clock", true}, {"local0", true}, {"local1", true}, {"local2", true}, {"local3", true},
		{"local4", true}, {"local5", true}, {"local6", true}, {"local7", true}, {"LOCAL7", true},
		{"local8", false}, {"security", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cfgErr := config.Load(nil, []string{"DIJK_LOG_SYSLOG_FACILITY=" + tt.name})
			_, parseErr := hitlog.ParseFacility(tt.name)
			if (cfgErr == nil) != tt.valid || (parseErr == nil) != tt.valid {
				t.Errorf("config: %v; hitlog: %v; want valid %v from both", cfgErr, parseErr, tt.valid)
			}
		})
	}
}
