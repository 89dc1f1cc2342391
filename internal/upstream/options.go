package upstream

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultCooldown is used when Options.Cooldown is zero.
const DefaultCooldown = 15 * time.Second

// DefaultMaxConcurrent bounds concurrent upstream exchanges: far above what
// an office sends (answers come back in milliseconds), far below what
// would exhaust memory or file descriptors.
const DefaultMaxConcurrent = 1000

// maxUDPAnswer is the read buffer of a UDP exchange. We advertise an EDNS
// size of 1232, so a larger datagram breaks the protocol; 4 KiB leaves room
// for servers that ignore it, without 64 KiB per exchange in a flood.
const maxUDPAnswer = 4096

// Options configures a Forwarder.
type Options struct {
	// Servers are the upstreams, tried in this order; see ParseServer for
	// the syntax ("IP:port", "tls://IP#name", "https://name/path#IP", ...).
	// At least one is required.
	Servers []string
	// RootCAs verifies the certificates of tls:// and https:// upstreams;
	// nil means the system roots. Verification is always on: there is no
	// option to skip it and no fallback to cleartext (RFC 8310 strict).
	RootCAs *x509.CertPool
	// Timeout is the whole per-query budget, shared by all attempts. It must
	// be positive.
	Timeout time.Duration
	// Cooldown is how long an upstream that failed (timeout, network, TLS
	// or HTTP error; not an error rcode) is skipped before it is probed
	// again. Zero means DefaultCooldown.
	Cooldown time.Duration
	// MaxConcurrent caps the upstream exchanges running at once (identical
	// queries share one); past it a query fails at once with
	// ErrOverloaded instead of queueing, so a flood of unique names cannot
	// grow memory and goroutines without bound. Zero means
	// DefaultMaxConcurrent.
	MaxConcurrent int
	// Logger receives state changes (upstream down/up, loops). Nil discards.
	Logger *slog.Logger
	// Registerer receives the package's metrics. Nil means they are kept
	// but not exported.
	Registerer prometheus.Registerer
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
