// Package config holds the default configuration shipped in the binary;
// `dijk serve` runs on it with no file. internal/config parses it and
// layers the operator's file, environment and flags on top.
package config

import _ "embed"

// Default is the text of dijk.yaml, the lowest-precedence configuration
// layer and the commented template operators copy.
//
//go:embed dijk.yaml
var Default []byte
