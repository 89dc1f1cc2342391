package blocklist

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/dijk-dns/dijk/blocklists"
)

// TestEmbeddedLists keeps the shipped lists clean: a warning in a builtin
// list is a bug we ship to every deployment, and every entry must say where
// the evidence for it is.
func TestEmbeddedLists(t *testing.T) {
	files, err := fs.Glob(blocklists.FS, "*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no embedded lists found")
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			data, err := fs.ReadFile(blocklists.FS, file)
			if err != nil {
				t.Fatal(err)
			}
			entries, warnings, err := Parse("builtin:"+strings.TrimSuffix(file, ".txt"), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %s", w)
			}
			if len(entries) == 0 {
				t.Error("list has no entries")
			}
			if err := checkSourceComments(string(data)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestBuiltinDeepSeek pins the promises the DeepSeek list makes to operators.
func TestBuiltinDeepSeek(t *testing.T) {
	trie, _, warnings, err := Load([]string{"builtin:deepseek"}, blocklists.FS)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	tests := []struct {
		name      string
		query     string
		wantRule  string // "" means not blocked
		wantExact bool
	}{
		{name: "web app", query: "chat.deepseek.com.", wantRule: "deepseek.com"},
		{name: "API", query: "api.deepseek.com.", wantRule: "deepseek.com"},
		{name: "developer console", query: "platform.deepseek.com.", wantRule: "deepseek.com"},
		{name: "apex", query: "deepseek.com.", wantRule: "deepseek.com"},
		{name: "telemetry host", query: "apmplus.ap-southeast-1.volces.com.", wantRule: "apmplus.ap-southeast-1.volces.com", wantExact: true},
		{name: "login host", query: "cmpassport.com.", wantRule: "cmpassport.com", wantExact: true},
		{name: "shared platform stays reachable", query: "volces.com.", wantRule: ""},
		{name: "model API on the shared platform stays reachable", query: "ark.cn-beijing.volces.com.", wantRule: ""},
		{name: "unverified .ai not shipped", query: "deepseek.ai.", wantRule: ""},
		{name: "unverified .io not shipped", query: "deepseek.io.", wantRule: ""},
		{name: "unverified .com.cn not shipped", query: "api.deepseek.com.cn.", wantRule: ""},
		{name: "unverified mainland APMPlus not shipped", query: "apmplus.volces.com.", wantRule: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := trie.Lookup(tt.query)
			if tt.wantRule == "" {
				if ok {
					t.Errorf("Lookup(%q) = %+v, want not blocked", tt.query, got)
				}
				return
			}
			if !ok || got.Name != tt.wantRule || got.Exact != tt.wantExact || got.Source != "builtin:deepseek" {
				t.Errorf("Lookup(%q) = %+v, %v, want rule %q exact=%v from builtin:deepseek", tt.query, got, ok, tt.wantRule, tt.wantExact)
			}
		})
	}
}

// checkSourceComments reports the first group of consecutive entries whose
// nearest comment block above does not contain a "Source:" line
// (case-insensitive). Blank lines may separate the block from the group.
func checkSourceComments(list string) error {
	var (
		block       []string // the most recent run of consecutive comment lines
		prevComment bool
		prevEntry   bool
	)
	for i, line := range strings.Split(list, "\n") {
		text := strings.TrimSpace(line)
		isComment := strings.HasPrefix(text, "#")
		isEntry := text != "" && !isComment
		switch {
		case isComment && !prevComment:
			block = []string{text}
		case isComment:
			block = append(block, text)
		case isEntry && !prevEntry && !blockCitesSource(block):
			return fmt.Errorf("line %d: entry %q has no \"Source:\" comment above it", i+1, text)
		}
		prevComment, prevEntry = isComment, isEntry
	}
	return nil
}

func blockCitesSource(block []string) bool {
	for _, line := range block {
		if strings.Contains(strings.ToLower(line), "source:") {
			return true
		}
	}
	return false
}

func TestCheckSourceComments(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		wantErr string // "" means valid
	}{
		{name: "one cited group", list: "# header\n\n# Source: v2fly\na.test\nb.test\n"},
		{name: "case-insensitive", list: "# SOURCE: feed\na.test\n"},
		{name: "blank line between citation and entries", list: "# Source: feed\n\na.test\n"},
		{name: "every group cited", list: "# Source: one\na.test\n\n# Source: two\nexact:b.test\n"},
		{name: "no comments", list: "a.test\n", wantErr: `line 1: entry "a.test"`},
		{name: "header without source", list: "# Dijk list\n\na.test\n", wantErr: "line 3"},
		{name: "nearest block lacks source", list: "# Source: one\na.test\n\n# unrelated note\nb.test\n", wantErr: `line 5: entry "b.test"`},
		{name: "source in an earlier block only", list: "# Source: one\n\n# note\n\nc.test\n", wantErr: "line 5"},
		{name: "comments only", list: "# Source: nothing to cite\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSourceComments(tt.list)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("checkSourceComments() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("checkSourceComments() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
