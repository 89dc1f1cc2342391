package hitlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lineCounter counts the lines written to it.
type lineCounter struct{ lines atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// TestSlowSinkDoesNotStallOthers gives a Logger a stalled sink and a
// healthy one: the healthy one must get every line while the stalled one
// drops and counts.
func TestSlowSinkDoesNotStallOthers(t *testing.T) {
	const events, sinkQueue = 1000, 16
	stalled := &blockingWriter{release: make(chan struct{})}
	healthy := &lineCounter{}
	l, sinks, err := newLogger(Options{Writer: healthy, Queue: events})
	if err != nil {
		t.Fatal(err)
	}
	sinks = append(sinks, &writerSink{w: stalled, m: &l.counters, log: l.log, name: l.name})
	l.flushDelay = 0 // the test paces itself on written lines
	l.start(sinks, sinkQueue)
	defer func() {
		select {
		case <-stalled.release:
		default:
			close(stalled.release) // after a failure, let the goroutines go
		}
	}()
	guard := time.Now().Add(10 * time.Second) // bounds a broken test only
	for i := range events {
		l.Log(sampleEvent())
		// Pace the test, not the Logger: the healthy sink's small queue
		// must not overflow merely because its goroutine was not scheduled.
		for healthy.lines.Load() < int64(i+1) {
			if time.Now().After(guard) {
				t.Fatalf("healthy sink stuck at %d of %d lines behind the stalled one", healthy.lines.Load(), events)
			}
			runtime.Gosched()
		}
	}
	dropped := testutil.ToFloat64(l.dropped)
	if dropped == 0 {
		t.Error("dropped = 0, want the stalled sink's overflow counted")
	}
	close(stalled.release)
	l.Close()
	if got := healthy.lines.Load(); got != events {
		t.Errorf("healthy sink has %d lines, want %d", got, events)
	}
	written := testutil.ToFloat64(l.written)
	if written+dropped != 2*events {
		t.Errorf("written %v + dropped %v != %d lines for two sinks", written, dropped, 2*events)
	}
	if got := strings.Count(stalled.buf.String(), "\n"); float64(got) != 2*events-dropped-events {
		t.Errorf("stalled sink has %d lines after release, want %v", got, 2*events-dropped-events)
	}
}

func TestQueryLogLines(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(e *Event)
		wantAction string
		wantType   []any
		wantRule   bool
		want       map[string]any
	}{
		{
			name:       "forwarded",
			mutate:     func(e *Event) { *e = allowedEvent(OutcomeForwarded, "NOERROR") },
			wantAction: "forwarded", wantType: []any{"allowed"},
			want: map[string]any{"dns.response_code": "NOERROR", "dijk.group": "default", "dijk.kind": nil, "dijk.list": nil},
		},
		{
			name:       "cached",
			mutate:     func(e *Event) { *e = allowedEvent(OutcomeCached, "NXDOMAIN") },
			wantAction: "cached", wantType: []any{"allowed"},
			want: map[string]any{"dns.response_code": "NXDOMAIN"},
		},
		{
			name:       "error",
			mutate:     func(e *Event) { *e = allowedEvent(OutcomeError, "SERVFAIL") },
			wantAction: "error", wantType: []any{"allowed", "error"},
			want: map[string]any{"dns.response_code": "SERVFAIL"},
		},
		{
			name:       "blocked",
			mutate:     func(e *Event) { e.Outcome = OutcomeBlocked },
			wantAction: "blocked", wantType: []any{"denied"}, wantRule: true,
			want: map[string]any{
				"dns.response_code": "NXDOMAIN", "rule.name": "deepseek.com", "dijk.action": "nxdomain",
				"dijk.kind": "block", "dijk.list": "builtin:deepseek", "dijk.line": float64(14), "event.kind": "event",
			},
		},
		{
			name:       "blocked bypass attempt",
			mutate:     func(e *Event) { e.Outcome, e.Kind, e.Group = OutcomeBlocked, KindBypass, "ministry" },
			wantAction: "blocked", wantType: []any{"denied"}, wantRule: true,
			want: map[string]any{"event.kind": "alert", "dijk.kind": "bypass", "dijk.group": "ministry"},
		},
		{
			name:       "refused by access control",
			mutate:     func(e *Event) { *e = allowedEvent(OutcomeRefused, "REFUSED") },
			wantAction: "refused", wantType: []any{"denied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(Options{Writer: &buf, Dataset: DatasetQueries, Observer: "dijk-1", Version: "1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			e := sampleEvent()
			tt.mutate(&e)
			l.Log(e)
			l.Close()
			var doc map[string]any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatalf("line is not JSON: %v: %s", err, buf.Bytes())
			}
			want := map[string]any{
				"event.dataset":     "dijk.queries",
				"event.action":      tt.wantAction,
				"event.module":      "dijk",
				"client.ip":         "192.0.2.7",
				"client.port":       float64(53124),
				"dns.question.name": "chat.deepseek.com",
				"dns.question.type": "AAAA",
				"network.transport": "udp",
				"observer.hostname": "dijk-1",
				"ecs.version":       ecsVersion,
				"@timestamp":        "2026-11-23T08:30:00.123000000Z",
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for path, w := range want {
				if got := lookup(doc, path); got != w {
					t.Errorf("%s = %#v, want %#v", path, got, w)
				}
			}
			if got, _ := lookup(doc, "event.type").([]any); !equalAny(got, tt.wantType) {
				t.Errorf("event.type = %v, want %v", got, tt.wantType)
			}
			if _, ok := doc["rule"]; ok != tt.wantRule {
				t.Errorf("rule present = %v, want %v: %s", ok, tt.wantRule, buf.Bytes())
			}
		})
	}
}

// allowedEvent is a query no rule matched.
func allowedEvent(outcome, rcode string) Event {
	e := sampleEvent()
	e.Rule, e.Source, e.Line, e.Action, e.ListVersion = "", "", 0, "", ""
	e.Outcome, e.Rcode = outcome, rcode
	return e
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHitLogIgnoresOutcome: the hit log keeps its schema whatever the
// caller puts in Outcome.
func TestHitLogIgnoresOutcome(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf, Observer: "dijk-1", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	e.Outcome = OutcomeForwarded
	l.Log(e)
	l.Close()
	checkHitFields(t, bytes.TrimSpace(buf.Bytes()))
	if strings.Contains(buf.String(), `"action":"forwarded"`) || strings.Contains(buf.String(), "dijk.queries") {
		t.Errorf("hit line took the query log's fields: %s", buf.Bytes())
	}
}

// TestHitAndQueryLogsShareARegistry: both Loggers of one instance register
// their metrics side by side, under names of their own.
func TestHitAndQueryLogsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	hits, err := New(Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer hits.Close()
	queries, err := New(Options{Registerer: reg, Dataset: DatasetQueries})
	if err != nil {
		t.Fatalf("second Logger on the registry: %v", err)
	}
	defer queries.Close()
	if _, err := New(Options{Registerer: reg}); err == nil {
		t.Error("a second hit log on the same registry: want a registration error")
	}
	tests := []struct {
		name   string
		metric string
	}{
		{name: "hit log lines", metric: "dijk_hitlog_lines_total"},
		{name: "hit log drops", metric: "dijk_hitlog_dropped_total"},
		{name: "query log lines", metric: "dijk_querylog_lines_total"},
		{name: "query log drops", metric: "dijk_querylog_dropped_total"},
		{name: "query log errors", metric: "dijk_querylog_write_errors_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := testutil.GatherAndCount(reg, tt.metric); err != nil || n != 1 {
				t.Errorf("%s: %d series, %v; want 1", tt.metric, n, err)
			}
		})
	}
}

// failingWriter fails its next write after writing only cut bytes of it.
type failingWriter struct {
	fail bool
	cut  int
	buf  bytes.Buffer
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.fail {
		w.fail = false
		w.buf.Write(p[:w.cut])
		return w.cut, errors.New("disk full")
	}
	return w.buf.Write(p)
}

// TestWriteFailureLosesOnlyItsLines: after a write that stopped mid-line,
// the next line starts on a line of its own, the counters split written
// from failed, and the service log says so once.
func TestWriteFailureLosesOnlyItsLines(t *testing.T) {
	w := &failingWriter{}
	var logged safeBuffer
	l, sinks, err := newLogger(Options{Writer: w, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s := sinks[0].(*writerSink)
	// Drive the sink directly, so which lines share a batch is fixed.
	enc := func(id uint16) entry {
		e := sampleEvent()
		e.QueryID = id
		line, err := json.Marshal(l.record(e))
		if err != nil {
			t.Fatal(err)
		}
		return entry{line: append(line, '\n')}
	}
	first := enc(1)
	s.add(first)
	s.add(enc(2))
	// The batch fails ten bytes into line 2.
	w.fail, w.cut = true, len(first.line)+10
	s.flush()
	s.add(enc(3))
	s.flush()
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want line 1, the fragment of line 2 and line 3:\n%s", len(lines), w.buf.String())
	}
	for i, want := range []bool{true, false, true} {
		if json.Valid([]byte(lines[i])) != want {
			t.Errorf("line %d valid JSON = %v, want %v: %s", i, !want, want, lines[i])
		}
	}
	if !strings.Contains(lines[2], `"id":3,`) {
		t.Errorf("last line is not event 3: %s", lines[2])
	}
	if got := testutil.ToFloat64(l.writeErrors); got != 1 {
		t.Errorf("write errors = %v, want 1", got)
	}
	if got := testutil.ToFloat64(l.written); got != 2 {
		t.Errorf("written = %v, want 2", got)
	}
	if got := strings.Count(logged.String(), "write failed"); got != 1 {
		t.Errorf("service log has %d failure warnings, want 1:\n%s", got, logged.String())
	}
	if !strings.Contains(logged.String(), "recovered") {
		t.Errorf("service log lacks the recovery:\n%s", logged.String())
	}
}

func TestLockedWriter(t *testing.T) {
	var buf bytes.Buffer
	w := Locked(&buf)
	var wg sync.WaitGroup
	const writers, writes = 8, 200
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := []byte(strings.Repeat(string(rune('a'+i)), 100) + "\n")
			for range writes {
				if _, err := w.Write(line); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != writers*writes {
		t.Fatalf("%d lines, want %d", len(lines), writers*writes)
	}
	for _, l := range lines {
		if len(l) != 100 || strings.Count(l, l[:1]) != 100 {
			t.Fatalf("interleaved line %q", l)
		}
	}
}

// TestCloseTwiceAndLogAfterClose: Close is idempotent and later events
// are dropped, not written or panicking.
func TestCloseTwiceAndLogAfterClose(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // bounds a broken test only
		t.Fatal("second Close hangs")
	}
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("Log after Close panicked: %v", r)
		}
	}()
	l.Log(sampleEvent())
}
