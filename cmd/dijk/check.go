package main

import (
	"fmt"
	"io"

	"github.com/dijk-dns/dijk/blocklists"
	"github.com/dijk-dns/dijk/internal/blocklist"
)

// checkCommand answers "is NAME blocked, and why" from the configured lists,
// without starting a server. Exit 0 either way; 2 on error.
func checkCommand(args, environ []string, stdout, stderr io.Writer) int {
	cfg, rest, ok, err := loadConfig("check", args, environ, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	if !ok {
		return exitOK
	}
	if len(rest) != 1 {
		fmt.Fprintln(stderr, "dijk check: want exactly one NAME, e.g. dijk check chat.deepseek.com")
		return exitUsage
	}
	name, err := blocklist.Normalize(rest[0])
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	trie, _, warnings, err := blocklist.Load(cfg.Blocklists, blocklists.FS)
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.String())
	}
	rule, blocked := trie.Lookup(name)
	if !blocked {
		fmt.Fprintf(stdout, "allowed %s: no list entry matches\n", name)
		return exitOK
	}
	match := "it and every name below it"
	if rule.Exact {
		match = "exactly that name"
	}
	fmt.Fprintf(stdout, "blocked %s: entry %s (%s) in %s line %d\n", name, rule.Name, match, rule.Source, rule.Line)
	return exitOK
}
