package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "office.txt")
	// Line numbers matter: the check output names them.
	listText := strings.Join([]string{
		"# Source: test",     // 1
		"",                   // 2
		"foo.example",        // 3
		"exact:only.example", // 4
		"bücher.example",     // 5
	}, "\n") + "\n"
	if err := os.WriteFile(list, []byte(listText), 0o600); err != nil {
		t.Fatal(err)
	}
	// A malformed line is skipped with a warning; the rest still loads.
	broken := filepath.Join(dir, "broken.txt")
	if err := os.WriteFile(broken, []byte("not a domain\nbar.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		// stdoutPrefix and the contains lists are checked when set; a
		// failing command must print nothing on stdout.
		stdoutPrefix string
		stdout       []string
		stderr       []string
	}{
		{
			name: "version", args: []string{"version"}, code: exitOK,
			stdoutPrefix: "dijk " + version + " ", stdout: []string{runtime.Version()},
		},
		{
			name: "help", args: []string{"help"}, code: exitOK,
			stdoutPrefix: "Usage: dijk", stdout: []string{"serve", "check NAME", "healthcheck", "version"},
		},
		{
			name: "unknown command", args: []string{"frobnicate"}, code: exitUsage,
			stderr: []string{`unknown command "frobnicate"`, "Usage: dijk"},
		},
		{
			name: "check a blocked name", args: []string{"check", "chat.deepseek.com"}, code: exitOK,
			stdoutPrefix: "blocked chat.deepseek.com",
			stdout:       []string{"entry deepseek.com ", "it and every name below it", "in builtin:deepseek line "},
		},
		{
			name: "check is case-insensitive and ignores the root dot", args: []string{"check", "Chat.DeepSeek.COM."}, code: exitOK,
			stdoutPrefix: "blocked chat.deepseek.com:", stdout: []string{"builtin:deepseek"},
		},
		{
			name: "check an allowed name", args: []string{"check", "example.org"}, code: exitOK,
			stdoutPrefix: "allowed example.org",
		},
		{
			name: "check a lookalike", args: []string{"check", "notdeepseek.com"}, code: exitOK,
			stdoutPrefix: "allowed notdeepseek.com",
		},
		{
			name: "check without a name", args: []string{"check"}, code: exitUsage,
			stderr: []string{"want exactly one NAME"},
		},
		{
			name: "check with two names", args: []string{"check", "a.example", "b.example"}, code: exitUsage,
			stderr: []string{"want exactly one NAME"},
		},
		{
			name: "check an invalid name", args: []string{"check", "bad..name"}, code: exitUsage,
			stderr: []string{"dijk check:", `"bad..name"`},
		},
		{
			name: "check with a missing config file", args: []string{"check", "--config", missing, "x.example"}, code: exitUsage,
			stderr: []string{"dijk check: config", missing},
		},
		{
			name: "check with a missing list file", args: []string{"check", "--blocklists", filepath.Join(dir, "nope.txt"), "x.example"}, code: exitUsage,
			stderr: []string{"nope.txt"},
		},
		{
			name: "check a suffix entry in a list file", args: []string{"check", "--blocklists", list, "www.foo.example"}, code: exitOK,
			stdoutPrefix: "blocked www.foo.example",
			stdout:       []string{"entry foo.example ", "it and every name below it", "in " + list + " line 3"},
		},
		{
			name: "check warns about a malformed line", args: []string{"check", "--blocklists", broken, "bar.example"}, code: exitOK,
			stdoutPrefix: "blocked bar.example", stdout: []string{broken + " line 2"},
			stderr: []string{"skipped list line", broken + ":1:"},
		},
		{
			name: "check an exact entry", args: []string{"check", "--blocklists", list, "only.example"}, code: exitOK,
			stdoutPrefix: "blocked only.example", stdout: []string{"exactly that name", "line 4"},
		},
		{
			name: "exact entry does not cover names below it", args: []string{"check", "--blocklists", list, "www.only.example"}, code: exitOK,
			stdoutPrefix: "allowed www.only.example",
		},
		{
			name: "punycode query matches a Unicode entry", args: []string{"check", "--blocklists", list, "xn--bcher-kva.example"}, code: exitOK,
			stdoutPrefix: "blocked xn--bcher-kva.example", stdout: []string{"entry xn--bcher-kva.example ", "line 5"},
		},
		{
			name: "Unicode query matches a Unicode entry", args: []string{"check", "--blocklists", list, "www.bücher.example"}, code: exitOK,
			stdoutPrefix: "blocked www.xn--bcher-kva.example", stdout: []string{"line 5"},
		},
		{
			name: "--blocklists replaces the builtin list", args: []string{"check", "--blocklists", list, "chat.deepseek.com"}, code: exitOK,
			stdoutPrefix: "allowed chat.deepseek.com",
		},
		{
			name: "DIJK_BLOCKLISTS selects the lists", args: []string{"check", "www.foo.example"}, environ: []string{"DIJK_BLOCKLISTS=builtin:deepseek," + list},
			code: exitOK, stdoutPrefix: "blocked www.foo.example", stdout: []string{list},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, tt.environ, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), tt.stdoutPrefix) {
				t.Errorf("stdout %q, want it to start with %q", stdout.String(), tt.stdoutPrefix)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if code != exitOK && stdout.Len() > 0 {
				t.Errorf("failed, yet printed on stdout: %q", stdout.String())
			}
			if code == exitOK && len(tt.stderr) == 0 && stderr.Len() > 0 {
				t.Errorf("unexpected stderr:\n%s", stderr.String())
			}
		})
	}
}
