package hitlog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"
)

// referenceLine is what encoding/json writes for e's record: the format
// appendLine must keep, byte for byte.
func referenceLine(t testing.TB, l *Logger, e Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l.record(e)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lineLoggers returns a Logger for each dataset and client address mode.
func lineLoggers(t testing.TB) map[string]*Logger {
	t.Helper()
	key := []byte("0123456789abcdef0123456789abcdef")
	out := map[string]*Logger{}
	for name, opts := range map[string]Options{
		"hits full":        {Observer: "dns-1", Version: "1.2.3"},
		"hits truncate":    {ClientIP: ClientIPTruncate},
		"hits hash":        {ClientIP: ClientIPHash, ClientIPKey: key, Observer: "a\"b"},
		"queries full":     {Dataset: DatasetQueries, Version: "dev"},
		"queries truncate": {Dataset: DatasetQueries, ClientIP: ClientIPTruncate},
		"queries hash":     {Dataset: DatasetQueries, ClientIP: ClientIPHash, ClientIPKey: key},
	} {
		l, _, err := newLogger(opts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = l
	}
	return out
}

func TestLineMatchesJSON(t *testing.T) {
	events := map[string]func(e *Event){
		"sample":            func(*Event) {},
		"bypass alert":      func(e *Event) { e.Kind, e.Group = KindBypass, "ministry" },
		"exact, via":        func(e *Event) { e.Exact, e.Via = true, "cdn.example.net" },
		"no line":           func(e *Event) { e.Line = 0 },
		"not loaded":        func(e *Event) { e.ListLoaded = time.Time{} },
		"ipv6 with zone":    func(e *Event) { e.Client = netip.MustParseAddrPort("[fe80::1%eth0]:5353") },
		"ipv4-mapped":       func(e *Event) { e.Client = netip.MustParseAddrPort("[::ffff:192.0.2.9]:53") },
		"no client":         func(e *Event) { e.Client = netip.AddrPort{} },
		"root name":         func(e *Event) { e.Name = "." },
		"escaped name":      func(e *Event) { e.Name = `a\"b\\c\032d.example.` },
		"control bytes":     func(e *Event) { e.Name = "a\x00b\x1fc\x7f\td\n\r\b\f.example." },
		"invalid utf-8":     func(e *Event) { e.Name, e.Source = "bad\xff\xfe.example.", "/lists/\xe2:" },
		"unicode":           func(e *Event) { e.Name, e.Rule = "bücher.example.", "line\u2028sep\u2029" },
		"html":              func(e *Event) { e.Source = "<a href='x'>&amp;</a>" },
		"forwarded":         func(e *Event) { *e = allowedEvent(OutcomeForwarded, "NOERROR") },
		"error":             func(e *Event) { *e = allowedEvent(OutcomeError, "SERVFAIL") },
		"refused":           func(e *Event) { *e = allowedEvent(OutcomeRefused, "REFUSED") },
		"query log blocked": func(e *Event) { e.Outcome = OutcomeBlocked },
		"negative line":     func(e *Event) { e.Line = -3 },
		"zero time":         func(e *Event) { e.Time = time.Time{} },
		"far future":        func(e *Event) { e.Time = time.Date(12000, 1, 2, 3, 4, 5, 6, time.UTC) },
		"whole second":      func(e *Event) { e.Time = time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC) },
		"one nanosecond":    func(e *Event) { e.Time = time.Date(2026, 1, 1, 0, 0, 0, 1, time.FixedZone("X", -9*3600)) },
	}
	for lname, l := range lineLoggers(t) {
		for ename, mutate := range events {
			e := sampleEvent()
			mutate(&e)
			want := referenceLine(t, l, e)
			if got := l.appendLine(nil, e); !bytes.Equal(got, want) {
				t.Errorf("%s, %s:\n got %s\nwant %s", lname, ename, got, want)
			}
		}
	}
}

// FuzzLine holds appendLine to encoding/json's output for any strings and
// numbers an event can carry.
func FuzzLine(f *testing.F) {
	f.Add("chat.deepseek.com.", "A", "deepseek.com", "builtin:deepseek", "", "", 14, int64(1764926400123456789), uint16(53124), byte(0))
	f.Add(`a\"b.`, "TYPE65534", "x\x00", "/p\xff", "v\u2028", "g<>", -1, int64(-62135596800), uint16(0), byte(0xff))
	loggers := lineLoggers(f)
	f.Fuzz(func(t *testing.T, name, qtype, rule, source, via, group string, line int, nanos int64, port uint16, flags byte) {
		e := sampleEvent()
		e.Name, e.Type, e.Rule, e.Source, e.Via, e.Group, e.Line = name, qtype, rule, source, via, group, line
		e.Time = time.Unix(0, nanos)
		e.Exact = flags&1 != 0
		if flags&2 != 0 {
			e.Kind = KindBypass
		}
		if flags&4 != 0 {
			e.Client = netip.AddrPortFrom(netip.MustParseAddr("2001:db8::7"), port)
		} else {
			e.Client = netip.AddrPortFrom(e.Client.Addr(), port)
		}
		if flags&8 != 0 {
			e.ListLoaded = time.Time{}
		}
		e.Outcome = []string{OutcomeForwarded, OutcomeCached, OutcomeBlocked, OutcomeRefused, OutcomeError}[int(flags>>4)%5]
		for lname, l := range loggers {
			want := referenceLine(t, l, e)
			if got := l.appendLine(nil, e); !bytes.Equal(got, want) {
				t.Fatalf("%s:\n got %s\nwant %s", lname, got, want)
			}
		}
	})
}

func BenchmarkAppendLine(b *testing.B) {
	l, _, err := newLogger(Options{Observer: "dns-1", Version: "1.2.3"})
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEvent()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.appendLine(buf[:0], e)
	}
}

// BenchmarkReferenceLine is the encoding/json path appendLine replaced, for
// comparison.
func BenchmarkReferenceLine(b *testing.B) {
	l, _, err := newLogger(Options{Observer: "dns-1", Version: "1.2.3"})
	if err != nil {
		b.Fatal(err)
	}
	e := sampleEvent()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := enc.Encode(l.record(e)); err != nil {
			b.Fatal(err)
		}
	}
}
