package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/report"
)

const reportUsage = `Usage: dijk report [flags] FILE...

Summarise hit logs: which devices still query blocked names, since when,
and how often. FILE may be plain, rotated (hits.jsonl.1) or gzip-compressed
(detected by content); "-" reads standard input.

--since and --until take an RFC 3339 time (2026-11-23T08:00:00Z), a date
(2026-11-23, midnight UTC) or a duration before now (24h, 7d, 1d12h).
The window includes --since and excludes --until.

Flags:
`

// reportCommand prints a hit-log report. Exit 0 on success; 2 on a usage
// error or when an input could not be read (the report of the readable
// inputs is still printed, as grep does).
func reportCommand(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("dijk report", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SortFlags = false
	since := fs.String("since", "", "only hits at or after this time or duration ago")
	until := fs.String("until", "", "only hits before this time or duration ago")
	group := fs.String("group", "", `only this policy group ("default": lines without a group)`)
	list := fs.String("list", "", "only this block list (dijk.list or rule.ruleset)")
	kind := fs.String("kind", "", "only this kind of hit: block or bypass")
	format := fs.String("format", "table", "output format: "+strings.Join(report.Formats(), ", "))
	top := fs.Int("top", report.DefaultTop, "how many names the top-names section lists")
	perDevice := fs.Int("device-names", report.DefaultNamesPerDevice, "how many names to list per device")
	maxDevices := fs.Int("max-devices", report.DefaultMaxDevices, "most devices tracked (bounds memory)")
	maxNames := fs.Int("max-names", report.DefaultMaxNames, "most distinct names tracked (bounds memory)")
	maxPairs := fs.Int("max-pairs", report.DefaultMaxPairs, "most device/name pairs tracked (bounds memory)")
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		// ContinueOnError leaves printing the error to the caller.
		fmt.Fprintf(stderr, "dijk report: %v (see dijk report --help)\n", err)
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "dijk report: "+format+"\n", a...)
		return exitUsage
	}
	files := fs.Args()
	if len(files) == 0 {
		return usageErr(`no FILE given (use "-" for standard input)`)
	}
	if *kind != "" && *kind != "block" && *kind != "bypass" {
		return usageErr("--kind %q: want block or bypass", *kind)
	}
	if !slices.Contains(report.Formats(), *format) {
		return usageErr("--format %q: want %s", *format, strings.Join(report.Formats(), ", "))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"top", *top}, {"device-names", *perDevice}, {"max-devices", *maxDevices}, {"max-names", *maxNames}, {"max-pairs", *maxPairs}} {
		if f.v <= 0 {
			return usageErr("--%s must be positive", f.name)
		}
	}
	now := time.Now()
	opts := report.Options{
		Group: *group, List: *list, Kind: *kind,
		Top: *top, NamesPerDevice: *perDevice,
		MaxDevices: *maxDevices, MaxNames: *maxNames, MaxPairs: *maxPairs,
		Warnings: stderr,
		Stdin:    os.Stdin,
	}
	var err error
	if *since != "" {
		if opts.Since, err = report.ParseTime(*since, now); err != nil {
			return usageErr("--since: %v", err)
		}
	}
	if *until != "" {
		if opts.Until, err = report.ParseTime(*until, now); err != nil {
			return usageErr("--until: %v", err)
		}
	}
	if !opts.Since.IsZero() && !opts.Until.IsZero() && !opts.Since.Before(opts.Until) {
		return usageErr("--since %s is not before --until %s", opts.Since.Format(time.RFC3339), opts.Until.Format(time.RFC3339))
	}
	if isTerminal(stderr) {
		opts.Progress = stderr
	}

	agg := report.New(opts)
	code := exitOK
	for _, f := range files {
		if err := agg.ReadFile(f); err != nil {
			fmt.Fprintf(stderr, "dijk report: %v\n", err)
			code = exitUsage
		}
	}
	res := agg.Result()
	if res.LinesSkipped > 0 {
		fmt.Fprintf(stderr, "dijk report: skipped %d malformed or over-long line(s)\n", res.LinesSkipped)
	}
	if err := res.Write(stdout, *format); err != nil {
		fmt.Fprintf(stderr, "dijk report: %v\n", err)
		return exitFail
	}
	return code
}

// isTerminal reports whether w is a terminal, where progress may redraw a
// line. /dev/null is a character device too; progress written there is
// harmless.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
