package main

import (
	"fmt"
	"io"

	"github.com/dijk-dns/dijk/blocklists"
	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/policy"
)

// checkCommand answers "is NAME blocked, and why" from the configured lists,
// exactly as the server decides, without starting a server. Exit 0 either
// way; 2 on error.
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
	block, allow, _, warnings, err := blocklist.LoadPolicy(cfg.Blocklists, cfg.Allowlists, blocklists.FS)
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.String())
	}
	d := policy.Decide(block, allow, name)
	switch {
	case d.Blocked:
		answer := "NXDOMAIN or the sinkhole"
		if d.NoData {
			answer = "NODATA (an allowed name lies below it)"
		}
		fmt.Fprintf(stdout, "blocked %s: entry %s in %s line %d; answered %s\n", name, describe(d.Block), d.Block.Source, d.Block.Line, answer)
	case d.Overridden:
		fmt.Fprintf(stdout, "allowed %s: entry %s in %s line %d is overridden by allow entry %s in %s line %d\n",
			name, describe(d.Block), d.Block.Source, d.Block.Line, describe(d.Allow), d.Allow.Source, d.Allow.Line)
	default:
		fmt.Fprintf(stdout, "allowed %s: no list entry matches\n", name)
	}
	return exitOK
}

// describe names a rule and what it covers.
func describe(r blocklist.Rule) string {
	switch r.Kind {
	case blocklist.KindExact:
		return r.Name + " (exactly that name)"
	case blocklist.KindSubdomains:
		return "*." + r.Name + " (every name below it)"
	}
	return r.Name + " (it and every name below it)"
}
