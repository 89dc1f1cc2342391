package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCooldown is used when Options.Cooldown is zero.
const DefaultCooldown = 15 * time.Second

// Options configures a Forwarder.
type Options struct {
	// Servers are the upstreams as "host:port" IP literals (IPv6 as
	// [addr]:port), tried in this order. At least one is required.
	Servers []string
	// Timeout is the whole per-query budget, shared by all attempts. It must
	// be positive.
	Timeout time.Duration
	// Cooldown is how long an upstream that timed out (or had a network
	// error) is skipped before it is probed again. Zero means DefaultCooldown.
	Cooldown time.Duration
	// Logger receives state changes (upstream down/up, loops). Nil discards.
	Logger *slog.Logger
	// Registerer receives the package's metrics. Nil means they are kept
	// but not exported.
	Registerer prometheus.Registerer
}

// parseServers validates the server list and returns the parsed addresses.
func parseServers(servers []string) ([]netip.AddrPort, error) {
	if len(servers) == 0 {
		return nil, ErrNoUpstream
	}
	addrs := make([]netip.AddrPort, 0, len(servers))
	seen := make(map[netip.AddrPort]bool, len(servers))
	for _, s := range servers {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("upstream: server %q is not an IP:port: %w", s, err)
		}
		if ap.Port() == 0 {
			return nil, fmt.Errorf("upstream: server %q: port 0", s)
		}
		if seen[ap] {
			// Duplicates would collide in the per-upstream metrics.
			return nil, fmt.Errorf("upstream: server %q listed twice", s)
		}
		seen[ap] = true
		addrs = append(addrs, ap)
	}
	return addrs, nil
}

func (o Options) cooldown() (time.Duration, error) {
	switch {
	case o.Cooldown < 0:
		return 0, errors.New("upstream: negative cooldown")
	case o.Cooldown == 0:
		return DefaultCooldown, nil
	}
	return o.Cooldown, nil
}
