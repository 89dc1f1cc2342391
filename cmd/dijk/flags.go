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
func loadConfig(name string, args, environ []string, stderr io.Writer) (*config.Config, []string, bool, error) {
	fs := pflag.NewFlagSet("dijk "+name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil, nil, false, nil
		}
		return nil, nil, false, err
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		return nil, nil, false, fmt.Errorf("config: %w", err)
	}
	return cfg, fs.Args(), true, nil
}
