package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/policy"
)

// checkCommand answers "is NAME blocked, and why" from the configured lists,
// exactly as the server decides, without starting a server. Exit 0 either
// way; 2 on error.
func checkCommand(args, environ []string, stdout, stderr io.Writer) int {
	var client string
	cfg, rest, ok, err := loadConfig("check", args, environ, stderr, func(fs *pflag.FlagSet) {
		fs.StringVar(&client, "client", "", "decide for this client `IP` (its policy group)")
	})
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
	var addr netip.Addr
	if client != "" {
		if addr, err = netip.ParseAddr(client); err != nil {
			fmt.Fprintf(stderr, "dijk check: --client %q is not an IP address\n", client)
			return exitUsage
		}
	}
	// The same loader as the server: formats, exceptions, groups and remote
	// lists (from their cached copies when the network is down).
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mgr, err := newListManager(cfg, logger, prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	loaded, err := mgr.Load()
	if err != nil {
		fmt.Fprintf(stderr, "dijk check: %v\n", err)
		return exitUsage
	}
	group, block, allow := "default", loaded.Block, loaded.Allow
	if g := policy.GroupFor(loaded.Groups, addr); client != "" && g != nil {
		group, block, allow = g.Name, g.Block, g.Allow
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
	if client != "" {
		fmt.Fprintf(stdout, "group: %s (client %s)\n", group, client)
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
