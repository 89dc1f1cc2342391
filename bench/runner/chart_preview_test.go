package main

import (
	"os"
	"testing"
)

// TestChartPreview renders a chart from fixed numbers; with CHART_PREVIEW=FILE
// it also writes it there, to look at.
func TestChartPreview(t *testing.T) {
	b := &bench{opts: options{reps: 3, seconds: 5, fixedQPS: 25000, listSize: 1_000_000, resolverCPU: "0", loadCPU: "1"},
		machine: [][2]string{{"CPU", "Test CPU"}, {"Date", "2026-01-01 00:00 UTC"}}}
	for _, n := range []string{"Dijk", "Unbound", "dnsmasq"} {
		b.resolvers = append(b.resolvers, &resolver{name: n})
	}
	vals := map[string][]float64{"Dijk": {7.5, 7.8, 85, 8.1}, "Unbound": {9.5, 9.4, 118, 10}, "dnsmasq": {11.2, 11.2, 197, 210}}
	for i, wl := range b.workloadOrder() {
		for _, r := range b.resolvers {
			b.samples = append(b.samples, &sample{resolver: r.name, workload: wl, cpuUS: []float64{vals[r.name][i]}})
		}
	}
	svg := b.chart()
	if len(svg) < 1000 {
		t.Fatalf("chart too small: %q", svg)
	}
	if f := os.Getenv("CHART_PREVIEW"); f != "" {
		if err := os.WriteFile(f, []byte(svg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
