package upstream

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the kind label of dijk_upstream_errors_total.
const (
	kindTimeout      = "timeout"
	kindNetwork      = "network"
	kindRcode        = "rcode"
	kindTruncatedTCP = "truncated_tcp_failed"
	kindTLS          = "tls"
	kindHTTP         = "http"
)

// metrics holds the vectors; the per-upstream children live in upstreamMetrics
// so the hot path does no label lookups.
type metrics struct {
	duration   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	mismatched *prometheus.CounterVec
	dials      *prometheus.CounterVec
	loops      prometheus.Counter
	overloaded prometheus.Counter
}

type upstreamMetrics struct {
	duration     prometheus.Observer
	timeout      prometheus.Counter
	network      prometheus.Counter
	rcode        prometheus.Counter
	truncatedTCP prometheus.Counter
	tls          prometheus.Counter
	http         prometheus.Counter
	mismatched   prometheus.Counter
	// dials counts new connections of DoT and DoH upstreams; a discarding
	// counter for the others, which dial per query anyway.
	dials prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dijk_upstream_request_duration_seconds",
			Help:    "Duration of upstream attempts that got an answer, including a TCP retry after truncation.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
		}, []string{"upstream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dijk_upstream_errors_total",
			Help: "Failed upstream attempts by kind (timeout, network, rcode, truncated_tcp_failed, tls, http).",
		}, []string{"upstream", "kind"}),
		mismatched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dijk_upstream_mismatched_total",
			Help: "Upstream answers ignored because their ID or question did not match the query, or they did not parse.",
		}, []string{"upstream"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dijk_upstream_connections_total",
			Help: "Connections opened to DoT and DoH upstreams; reuse keeps it far below the query count.",
		}, []string{"upstream"}),
		loops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_upstream_loops_total",
			Help: "Queries refused because an upstream sent back a query we were forwarding.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dijk_upstream_overloaded_total",
			Help: "Queries failed at once because the maximum of concurrent upstream exchanges was reached.",
		}),
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, m.mismatched, m.dials, m.loops, m.overloaded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("upstream: registering metrics: %w", err)
		}
	}
	return m, nil
}

// forUpstream creates the children up front, so every series exists (at 0)
// from the start. Series that cannot happen on srv's transport are left out.
func (m *metrics) forUpstream(srv Server) upstreamMetrics {
	label := srv.Raw
	um := upstreamMetrics{
		duration:     m.duration.WithLabelValues(label),
		timeout:      m.errors.WithLabelValues(label, kindTimeout),
		network:      m.errors.WithLabelValues(label, kindNetwork),
		rcode:        m.errors.WithLabelValues(label, kindRcode),
		truncatedTCP: discard(),
		tls:          discard(),
		http:         discard(),
		mismatched:   m.mismatched.WithLabelValues(label),
		dials:        discard(),
	}
	switch srv.Transport {
	case TransportUDP:
		um.truncatedTCP = m.errors.WithLabelValues(label, kindTruncatedTCP)
	case TransportHTTPS:
		um.http = m.errors.WithLabelValues(label, kindHTTP)
		fallthrough
	case TransportTLS:
		um.tls = m.errors.WithLabelValues(label, kindTLS)
		um.dials = m.dials.WithLabelValues(label)
	}
	return um
}

// discard is a counter registered nowhere.
func discard() prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "discarded"})
}

// registerUp exports the health of one upstream. A GaugeFunc reads the
// cooldown state at scrape time, so the gauge returns to 1 when a cooldown
// expires even if no query has probed the upstream yet.
func registerUp(reg prometheus.Registerer, addr string, up func() bool) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "dijk_upstream_up",
		Help:        "1 if the upstream is healthy or untested, 0 while it is in cooldown after a failure.",
		ConstLabels: prometheus.Labels{"upstream": addr},
	}, func() float64 {
		if up() {
			return 1
		}
		return 0
	})
	if err := reg.Register(g); err != nil {
		return fmt.Errorf("upstream: registering up gauge for %s: %w", addr, err)
	}
	return nil
}
