package remote

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of dijk_remote_fetches_total.
const (
	resultUpdated     = "updated"
	resultNotModified = "not_modified"
	resultFailed      = "failed"
	resultRejected    = "rejected"
)

type metrics struct {
	fetches     *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dijk_remote_fetches_total",
			Help: "Fetches of remote lists by result: updated, not_modified, failed (previous copy kept), rejected (checksum or signature did not match).",
		}, []string{"source", "result"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "dijk_remote_last_success_timestamp_seconds",
			Help: "Unix time the server of a remote list last answered with a good copy or 304, persisted across restarts.",
		}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{m.fetches, m.lastSuccess} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("remote: registering metrics: %w", err)
		}
	}
	return m, nil
}

// record counts one fetch. Every result of the source exists from its first
// fetch, so increase() sees the first failure or rejection.
func (m *metrics) record(source, result string, lastSuccess time.Time) {
	for _, r := range []string{resultUpdated, resultNotModified, resultFailed, resultRejected} {
		m.fetches.WithLabelValues(source, r)
	}
	m.fetches.WithLabelValues(source, result).Inc()
	if !lastSuccess.IsZero() {
		m.lastSuccess.WithLabelValues(source).Set(float64(lastSuccess.Unix()))
	}
}
