package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListsLint(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.txt")
	messy := filepath.Join(dir, "messy.txt")
	adblock := filepath.Join(dir, "adblock.txt")
	for path, body := range map[string]string{
		clean:   "# Source: test\ndeepseek.com\nexact:host.example\n",
		messy:   "deepseek.com\nchat.deepseek.com\ndeepseek.com\nbad..name\n",
		adblock: "! list\n||kimi.com^\n||kimi.com^$important\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"clean list", []string{clean}, 0, nil},
		{"duplicates, redundant and bad lines", []string{messy}, 1, []string{
			messy + ":2: entry \"chat.deepseek.com\" is redundant", messy + ":3: duplicate of line 1", messy + ":4: invalid domain", "3 problem(s)",
		}},
		{"unsupported Adblock modifier", []string{adblock}, 1, []string{adblock + ":3:", "$important"}},
		{"missing file", []string{filepath.Join(dir, "nope.txt")}, 2, nil},
		{"no file", nil, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"lists", "lint"}, tt.args...), nil, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestListsExportRPZ(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"lists", "export", "--format", "rpz", "--origin", "rpz.example."}, nil, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	zone := out.String()
	for _, want := range []string{
		"$ORIGIN rpz.example.", "deepseek.com CNAME .", "*.deepseek.com CNAME .",
		"apmplus.ap-southeast-1.volces.com CNAME .",
	} {
		if !strings.Contains(zone, want) {
			t.Errorf("zone lacks %q:\n%s", want, zone)
		}
	}
	// An exact entry becomes one owner only: the shared platform stays open.
	if strings.Contains(zone, "*.apmplus.ap-southeast-1.volces.com") || strings.Contains(zone, "*.volces.com") {
		t.Errorf("exact entry exported as a wildcard:\n%s", zone)
	}
	if code := run([]string{"lists", "export", "--format", "hosts"}, nil, &out, &errOut); code != 2 {
		t.Errorf("unsupported format: exit %d, want 2", code)
	}
}

func TestCheckExplainsAllowlists(t *testing.T) {
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow.txt")
	if err := os.WriteFile(allow, []byte("status.deepseek.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string
	}{
		{"status.deepseek.com", "allowed status.deepseek.com: entry deepseek.com (it and every name below it) in builtin:deepseek line 31 is overridden by allow entry status.deepseek.com (it and every name below it) in " + allow + " line 1"},
		{"deepseek.com", "blocked deepseek.com: entry deepseek.com (it and every name below it) in builtin:deepseek line 31; answered NODATA"},
		{"chat.deepseek.com", "blocked chat.deepseek.com: entry deepseek.com (it and every name below it) in builtin:deepseek line 31; answered NXDOMAIN"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := run([]string{"check", "--allowlists", allow, tt.name}, nil, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", tt.name, code, errOut.String())
		}
		if !strings.HasPrefix(out.String(), tt.want) {
			t.Errorf("check %s:\n got %q\nwant %q", tt.name, out.String(), tt.want)
		}
	}
}
