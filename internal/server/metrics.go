package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
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
