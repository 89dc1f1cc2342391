package hitlog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func sampleEvent() Event {
	return Event{
		Time:        time.Date(2026, 11, 23, 9, 30, 0, 123000000, time.FixedZone("CET", 3600)),
		Client:      netip.MustParseAddrPort("192.0.2.7:53124"),
		Transport:   "udp",
		QueryID:     4660,
		Name:        "chat.deepseek.com.",
		Type:        "AAAA",
		Class:       "IN",
		Rule:        "deepseek.com",
		Source:      "builtin:deepseek",
		Line:        14,
		Action:      "nxdomain",
		Rcode:       "NXDOMAIN",
		ListVersion: "0123456789ab",
		ListLoaded:  time.Date(2026, 11, 23, 8, 0, 0, 0, time.FixedZone("CET", 3600)),
	}
}

func TestLineFields(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf, Observer: "dijk-1", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(sampleEvent())
	l.Close()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %q", len(lines), buf.String())
	}
	checkHitFields(t, []byte(lines[0]))
}

// checkHitFields checks every ECS field of sampleEvent's line, logged with
// Observer "dijk-1" and Version "1.2.3"; the syslog tests reuse it on MSG.
func checkHitFields(t *testing.T, line []byte) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("line is not JSON: %v: %q", err, line)
	}
	want := map[string]any{
		"@timestamp":         "2026-11-23T08:30:00.123000000Z",
		"client.ip":          "192.0.2.7",
		"client.port":        float64(53124),
		"network.transport":  "udp",
		"network.protocol":   "dns",
		"network.type":       "ipv4",
		"dns.id":             float64(4660),
		"dns.question.name":  "chat.deepseek.com",
		"dns.question.type":  "AAAA",
		"dns.question.class": "IN",
		"dns.response_code":  "NXDOMAIN",
		"rule.name":          "deepseek.com",
		"rule.ruleset":       "builtin:deepseek",
		"rule.id":            "builtin:deepseek:14",
		"event.action":       "nxdomain",
		"event.kind":         "event",
		"event.dataset":      "dijk.hits",
		"observer.hostname":  "dijk-1",
		"observer.version":   "1.2.3",
		"observer.product":   "dijk",
		"ecs.version":        ecsVersion,
		"dijk.list":          "builtin:deepseek",
		"dijk.entry":         "deepseek.com",
		"dijk.match":         "suffix",
		"dijk.line":          float64(14),
		"dijk.kind":          "block",
		"dijk.group":         "default",
		"dijk.list_version":  "0123456789ab",
	}
	for path, w := range want {
		if got := lookup(doc, path); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	if got := lookup(doc, "event.type"); got == nil || got.([]any)[0] != "denied" {
		t.Errorf("event.type = %v, want [denied]", got)
	}
}

func lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, key := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		// "@timestamp" has no dots; keys never contain dots otherwise.
		cur = m[key]
	}
	return cur
}

func TestIPv6ClientAndExactMatch(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	e.Client = netip.MustParseAddrPort("[2001:db8::7]:5353")
	e.Exact = true
	l.Log(e)
	l.Close()
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if got := lookup(doc, "client.ip"); got != "2001:db8::7" {
		t.Errorf("client.ip = %v", got)
	}
	if got := lookup(doc, "network.type"); got != "ipv6" {
		t.Errorf("network.type = %v, want ipv6", got)
	}
	if got := lookup(doc, "dijk.match"); got != "exact" {
		t.Errorf("dijk.match = %v, want exact", got)
	}
}

func TestBypassKindAndGroup(t *testing.T) {
	var buf bytes.Buffer
	l, err := New(Options{Writer: &buf})
	if err != nil {
		t.Fatal(err)
	}
	e := sampleEvent()
	e.Kind, e.Group = KindBypass, "ministry"
	l.Log(e)
	l.Close()
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{"dijk.kind": "bypass", "event.kind": "alert", "dijk.group": "ministry"} {
		if got := lookup(doc, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
}

// blockingWriter holds every write until released, like a stalled disk or pipe.
type blockingWriter struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestSlowSinkDropsInsteadOfBlocking(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	l, err := New(Options{Writer: w, Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	// More lines than the queue plus the 64 KiB write buffer can hold.
	const sent = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sent {
			l.Log(sampleEvent())
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Log blocked on a stalled sink")
	}
	dropped := testutil.ToFloat64(l.dropped)
	if dropped == 0 {
		t.Error("dropped = 0, want the overflow counted")
	}
	close(w.release)
	l.Close()
	// The encoder may drop more after Log returned: a sink's queue is full.
	dropped = testutil.ToFloat64(l.dropped)
	written := testutil.ToFloat64(l.written)
	if written+dropped != sent {
		t.Errorf("written %v + dropped %v != sent %d", written, dropped, sent)
	}
	if lines := strings.Count(w.buf.String(), "\n"); float64(lines) != written {
		t.Errorf("sink has %d lines, counter says %v", lines, written)
	}
}

func BenchmarkLog(b *testing.B) {
	l, err := New(Options{Writer: nil, Queue: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := sampleEvent()
	b.ReportAllocs()
	for b.Loop() {
		l.Log(e)
	}
}
