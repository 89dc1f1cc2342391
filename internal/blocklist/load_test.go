package blocklist

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	extraPath := filepath.Join(dir, "extra.txt")
	extraText := "# local additions\nexact:cmpassport.com\ndeepseek.com\nnot a domain\n"
	if err := os.WriteFile(extraPath, []byte(extraText), 0o600); err != nil {
		t.Fatal(err)
	}
	deepseekText := "# Source: test\ndeepseek.com\n*.deepseek.com\n"
	builtin := fstest.MapFS{
		"deepseek.txt": {Data: []byte(deepseekText)},
		"other.txt":    {Data: []byte("other.test\n")},
	}
	missingPath := filepath.Join(dir, "missing.txt")

	tests := []struct {
		name         string
		sources      []string
		builtin      fs.FS
		wantInfos    []ListInfo
		wantWarnings []string // Warning.String() prefixes: source:line
		wantBlocked  map[string]Rule
		wantErr      []string // fragments the error must contain
		wantErrIs    error
	}{
		{
			name:    "builtin and file",
			sources: []string{"builtin:deepseek", extraPath},
			builtin: builtin,
			wantInfos: []ListInfo{
				{Source: "builtin:deepseek", Format: FormatPlain, Entries: 1, Warnings: 1, Version: contentVersion(deepseekText)},
				{Source: extraPath, Format: FormatPlain, Entries: 2, Warnings: 1, Version: contentVersion(extraText)},
			},
			wantWarnings: []string{"builtin:deepseek:3: ", extraPath + ":4: "},
			wantBlocked: map[string]Rule{
				// deepseek.com is in both lists: the first source wins.
				"chat.deepseek.com.": {Name: "deepseek.com", Source: "builtin:deepseek", Version: contentVersion(deepseekText), Line: 2},
				"cmpassport.com.":    {Name: "cmpassport.com", Exact: true, Kind: KindExact, Source: extraPath, Version: contentVersion(extraText), Line: 2},
			},
		},
		{
			name:      "no sources",
			builtin:   builtin,
			wantInfos: []ListInfo{},
		},
		{
			name:      "unknown builtin lists the available ones",
			sources:   []string{"builtin:deepseek", "builtin:nope"},
			builtin:   builtin,
			wantErr:   []string{"builtin:nope", `"nope"`, "builtin:deepseek, builtin:other"},
			wantErrIs: fs.ErrNotExist,
		},
		{
			name:    "builtin name escaping the directory",
			sources: []string{"builtin:../deepseek"},
			builtin: builtin,
			wantErr: []string{"builtin:../deepseek", "available: builtin:deepseek"},
		},
		{
			name:    "builtin without builtin lists",
			sources: []string{"builtin:deepseek"},
			wantErr: []string{"builtin:deepseek", "no builtin lists"},
		},
		{
			name:      "missing file",
			sources:   []string{extraPath, missingPath},
			builtin:   builtin,
			wantErr:   []string{missingPath},
			wantErrIs: fs.ErrNotExist,
		},
		{
			name:    "directory instead of a file",
			sources: []string{dir},
			builtin: builtin,
			wantErr: []string{dir},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trie, infos, warnings, err := Load(tt.sources, tt.builtin)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load(%q) error = nil, want one containing %q", tt.sources, tt.wantErr)
				}
				for _, fragment := range tt.wantErr {
					if !strings.Contains(err.Error(), fragment) {
						t.Errorf("Load(%q) error %q does not contain %q", tt.sources, err, fragment)
					}
				}
				if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
					t.Errorf("Load(%q) error = %v, want errors.Is %v", tt.sources, err, tt.wantErrIs)
				}
				if trie != nil {
					t.Errorf("Load(%q) returned a trie with an error", tt.sources)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load(%q) error = %v", tt.sources, err)
			}
			if !slices.Equal(infos, tt.wantInfos) {
				t.Errorf("Load() infos = %+v, want %+v", infos, tt.wantInfos)
			}
			if len(warnings) != len(tt.wantWarnings) {
				t.Fatalf("Load() warnings = %v, want %d", warnings, len(tt.wantWarnings))
			}
			for i, w := range warnings {
				if !strings.HasPrefix(w.String(), tt.wantWarnings[i]) {
					t.Errorf("warning %d = %q, want prefix %q", i, w, tt.wantWarnings[i])
				}
			}
			for query, want := range tt.wantBlocked {
				if got, ok := trie.Lookup(query); !ok || got != want {
					t.Errorf("Lookup(%q) = %+v, %v, want %+v", query, got, ok, want)
				}
			}
		})
	}
}

// contentVersion is the expected list version: the SHA-256 of the whole
// file, shortened, computed independently of the loader.
func contentVersion(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])[:12]
}
