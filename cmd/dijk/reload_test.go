package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestReloadUnderLoadDropsNoQuery reloads the lists in a loop while clients
// query: every query must get a proper answer, and a name in no list version
// must never be blocked.
func TestReloadUnderLoadDropsNoQuery(t *testing.T) {
	up := startFakeUpstream(t)
	list := filepath.Join(t.TempDir(), "list.txt")
	versions := []string{"# Source: test\nkimi.com\n", "# Source: test\nmoonshot.cn\n"}
	if err := os.WriteFile(list, []byte(versions[0]), 0o600); err != nil {
		t.Fatal(err)
	}
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr, "--blocklists", "builtin:deepseek,"+list))
	addr := inst.dnsAddrs()[0]

	var stop atomic.Bool
	reloads := make(chan error, 1)
	go func() {
		defer close(reloads)
		for i := 0; i < 200 && !stop.Load(); i++ {
			if err := os.WriteFile(list, []byte(versions[i%2]), 0o600); err != nil {
				reloads <- err
				return
			}
			if err := inst.reload(); err != nil {
				reloads <- err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	var answered, failed atomic.Int32
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
			for i := range 250 {
				name, mayBlock := "kimi.com.", true
				if i%2 == 1 {
					name, mayBlock = fmt.Sprintf("w%d-%d.example.org.", w, i), false
				}
				r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), addr)
				switch {
				case err != nil:
					failed.Add(1)
					t.Errorf("%s: %v", name, err)
				case r.Rcode == dns.RcodeNameError && mayBlock, r.Rcode == dns.RcodeSuccess:
					answered.Add(1)
				default:
					failed.Add(1)
					t.Errorf("%s: %s during reloads", name, dns.RcodeToString[r.Rcode])
				}
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	for err := range reloads {
		t.Errorf("reload: %v", err)
	}
	if answered.Load() != 1000 || failed.Load() != 0 {
		t.Errorf("answered %d, failed %d of 1000 queries during reloads", answered.Load(), failed.Load())
	}
}

// TestFileChangesReloadWithoutSignal runs the binary, edits a list file and
// then the config file, and expects each change to take effect on its own.
func TestFileChangesReloadWithoutSignal(t *testing.T) {
	up := startFakeUpstream(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	extra := filepath.Join(dir, "extra.txt")
	for path, body := range map[string]string{list: "# Source: test\nexample.net\n", extra: "# Source: test\nkimi.com\n"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dnsAddr, httpAddr := freePort(t), freePort(t)
	configFor := func(lists string) string {
		return fmt.Sprintf("listen:\n  dns: [%q]\n  http: %q\nupstream:\n  servers: [%q]\nblocklists: [%s]\nlog:\n  hits: \"off\"\n  level: debug\n",
			dnsAddr, httpAddr, up.addr, lists)
	}
	p := startProcess(t, configFor(fmt.Sprintf("%q", list)), dnsAddr, httpAddr)
	cfgPath := p.cmd.Args[len(p.cmd.Args)-1]
	rcode := func(name string) int {
		c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
		r, _, err := c.Exchange(new(dns.Msg).SetQuestion(name, dns.TypeA), dnsAddr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r.Rcode
	}
	if rcode("www.example.net.") != dns.RcodeNameError || rcode("kimi.com.") != dns.RcodeSuccess {
		t.Fatal("initial lists not in force")
	}

	if err := os.WriteFile(list, []byte("# Source: test\nexample.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edited list to take effect", func() bool {
		return rcode("www.example.com.") == dns.RcodeNameError && rcode("www.example.net.") == dns.RcodeSuccess
	})

	if err := os.WriteFile(cfgPath, []byte(configFor(fmt.Sprintf("%q, %q", list, extra))), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the list added to the config file to take effect", func() bool {
		return rcode("kimi.com.") == dns.RcodeNameError
	})
	// The newly added list file is watched too.
	if err := os.WriteFile(extra, []byte("# Source: test\nmoonshot.cn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("dijk stderr:\n%s", p.stderrText())
		}
	}()
	waitFor(t, "the new list's edit to take effect", func() bool {
		return rcode("moonshot.cn.") == dns.RcodeNameError && rcode("kimi.com.") == dns.RcodeSuccess
	})
}

// TestWatchedFiles: only files on disk are watched; a remote source passed
// to the watcher would make its setup fail and switch watching off.
func TestWatchedFiles(t *testing.T) {
	cfg := testConfig(t)
	cfg.File = "/etc/dijk/dijk.yaml"
	cfg.Blocklists = []string{"builtin:deepseek", "/srv/lists/a.txt", "hosts:/srv/lists/hosts", "https://lists.example/ai.txt#sha256=00", "axfr://192.0.2.1:53/rpz.example."}
	cfg.Allowlists = []string{"adblock:https://lists.example/allow.txt", "/srv/lists/allow.txt"}
	cfg.Policy.BlockIPs = []string{"192.0.2.0/24", "198.51.100.7", "/srv/lists/bad-ips.txt"}
	want := []string{"/etc/dijk/dijk.yaml", "/srv/lists/a.txt", "/srv/lists/allow.txt", "/srv/lists/bad-ips.txt", "/srv/lists/hosts"}
	if got := watchedFiles(cfg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("watchedFiles = %v\nwant %v", got, want)
	}
}
