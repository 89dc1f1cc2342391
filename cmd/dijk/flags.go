package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/dijk-dns/dijk/internal/config"
)

// loadConfig parses a command's flags and loads the configuration. The bool
// is false when the caller should stop (help was printed).
func loadConfig(name string, args, environ []string, stderr io.Writer, extra ...func(*pflag.FlagSet)) (*config.Config, []string, bool, error) {
	fs, ok, err := parseFlags(name, args, stderr, extra...)
	if !ok || err != nil {
		return nil, nil, ok, err
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		return nil, nil, false, fmt.Errorf("config: %w", err)
	}
	return cfg, fs.Args(), true, nil
}

// parseFlags parses a command's flags. The bool is false when the caller
// should stop (help was printed, or the flags are wrong).
func parseFlags(name string, args []string, stderr io.Writer, extra ...func(*pflag.FlagSet)) (*pflag.FlagSet, bool, error) {
	fs := pflag.NewFlagSet("dijk "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	for _, add := range extra {
		add(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return fs, true, nil
}
