package soc

import (
	"testing"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

type countingLogger struct{ n int }

func (c *countingLogger) Log(hitlog.Event) { c.n++ }

func TestTee(t *testing.T) {
	tests := []struct {
		name    string
		loggers func(a, b *countingLogger) []HitLogger
		wantA   int
		wantB   int
	}{
		{"both", func(a, b *countingLogger) []HitLogger { return []HitLogger{a, b} }, 2, 2},
		{"nil skipped", func(a, _ *countingLogger) []HitLogger { return []HitLogger{nil, a, nil} }, 2, 0},
		{"none", func(*countingLogger, *countingLogger) []HitLogger { return nil }, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := &countingLogger{}, &countingLogger{}
			l := Tee(tt.loggers(a, b)...)
			l.Log(hit("192.0.2.1", "chat.deepseek.com", t0()))
			l.Log(hit("192.0.2.1", "chat.deepseek.com", t0()))
			if a.n != tt.wantA || b.n != tt.wantB {
				t.Errorf("logged %d and %d events, want %d and %d", a.n, b.n, tt.wantA, tt.wantB)
			}
		})
	}
}

// TestTeeFeedsRecorder is the production wiring: hit log and recorder.
func TestTeeFeedsRecorder(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	other := &countingLogger{}
	Tee(other, r).Log(hit("192.0.2.77", "chat.deepseek.com", t0()))
	s, err := r.Stats(StatsQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if other.n != 1 || s.Totals.Hits != 1 {
		t.Errorf("hit log got %d, recorder %d; want 1 each", other.n, s.Totals.Hits)
	}
	l, e := Tee(other, r), hit("192.0.2.77", "chat.deepseek.com", t0())
	if n := testing.AllocsPerRun(100, func() { l.Log(e) }); n != 0 {
		t.Errorf("Log through Tee allocates %v times, want 0", n)
	}
}
