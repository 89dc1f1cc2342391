package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestRemoteListsThroughTheServer serves a list over HTTPS, blocks by it,
// keeps blocking after the server goes away (last good copy, also across a
// restart), and reports the failure in /readyz and /metrics.
func TestRemoteListsThroughTheServer(t *testing.T) {
	up := startFakeUpstream(t)
	const body = "# Source: test\nkimi.com\n"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ai.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	url := srv.URL + "/ai.txt#sha256=" + hex.EncodeToString(sum[:])
	flags := []string{"--upstream.servers", up.addr, "--blocklists", "builtin:deepseek," + url,
		"--lists.cache_dir", filepath.Join(dir, "cache"), "--lists.ca_file", ca}

	inst := startDijk(t, testConfig(t, flags...))
	if r := ask(t, "udp", inst.dnsAddrs()[0], "api.kimi.com.", dns.TypeA, true); r.Rcode != dns.RcodeNameError {
		t.Fatalf("remote list not in force: %s", dns.RcodeToString[r.Rcode])
	}
	if ede := edeOf(ask(t, "udp", inst.dnsAddrs()[0], "kimi.com.", dns.TypeA, true)); ede == nil || !strings.Contains(ede.ExtraText, srv.URL) {
		t.Errorf("EDE %v does not name the remote list's URL", ede)
	}
	if ready := httpGet(t, "http://"+inst.http.Addr()+"/readyz"); !strings.Contains(ready, "remote "+srv.URL+"/ai.txt") {
		t.Errorf("/readyz lacks the remote list:\n%s", ready)
	}

	srv.Close() // the list server goes away
	if err := inst.reload(); err != nil {
		t.Fatalf("reload with the server down failed instead of keeping the copy: %v", err)
	}
	if r := ask(t, "udp", inst.dnsAddrs()[0], "kimi.com.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("after the server went away: %s, want the last good copy still blocking", dns.RcodeToString[r.Rcode])
	}
	if ready := httpGet(t, "http://"+inst.http.Addr()+"/readyz"); !strings.Contains(ready, "last error") {
		t.Errorf("/readyz does not show the failed download:\n%s", ready)
	}
	if m := httpGet(t, "http://"+inst.http.Addr()+"/metrics"); !strings.Contains(m, `dijk_remote_fetches_total{result="failed"`) {
		t.Errorf("/metrics lacks the failed fetch")
	}
	stopDijk(t, inst)

	// A restart without network still blocks, from the cached copy.
	again := startDijk(t, testConfig(t, flags...))
	if r := ask(t, "udp", again.dnsAddrs()[0], "kimi.com.", dns.TypeA, false); r.Rcode != dns.RcodeNameError {
		t.Errorf("after a restart without network: %s, want blocked from the cache", dns.RcodeToString[r.Rcode])
	}
}
