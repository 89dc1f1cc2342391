// Command dijk is a DNS firewall: a forwarding resolver that sinkholes banned
// services (DeepSeek first), logs every block for the SOC, and forwards
// everything else upstream with a cache.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

const usage = `Usage: dijk [command] [flags]

Commands:
  serve             run the resolver (the default)
  check NAME        say whether NAME is blocked, and by which list entry
  healthcheck       exit 0 when the running resolver's /healthz answers
  report FILE...    summarise hit logs: devices still trying, top names, hits per hour
  lists lint PATH   check list files offline (duplicates, redundant entries, bad lines)
  lists export      write the configured policy as an RPZ zone (--format rpz)
  version           print the version

Every command takes --config FILE; "dijk serve --help" lists the settings.
`

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run dispatches a command line; it is main without the process around it.
func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(args, environ, stderr)
	case "check":
		return checkCommand(args, environ, stdout, stderr)
	case "healthcheck":
		return healthcheckCommand(args, environ, stderr)
	case "report":
		return reportCommand(args, stdout, stderr)
	case "lists":
		return listsCommand(args, environ, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "dijk %s (%s)\n", version, runtime.Version())
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "dijk: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
