package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/blocklists"
	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/config"
)

const listsUsage = `Usage:
  dijk lists lint PATH...                          check list files offline
  dijk lists export --format rpz [--origin NAME]   write the configured policy as an RPZ zone
`

// listsCommand dispatches "dijk lists ...".
func listsCommand(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, listsUsage)
		return exitUsage
	}
	switch args[0] {
	case "lint":
		return lintCommand(args[1:], stdout, stderr)
	case "export":
		return exportCommand(args[1:], environ, stdout, stderr)
	}
	fmt.Fprintf(stderr, "dijk lists: unknown command %q\n\n%s", args[0], listsUsage)
	return exitUsage
}

// lintCommand validates list files for a policy owner's own CI: malformed
// lines, duplicates, and entries a parent entry already covers. Exit 0 when
// clean, 1 when it found problems, 2 when a file cannot be read.
func lintCommand(paths []string, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		fmt.Fprint(stderr, listsUsage)
		return exitUsage
	}
	problems := 0
	for _, path := range paths {
		n, err := lintFile(path, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "dijk lists lint: %v\n", err)
			return exitUsage
		}
		problems += n
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "%d problem(s)\n", problems)
		return exitFail
	}
	return exitOK
}

func lintFile(path string, out io.Writer) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	entries, warnings, err := blocklist.ParseFormat(path, f, blocklist.FormatAuto)
	if err != nil {
		return 0, err
	}
	for _, w := range warnings {
		fmt.Fprintln(out, w.String())
	}
	findings := blocklist.Lint(path, entries)
	for _, fd := range findings {
		fmt.Fprintln(out, fd.String())
	}
	return len(warnings) + len(findings), nil
}

// exportCommand writes the configured block and allow lists as an RPZ zone,
// so BIND, Unbound, PowerDNS or Infoblox resolvers can enforce the same
// policy.
func exportCommand(args, environ []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("dijk lists export", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	format := fs.String("format", "rpz", "output format (rpz)")
	origin := fs.String("origin", "rpz.dijk.", "zone name of the RPZ")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "dijk lists export: %v\n", err)
		return exitUsage
	}
	if *format != "rpz" {
		fmt.Fprintf(stderr, "dijk lists export: format %q is not supported (rpz)\n", *format)
		return exitUsage
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "dijk lists export: config: %v\n", err)
		return exitUsage
	}
	block, allow, _, warnings, err := blocklist.LoadPolicy(cfg.Blocklists, cfg.Allowlists, blocklists.FS)
	if err != nil {
		fmt.Fprintf(stderr, "dijk lists export: %v\n", err)
		return exitUsage
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w.String())
	}
	w := bufio.NewWriter(stdout)
	ttl := uint32(cfg.Sinkhole.TTL / time.Second)
	if err := blocklist.WriteRPZ(w, *origin, uint32(time.Now().Unix()), ttl, block.Rules(), allow.Rules()); err != nil {
		fmt.Fprintf(stderr, "dijk lists export: %v\n", err)
		return exitUsage
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "dijk lists export: %v\n", err)
		return exitFail
	}
	return exitOK
}
