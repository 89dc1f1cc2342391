package lists

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/blocklist"
)

func TestLoadAndReload(t *testing.T) {
	builtin := fstest.MapFS{"base.txt": {Data: []byte("# Source: test\ndeepseek.com\n")}}
	file := filepath.Join(t.TempDir(), "extra.txt")
	if err := os.WriteFile(file, []byte("# Source: test\nkimi.com\nnot a domain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1795000000, 0)
	m, err := New(Options{
		Sources: []string{"builtin:base", file}, Builtin: builtin,
		Registerer: prometheus.NewRegistry(), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}

	loaded, err := m.Load()
	if err != nil {
		t.Fatal(err)
	}
	trie, allow := loaded.Block, loaded.Allow
	if allow.Len() != 0 {
		t.Errorf("allow trie has %d rules, want 0", allow.Len())
	}
	for _, name := range []string{"chat.deepseek.com", "kimi.com"} {
		if _, ok := trie.Lookup(name); !ok {
			t.Errorf("%s not blocked after load", name)
		}
	}
	checks := []struct {
		name string
		got  prometheus.Collector
		want float64
	}{
		{"entries builtin", m.entries.WithLabelValues("builtin:base"), 1},
		{"entries file", m.entries.WithLabelValues(file), 1},
		{"skipped file", m.skipped.WithLabelValues(file), 1},
		{"successes", m.reloads.WithLabelValues("success"), 1},
		{"last success", m.lastOK, float64(now.Unix())},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(c.got); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}

	// A reload with a missing file fails, keeps the caller's trie and counts it.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	applied := false
	if err := m.Reload(func(Loaded) error { applied = true; return nil }); err == nil {
		t.Error("reload with a missing list: want an error")
	}
	if applied {
		t.Error("a failed reload replaced the trie in force")
	}
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("failure")); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
	st := m.Status()
	if len(st) != 2 || st[1].Source != file || st[1].Failures != 1 || st[1].Error == "" || st[1].Entries != 1 || !st[1].Updated.Equal(now) {
		t.Errorf("status after a failed reload = %+v, want the file's last good load with one failure", st)
	}

	// A good reload applies the new trie.
	m.opts.Sources = []string{"builtin:base"}
	var got *blocklist.Trie
	if err := m.Reload(func(l Loaded) error { got = l.Block; return nil }); err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Len() != 1 {
		t.Errorf("applied trie = %v, want one rule", got)
	}
	if n := testutil.CollectAndCount(m.entries); n != 1 {
		t.Errorf("entries gauge has %d series after the file was dropped, want 1", n)
	}
}

func TestLoadIPRules(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bad-ips.txt")
	if err := os.WriteFile(file, []byte("# ranges\n203.0.113.0/24\nnot-an-ip\n2001:db8::1 # one host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rules, err := m.LoadIPRules([]string{"198.51.100.7", "192.0.2.0/25", file})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.51.100.7/32 policy.block_ips:0", "192.0.2.0/25 policy.block_ips:0",
		"203.0.113.0/24 " + file + ":2", "2001:db8::1/128 " + file + ":4"}
	if len(rules) != len(want) {
		t.Fatalf("rules = %v, want %v", rules, want)
	}
	for i, r := range rules {
		if got := fmt.Sprintf("%s %s:%d", r.Prefix, r.Source, r.Line); got != want[i] {
			t.Errorf("rule %d = %s, want %s", i, got, want[i])
		}
	}
	if _, err := m.LoadIPRules([]string{filepath.Join(t.TempDir(), "missing.txt")}); err == nil {
		t.Error("missing file: want an error")
	}
}
