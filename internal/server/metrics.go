package server

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
)

// Every answer updates three labelled series. Looking a child up by label
// values hashes the strings each time, so the children used per query are
// kept by index once first used (not created up front, which would publish
// series that never move).
const (
	numTransports = 2
	numOutcomes   = int(chain.OutcomeInvalid) + 1
	numRcodes     = 24 // the codes a header can carry are 0..15; BADVERS is 16
)

type metrics struct {
	queries     *prometheus.CounterVec
	rcodes      *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	malformed   *prometheus.CounterVec
	writeErrors *prometheus.CounterVec
	panics      prometheus.Counter
	tcpRejected prometheus.Counter
	overloaded  prometheus.Counter

	queryBy   [numTransports * numOutcomes]atomic.Pointer[prometheus.Counter]
	rcodeBy   [numRcodes]atomic.Pointer[prometheus.Counter]
	latencyBy [numTransports]atomic.Pointer[prometheus.Observer]
}

func transportIndex(transport string) int {
	if transport == chain.TransportTCP {
		return 1
	}
	return 0
}

func (m *metrics) query(transport string, o chain.Outcome) prometheus.Counter {
	if int(o) >= numOutcomes {
		return m.queries.WithLabelValues(transport, o.String())
	}
	return kept(&m.queryBy[transportIndex(transport)*numOutcomes+int(o)], func() prometheus.Counter {
		return m.queries.WithLabelValues(transport, o.String())
	})
}

func (m *metrics) rcode(rcode int) prometheus.Counter {
	if rcode < 0 || rcode >= numRcodes {
		return m.rcodes.WithLabelValues(rcodeName(rcode))
	}
	return kept(&m.rcodeBy[rcode], func() prometheus.Counter {
		return m.rcodes.WithLabelValues(rcodeName(rcode))
	})
}

func (m *metrics) latency(transport string) prometheus.Observer {
	return kept(&m.latencyBy[transportIndex(transport)], func() prometheus.Observer {
		return m.duration.WithLabelValues(transport)
	})
}

// kept returns the child in slot, looking it up with child the first time.
func kept[T any](slot *atomic.Pointer[T], child func() T) T {
	if c := slot.Load(); c != nil {
		return *c
	}
	c := child()
	slot.Store(&c)
	return c
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Name: "queries_total",
			Help: "DNS queries answered, by transport and outcome (blocked, forwarded, cached, refused, error, invalid).",
		}, []string{"transport", "outcome"}),
		rcodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Name: "responses_total",
			Help: "DNS answers sent, by response code.",
		}, []string{"rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "dijk", Name: "query_duration_seconds",
			Help:    "Time from receiving a query to writing its answer.",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 16),
		}, []string{"transport"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Name: "malformed_queries_total",
			Help: "Packets that could not be parsed as DNS queries.",
		}, []string{"transport"}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Name: "write_errors_total",
			Help: "Answers that could not be written to the client.",
		}, []string{"transport"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Name: "panics_total",
			Help: "Queries whose handling panicked (answered SERVFAIL).",
		}),
		tcpRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Name: "tcp_rejected_connections_total",
			Help: "TCP connections closed at once because a connection limit was reached.",
		}),
		overloaded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Name: "overloaded_queries_total",
			Help: "Queries answered SERVFAIL at once because the maximum of queries in flight was reached.",
		}),
	}
	for _, c := range []prometheus.Collector{m.queries, m.rcodes, m.duration, m.malformed, m.writeErrors, m.panics, m.tcpRejected, m.overloaded} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register server metrics: %w", err)
		}
	}
	return m, nil
}
