package blocklist

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// writeLists writes name -> content files into a fresh directory.
func writeLists(t *testing.T, lists map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range lists {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name   string
		source string
		want   listSpec
	}{
		{name: "bare path", source: "/etc/dijk/list.txt", want: listSpec{source: "/etc/dijk/list.txt", location: "/etc/dijk/list.txt"}},
		{name: "hosts prefix", source: "hosts:/etc/hosts.block", want: listSpec{source: "hosts:/etc/hosts.block", location: "/etc/hosts.block", format: FormatHosts}},
		{name: "adblock prefix", source: "adblock:list.txt", want: listSpec{source: "adblock:list.txt", location: "list.txt", format: FormatAdblock}},
		{name: "rpz prefix", source: "rpz:/var/lib/rpz.zone", want: listSpec{source: "rpz:/var/lib/rpz.zone", location: "/var/lib/rpz.zone", format: FormatRPZ}},
		{name: "plain prefix", source: "plain:/x", want: listSpec{source: "plain:/x", location: "/x", format: FormatPlain}},
		{name: "upper-case prefix", source: "RPZ:/x", want: listSpec{source: "RPZ:/x", location: "/x", format: FormatRPZ}},
		{name: "builtin stays legacy plain", source: "builtin:deepseek", want: listSpec{source: "builtin:deepseek", location: "builtin:deepseek", legacy: true}},
		{name: "builtin with a prefix", source: "adblock:builtin:x", want: listSpec{source: "adblock:builtin:x", location: "builtin:x", format: FormatAdblock}},
		{name: "unknown prefix is part of the path", source: "C:/lists/x.txt", want: listSpec{source: "C:/lists/x.txt", location: "C:/lists/x.txt"}},
		{name: "colon later in the path", source: "/tmp/a:b", want: listSpec{source: "/tmp/a:b", location: "/tmp/a:b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseSpec(tt.source); got != tt.want {
				t.Errorf("parseSpec(%q) = %+v, want %+v", tt.source, got, tt.want)
			}
		})
	}
}

func TestLoadPolicy(t *testing.T) {
	adblockText := "! Source: test\n||deepseek.com^\n@@||chat.deepseek.com^\n||ads.test^$important\n"
	rpzText := "$ORIGIN rpz.example.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n" +
		"apex.test CNAME .\n*.below.test CNAME *.\nok.apex.test CNAME rpz-passthru.\n"
	hostsText := "127.0.0.1 localhost\n0.0.0.0 tracker.test\n"
	allowText := "||copilot.microsoft.com^\n0.0.0.0 hosts-allow.test\n"
	plainAllowText := "# exceptions\nexact:api.deepseek.com\n"
	dir := writeLists(t, map[string]string{
		"adblock.txt": adblockText, "zone.rpz": rpzText, "hosts.txt": hostsText, "allow.txt": allowText,
		"plain-allow.txt": plainAllowText, "forced.txt": hostsText,
	})
	path := func(name string) string { return filepath.Join(dir, name) }
	builtin := fstest.MapFS{"deepseek.txt": {Data: []byte("# Source: test\ndeepseek.com\n")}}

	block := []string{path("adblock.txt"), path("zone.rpz"), path("hosts.txt"), "plain:" + path("forced.txt"), "builtin:deepseek"}
	allow := []string{path("allow.txt"), "hosts:" + path("plain-allow.txt")}
	blockTrie, allowTrie, infos, warnings, err := LoadPolicy(block, allow, builtin)
	if err != nil {
		t.Fatalf("LoadPolicy() error = %v", err)
	}

	wantInfos := []ListInfo{
		{Source: path("adblock.txt"), Format: FormatAdblock, Entries: 2, AllowEntries: 1, Warnings: 1, Version: contentVersion(adblockText)},
		{Source: path("zone.rpz"), Format: FormatRPZ, Entries: 3, AllowEntries: 1, Version: contentVersion(rpzText)},
		{Source: path("hosts.txt"), Format: FormatHosts, Entries: 1, Version: contentVersion(hostsText)},
		// A prefix overrides detection: read as plain, hosts lines are warnings.
		{Source: "plain:" + path("forced.txt"), Format: FormatPlain, Entries: 0, Warnings: 2, Version: contentVersion(hostsText)},
		{Source: "builtin:deepseek", Format: FormatPlain, Entries: 1, Version: contentVersion("# Source: test\ndeepseek.com\n")},
		// Every entry of an allow source is an exception, whatever its syntax.
		{Source: path("allow.txt"), Format: FormatAdblock, Entries: 2, AllowEntries: 2, Version: contentVersion(allowText)},
		{Source: "hosts:" + path("plain-allow.txt"), Format: FormatHosts, Entries: 0, Warnings: 1, Version: contentVersion(plainAllowText)},
	}
	if !slices.Equal(infos, wantInfos) {
		t.Errorf("infos =\n%+v\nwant\n%+v", infos, wantInfos)
	}
	wantWarnings := []string{
		path("adblock.txt") + ":4: unsupported modifier",
		"plain:" + path("forced.txt") + ":1: more than one token",
		"plain:" + path("forced.txt") + ":2: more than one token",
		"hosts:" + path("plain-allow.txt") + ":2: hosts line",
	}
	if len(warnings) != len(wantWarnings) {
		t.Fatalf("warnings = %v, want %d", warnings, len(wantWarnings))
	}
	for i, w := range warnings {
		if !strings.HasPrefix(w.String(), wantWarnings[i]) {
			t.Errorf("warning %d = %q, want prefix %q", i, w, wantWarnings[i])
		}
	}

	tests := []struct {
		name       string
		trie       *Trie
		query      string
		wantRule   string // "" means no match
		wantKind   Kind
		wantSrc    string
		wantLine   int
		wantAction Action
	}{
		{name: "adblock block", trie: blockTrie, query: "api.deepseek.com.", wantRule: "deepseek.com", wantSrc: path("adblock.txt"), wantLine: 2},
		{name: "adblock exception goes to the allow trie", trie: allowTrie, query: "x.chat.deepseek.com.", wantRule: "chat.deepseek.com", wantSrc: path("adblock.txt"), wantLine: 3},
		{name: "adblock exception not in the block trie", trie: blockTrie, query: "chat.deepseek.com.", wantRule: "deepseek.com", wantSrc: path("adblock.txt"), wantLine: 2},
		{name: "rpz exact", trie: blockTrie, query: "apex.test.", wantRule: "apex.test", wantKind: KindExact, wantSrc: path("zone.rpz"), wantLine: 3, wantAction: ActionNXDomain},
		{name: "rpz exact alone leaves children", trie: blockTrie, query: "www.apex.test.", wantRule: ""},
		{name: "rpz subdomains", trie: blockTrie, query: "a.below.test.", wantRule: "below.test", wantKind: KindSubdomains, wantSrc: path("zone.rpz"), wantLine: 4, wantAction: ActionNoData},
		{name: "rpz subdomains leaves the apex", trie: blockTrie, query: "below.test.", wantRule: ""},
		{name: "rpz passthru goes to the allow trie", trie: allowTrie, query: "ok.apex.test.", wantRule: "ok.apex.test", wantKind: KindExact, wantSrc: path("zone.rpz"), wantLine: 5},
		{name: "hosts entry is exact", trie: blockTrie, query: "tracker.test.", wantRule: "tracker.test", wantKind: KindExact, wantSrc: path("hosts.txt"), wantLine: 2},
		{name: "hosts entry does not cover children", trie: blockTrie, query: "x.tracker.test.", wantRule: ""},
		{name: "allow source suffix", trie: allowTrie, query: "copilot.microsoft.com.", wantRule: "copilot.microsoft.com", wantSrc: path("allow.txt"), wantLine: 1},
		{name: "allow source hosts line", trie: allowTrie, query: "hosts-allow.test.", wantRule: "hosts-allow.test", wantKind: KindExact, wantSrc: path("allow.txt"), wantLine: 2},
		{name: "allow entries stay out of the block trie", trie: blockTrie, query: "copilot.microsoft.com.", wantRule: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.trie.Lookup(tt.query)
			if tt.wantRule == "" {
				if ok {
					t.Errorf("Lookup(%q) = %+v, want no match", tt.query, got)
				}
				return
			}
			if !ok || got.Name != tt.wantRule || got.Kind != tt.wantKind || got.Source != tt.wantSrc || got.Line != tt.wantLine || got.Action != tt.wantAction || got.Version == "" {
				t.Errorf("Lookup(%q) = %+v, %v, want %s %s from %s:%d action %s", tt.query, got, ok, tt.wantRule, tt.wantKind, tt.wantSrc, tt.wantLine, tt.wantAction)
			}
		})
	}
}

func TestLoadPolicyEmptyAllow(t *testing.T) {
	dir := writeLists(t, map[string]string{"block.txt": "deepseek.com\n"})
	block, allow, infos, warnings, err := LoadPolicy([]string{filepath.Join(dir, "block.txt")}, nil, nil)
	if err != nil || len(warnings) != 0 || len(infos) != 1 {
		t.Fatalf("LoadPolicy() = %v, %v, %v", infos, warnings, err)
	}
	if allow == nil || allow.Len() != 0 || block.Len() != 1 {
		t.Errorf("LoadPolicy() block %d rules, allow %v; want 1 and an empty trie", block.Len(), allow)
	}
}

func TestLoadPolicyErrors(t *testing.T) {
	dir := writeLists(t, map[string]string{"ok.txt": "a.test\n"})
	missing := filepath.Join(dir, "missing.txt")
	tests := []struct {
		name      string
		block     []string
		allow     []string
		wantErr   string
		wantErrIs error
	}{
		{name: "missing block source", block: []string{missing}, wantErr: missing, wantErrIs: fs.ErrNotExist},
		{name: "missing allow source", block: []string{filepath.Join(dir, "ok.txt")}, allow: []string{"rpz:" + missing}, wantErr: "rpz:" + missing, wantErrIs: fs.ErrNotExist},
		{name: "builtin without builtin lists", allow: []string{"builtin:x"}, wantErr: "no builtin lists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			block, allow, _, _, err := LoadPolicy(tt.block, tt.allow, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadPolicy() error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Errorf("LoadPolicy() error = %v, want errors.Is %v", err, tt.wantErrIs)
			}
			if block != nil || allow != nil {
				t.Error("LoadPolicy() returned tries with an error")
			}
		})
	}
}

// TestLoadSkipsExceptions: Load has one trie, so an exception must not end
// up blocking the name it was meant to allow.
func TestLoadSkipsExceptions(t *testing.T) {
	text := "||deepseek.com^\n@@||chat.deepseek.com^\n"
	dir := writeLists(t, map[string]string{"list.txt": text})
	source := filepath.Join(dir, "list.txt")
	trie, infos, warnings, err := Load([]string{source}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ListInfo{{Source: source, Format: FormatAdblock, Entries: 1, Warnings: 1, Version: contentVersion(text)}}
	if !slices.Equal(infos, want) {
		t.Errorf("infos = %+v, want %+v", infos, want)
	}
	if len(warnings) != 1 || warnings[0].Line != 2 || !strings.Contains(warnings[0].Msg, "LoadPolicy") {
		t.Errorf("warnings = %v, want line 2 pointing at LoadPolicy", warnings)
	}
	if got, ok := trie.Lookup("chat.deepseek.com."); !ok || got.Name != "deepseek.com" || trie.Len() != 1 {
		t.Errorf("Lookup(chat.deepseek.com.) = %+v, %v; want the suffix rule and no exception in the block trie", got, ok)
	}
}
