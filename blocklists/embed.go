// Package blocklists carries Dijk's curated lists inside the binary, so the
// default configuration works offline and in a scratch container image.
// A list file NAME.txt is addressed in configuration as "builtin:NAME".
package blocklists

import "embed"

// FS holds the curated list files.
//
//go:embed *.txt
var FS embed.FS
