package report

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// hit is one fixture line's variable part.
type hit struct {
	ts, ip, name   string
	list, ruleset  string
	group          string
	omitGroup      bool
	omitIP, omitTS bool
}

// jsonString quotes s as JSON.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// line renders h in hitlog's layout.
func (h hit) line() string {
	var b strings.Builder
	b.WriteString("{")
	if !h.omitTS {
		fmt.Fprintf(&b, `"@timestamp":%s,`, jsonString(h.ts))
	}
	b.WriteString(`"ecs":{"version":"8.11.0"},"event":{"kind":"event","category":["network"],"type":["denied"],"action":"nxdomain","dataset":"dijk.hits","module":"dijk"},`)
	if !h.omitIP {
		fmt.Fprintf(&b, `"client":{"ip":%s,"port":53124},`, jsonString(h.ip))
	}
	fmt.Fprintf(&b, `"network":{"transport":"udp","protocol":"dns","type":"ipv4"},"observer":{"product":"dijk","type":"dns","hostname":"dns-1","version":"1.0.0"},"dns":{"id":4660,"type":"query","question":{"name":%s,"type":"AAAA","class":"IN"},"response_code":"NXDOMAIN"},`, jsonString(h.name))
	fmt.Fprintf(&b, `"rule":{"name":"deepseek.com","ruleset":%s,"id":"x:1"},"dijk":{"list":%s,"entry":"deepseek.com","match":"suffix","line":1`, jsonString(h.ruleset), jsonString(h.list))
	if !h.omitGroup {
		fmt.Fprintf(&b, `,"group":%s`, jsonString(h.group))
	}
	b.WriteString("}}")
	return b.String()
}

func ds(ts, ip, name string) hit {
	return hit{ts: ts, ip: ip, name: name, list: "builtin:deepseek", ruleset: "builtin:deepseek", omitGroup: true}
}

func (h hit) inGroup(g string) hit { h.group, h.omitGroup = g, false; return h }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func lines(ls ...string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// fixture writes a rotated, partly compressed hit log and returns the file
// names, oldest first. The gzip file is deliberately not named .gz.
func fixture(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	gz := filepath.Join(dir, "hits.jsonl.2")
	writeFile(t, gz, gzipBytes(t, lines(
		ds("2026-11-22T22:10:00.000000000Z", "192.0.2.7", "chat.deepseek.com").line(),
		ds("2026-11-22T23:50:00.000000000Z", "192.0.2.10", "deepseek.com").inGroup("staff").line(),
	)))
	rotated := filepath.Join(dir, "hits.jsonl.1")
	v6 := hit{ts: "2026-11-23T01:30:00.000000000Z", ip: "2001:db8::1", name: "chat.deepseek.com", list: "/etc/dijk/extra.txt", ruleset: "/etc/dijk/extra.txt", group: "staff"}
	writeFile(t, rotated, lines(
		ds("2026-11-23T01:05:00.000000000Z", "192.0.2.7", "api.deepseek.com").line(),
		`{"@timestamp":"2026-11-23T01:06:00.000000000Z","client":{"ip":`,
		v6.line(),
		"not json at all",
	))
	current := filepath.Join(dir, "hits.jsonl")
	custom := hit{ts: "2026-11-23T03:59:59.999000000Z", ip: "192.0.2.9", name: "cdn.deepseek.com", ruleset: "custom", group: ""}
	noIP := ds("2026-11-23T03:10:00.000000000Z", "", "chat.deepseek.com")
	noIP.omitIP = true
	last := ds("2026-11-23T04:00:00.000000000Z", "192.0.2.7", "chat.deepseek.com").line()
	writeFile(t, current, []byte(strings.Join([]string{
		ds("2026-11-23T03:00:00.000000000Z", "192.0.2.7", "chat.deepseek.com").inGroup("staff").line(),
		noIP.line(),
		custom.line(),
		"",
		last, // no newline at the end of the file
	}, "\r\n")))
	return []string{gz, rotated, current}
}

// summary is a Result in a form that is easy to compare and print.
type summary struct {
	Read, Skipped, Filtered, Hits int64
	Devices                       []string // ip hits first last names +more
	Names                         []string // name hits devices first last
	Hours                         []string // hour hits
}

func hhmm(t time.Time) string { return t.UTC().Format("01-02T15:04:05.000") }

func summarise(r *Result) summary {
	s := summary{Read: r.LinesRead, Skipped: r.LinesSkipped, Filtered: r.LinesFiltered, Hits: r.Hits}
	for _, d := range r.Devices {
		var names []string
		for _, n := range d.Names {
			names = append(names, fmt.Sprintf("%s:%d", n.Name, n.Hits))
		}
		s.Devices = append(s.Devices, fmt.Sprintf("%s %d %s %s %s +%d", d.IP, d.Hits, hhmm(d.First), hhmm(d.Last), strings.Join(names, ","), d.More))
	}
	for _, n := range r.TopNames {
		s.Names = append(s.Names, fmt.Sprintf("%s %d %d %s %s", n.Name, n.Hits, n.Devices, hhmm(n.First), hhmm(n.Last)))
	}
	for _, h := range r.PerHour {
		s.Hours = append(s.Hours, fmt.Sprintf("%s %d", h.Hour.UTC().Format("01-02T15"), h.Hits))
	}
	return s
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReport(t *testing.T) {
	files := fixture(t)
	now := mustTime(t, "2026-11-23T04:00:00Z")
	threeHours, err := ParseTime("3h", now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want summary
	}{
		{
			name: "everything",
			want: summary{
				Read: 10, Skipped: 3, Filtered: 0, Hits: 7,
				Devices: []string{
					"192.0.2.7 4 11-22T22:10:00.000 11-23T04:00:00.000 chat.deepseek.com:3,api.deepseek.com:1 +0",
					// 9 before 10: addresses sort numerically.
					"192.0.2.9 1 11-23T03:59:59.999 11-23T03:59:59.999 cdn.deepseek.com:1 +0",
					"192.0.2.10 1 11-22T23:50:00.000 11-22T23:50:00.000 deepseek.com:1 +0",
					"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0",
				},
				Names: []string{
					"chat.deepseek.com 4 2 11-22T22:10:00.000 11-23T04:00:00.000",
					"api.deepseek.com 1 1 11-23T01:05:00.000 11-23T01:05:00.000",
					"cdn.deepseek.com 1 1 11-23T03:59:59.999 11-23T03:59:59.999",
					"deepseek.com 1 1 11-22T23:50:00.000 11-22T23:50:00.000",
				},
				Hours: []string{"11-22T22 1", "11-22T23 1", "11-23T00 0", "11-23T01 2", "11-23T02 0", "11-23T03 2", "11-23T04 1"},
			},
		},
		{
			name: "window includes since and excludes until",
			opts: Options{Since: mustTime(t, "2026-11-23T00:00:00Z"), Until: mustTime(t, "2026-11-23T04:00:00Z")},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 3, Hits: 4,
				Devices: []string{
					"192.0.2.7 2 11-23T01:05:00.000 11-23T03:00:00.000 api.deepseek.com:1,chat.deepseek.com:1 +0",
					"192.0.2.9 1 11-23T03:59:59.999 11-23T03:59:59.999 cdn.deepseek.com:1 +0",
					"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0",
				},
				Names: []string{
					"chat.deepseek.com 2 2 11-23T01:30:00.000 11-23T03:00:00.000",
					"api.deepseek.com 1 1 11-23T01:05:00.000 11-23T01:05:00.000",
					"cdn.deepseek.com 1 1 11-23T03:59:59.999 11-23T03:59:59.999",
				},
				Hours: []string{"11-23T01 2", "11-23T02 0", "11-23T03 2"},
			},
		},
		{
			name: "since as a duration before now",
			opts: Options{Since: threeHours, Top: 1},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 2, Hits: 5,
				Devices: []string{
					"192.0.2.7 3 11-23T01:05:00.000 11-23T04:00:00.000 chat.deepseek.com:2,api.deepseek.com:1 +0",
					"192.0.2.9 1 11-23T03:59:59.999 11-23T03:59:59.999 cdn.deepseek.com:1 +0",
					"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0",
				},
				Names: []string{"chat.deepseek.com 3 2 11-23T01:30:00.000 11-23T04:00:00.000"},
				Hours: []string{"11-23T01 2", "11-23T02 0", "11-23T03 2", "11-23T04 1"},
			},
		},
		{
			name: "group",
			opts: Options{Group: "staff"},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 4, Hits: 3,
				Devices: []string{
					"192.0.2.7 1 11-23T03:00:00.000 11-23T03:00:00.000 chat.deepseek.com:1 +0",
					"192.0.2.10 1 11-22T23:50:00.000 11-22T23:50:00.000 deepseek.com:1 +0",
					"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0",
				},
				Names: []string{
					"chat.deepseek.com 2 2 11-23T01:30:00.000 11-23T03:00:00.000",
					"deepseek.com 1 1 11-22T23:50:00.000 11-22T23:50:00.000",
				},
				Hours: []string{"11-22T23 1", "11-23T00 0", "11-23T01 1", "11-23T02 0", "11-23T03 1"},
			},
		},
		{
			name: "default group matches missing and empty group",
			opts: Options{Group: "default", NamesPerDevice: 1},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 3, Hits: 4,
				Devices: []string{
					"192.0.2.7 3 11-22T22:10:00.000 11-23T04:00:00.000 chat.deepseek.com:2 +1",
					"192.0.2.9 1 11-23T03:59:59.999 11-23T03:59:59.999 cdn.deepseek.com:1 +0",
				},
				Names: []string{
					"chat.deepseek.com 2 1 11-22T22:10:00.000 11-23T04:00:00.000",
					"api.deepseek.com 1 1 11-23T01:05:00.000 11-23T01:05:00.000",
					"cdn.deepseek.com 1 1 11-23T03:59:59.999 11-23T03:59:59.999",
				},
				Hours: []string{"11-22T22 1", "11-22T23 0", "11-23T00 0", "11-23T01 1", "11-23T02 0", "11-23T03 1", "11-23T04 1"},
			},
		},
		{
			name: "list matches dijk.list",
			opts: Options{List: "/etc/dijk/extra.txt"},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 6, Hits: 1,
				Devices: []string{"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0"},
				Names:   []string{"chat.deepseek.com 1 1 11-23T01:30:00.000 11-23T01:30:00.000"},
				Hours:   []string{"11-23T01 1"},
			},
		},
		{
			name: "list matches rule.ruleset",
			opts: Options{List: "custom"},
			want: summary{
				Read: 10, Skipped: 3, Filtered: 6, Hits: 1,
				Devices: []string{"192.0.2.9 1 11-23T03:59:59.999 11-23T03:59:59.999 cdn.deepseek.com:1 +0"},
				Names:   []string{"cdn.deepseek.com 1 1 11-23T03:59:59.999 11-23T03:59:59.999"},
				Hours:   []string{"11-23T03 1"},
			},
		},
		{
			name: "no match",
			opts: Options{List: "builtin:deepseek", Group: "students"},
			want: summary{Read: 10, Skipped: 3, Filtered: 7},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.opts)
			for _, f := range files {
				if err := a.ReadFile(f); err != nil {
					t.Fatalf("ReadFile(%s): %v", f, err)
				}
			}
			if got := summarise(a.Result()); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestReportWarnings(t *testing.T) {
	files := fixture(t)
	tests := []struct {
		name string
		max  int
		want []string
	}{
		{name: "default shows all three", want: []string{
			"hits.jsonl.1:2: skipped: invalid JSON: the line ends early",
			"hits.jsonl.1:4: skipped: invalid JSON at byte 2",
			"hits.jsonl:2: skipped: no client.ip",
		}},
		{name: "capped", max: 1, want: []string{"hits.jsonl.1:2: skipped: invalid JSON: the line ends early"}},
		{name: "none", max: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			a := New(Options{Warnings: &w, MaxWarnings: tt.max})
			for _, f := range files {
				if err := a.ReadFile(f); err != nil {
					t.Fatal(err)
				}
			}
			var got []string
			for l := range strings.Lines(w.String()) {
				got = append(got, strings.TrimPrefix(strings.TrimSpace(l), filepath.Dir(files[0])+string(filepath.Separator)))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("warnings\n%q\nwant\n%q", got, tt.want)
			}
			if n := a.Result().LinesSkipped; n != 3 {
				t.Errorf("LinesSkipped = %d, want 3 however many are shown", n)
			}
		})
	}
}

func TestReportSkipReasons(t *testing.T) {
	good := ds("2026-11-23T08:00:00.000000000Z", "192.0.2.7", "chat.deepseek.com")
	noName := good
	noName.name = ""
	noTS := good
	noTS.omitTS = true
	badTS := good
	badTS.ts = "2026-11-23 08:00"
	tests := []struct {
		name string
		line string
		want string // the warning after "x:1: skipped: "; empty: a hit
	}{
		{name: "good", line: good.line()},
		{name: "no name", line: noName.line(), want: "no dns.question.name"},
		{name: "no timestamp", line: noTS.line(), want: "no @timestamp"},
		{name: "bad timestamp", line: badTS.line(), want: `bad @timestamp "2026-11-23 08:00"`},
		{name: "wrong type", line: `{"@timestamp":"2026-11-23T08:00:00Z","client":{"ip":7}}`, want: "client.ip is not a string"},
		{name: "array", line: `[]`, want: "not a JSON object"},
		{name: "null", line: `null`, want: "no @timestamp"},
		{name: "deep", line: strings.Repeat("[", maxDepth+1), want: "JSON nested too deeply"},
		{name: "too long", line: `{"a":"` + strings.Repeat("x", 2000) + `"}`, want: "longer than 1000 bytes"},
		{name: "unterminated", line: `{"a":"x`, want: "invalid JSON: the line ends early"},
		{name: "bad byte", line: `{"a":x}`, want: "invalid JSON at byte 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			max := 1000
			if tt.name == "deep" {
				max = 0 // the default, to fit the nesting
			}
			a := New(Options{Warnings: &w, MaxLineBytes: max})
			if err := a.Read("x", strings.NewReader(tt.line+"\n"+good.line()+"\n")); err != nil {
				t.Fatal(err)
			}
			r := a.Result()
			got := strings.TrimSpace(strings.TrimPrefix(w.String(), "x:1: skipped: "))
			if got != tt.want {
				t.Errorf("warning %q, want %q", w.String(), tt.want)
			}
			wantHits := int64(1)
			if tt.want == "" {
				wantHits = 2
			}
			if r.Hits != wantHits || r.LinesRead != 2 || r.LinesSkipped != 2-wantHits {
				t.Errorf("hits %d read %d skipped %d, want hits %d of 2", r.Hits, r.LinesRead, r.LinesSkipped, wantHits)
			}
		})
	}
}

// TestReportHitlogWriter reads lines from the real writer, so that a
// change to the hit-log schema breaks this test rather than the SOC's report.
func TestReportHitlogWriter(t *testing.T) {
	var buf bytes.Buffer
	l, err := hitlog.New(hitlog.Options{Writer: &buf, Observer: "dns-1", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	at := mustTime(t, "2026-11-23T08:30:00.123Z")
	for i, c := range []string{"192.0.2.7:5353", "[2001:db8::7]:5353", "192.0.2.7:5354"} {
		l.Log(hitlog.Event{
			Time: at.Add(time.Duration(i) * time.Minute), Client: netip.MustParseAddrPort(c), Transport: "udp",
			Name: "chat.deepseek.com.", Type: "AAAA", Class: "IN", Rule: "deepseek.com",
			Source: "builtin:deepseek", Line: 31, Action: "nxdomain", Rcode: "NXDOMAIN",
		})
	}
	l.Close()
	// The query log shares the layout; its lines must not count as hits.
	var queries bytes.Buffer
	ql, err := hitlog.New(hitlog.Options{Writer: &queries, Dataset: hitlog.DatasetQueries})
	if err != nil {
		t.Fatal(err)
	}
	ql.Log(hitlog.Event{Time: at, Client: netip.MustParseAddrPort("192.0.2.8:53"), Transport: "udp", Name: "example.org.", Type: "A", Class: "IN", Rcode: "NOERROR", Outcome: hitlog.OutcomeForwarded})
	ql.Close()
	a := New(Options{List: "builtin:deepseek", Group: "default", Kind: "block"})
	if err := a.Read("hits", &buf); err != nil {
		t.Fatal(err)
	}
	if err := a.Read("queries", &queries); err != nil {
		t.Fatal(err)
	}
	got := summarise(a.Result())
	want := summary{
		Read: 4, Filtered: 1, Hits: 3,
		Devices: []string{
			"192.0.2.7 2 11-23T08:30:00.123 11-23T08:32:00.123 chat.deepseek.com:2 +0",
			"2001:db8::7 1 11-23T08:31:00.123 11-23T08:31:00.123 chat.deepseek.com:1 +0",
		},
		Names: []string{"chat.deepseek.com 3 2 11-23T08:30:00.123 11-23T08:32:00.123"},
		Hours: []string{"11-23T08 3"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
}

func TestReportCaps(t *testing.T) {
	var in []string
	// Three devices, three names, in two hours far apart.
	for _, c := range []struct{ ts, ip, name string }{
		{"2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com"},
		{"2026-11-23T08:01:00Z", "10.0.0.1", "b.deepseek.com"},
		{"2026-11-23T08:02:00Z", "10.0.0.2", "a.deepseek.com"},
		{"2026-11-23T08:03:00Z", "10.0.0.3", "c.deepseek.com"},
		{"2026-11-25T08:04:00Z", "10.0.0.2", "c.deepseek.com"},
	} {
		in = append(in, ds(c.ts, c.ip, c.name).line())
	}
	tests := []struct {
		name      string
		opts      Options
		want      summary
		other     [3]int64 // device, name, hour
		noteParts []string
	}{
		{
			name: "no cap hit",
			want: summary{Read: 5, Hits: 5,
				Devices: []string{
					"10.0.0.1 2 11-23T08:00:00.000 11-23T08:01:00.000 a.deepseek.com:1,b.deepseek.com:1 +0",
					"10.0.0.2 2 11-23T08:02:00.000 11-25T08:04:00.000 a.deepseek.com:1,c.deepseek.com:1 +0",
					"10.0.0.3 1 11-23T08:03:00.000 11-23T08:03:00.000 c.deepseek.com:1 +0",
				},
				Names: []string{
					"a.deepseek.com 2 2 11-23T08:00:00.000 11-23T08:02:00.000",
					"c.deepseek.com 2 2 11-23T08:03:00.000 11-25T08:04:00.000",
					"b.deepseek.com 1 1 11-23T08:01:00.000 11-23T08:01:00.000",
				},
			},
		},
		{
			name: "device cap",
			opts: Options{MaxDevices: 2},
			want: summary{Read: 5, Hits: 5,
				Devices: []string{
					"10.0.0.1 2 11-23T08:00:00.000 11-23T08:01:00.000 a.deepseek.com:1,b.deepseek.com:1 +0",
					"10.0.0.2 2 11-23T08:02:00.000 11-25T08:04:00.000 a.deepseek.com:1,c.deepseek.com:1 +0",
				},
				// Name counts stay exact; their device counts miss 10.0.0.3.
				Names: []string{
					"a.deepseek.com 2 2 11-23T08:00:00.000 11-23T08:02:00.000",
					"c.deepseek.com 2 1 11-23T08:03:00.000 11-25T08:04:00.000",
					"b.deepseek.com 1 1 11-23T08:01:00.000 11-23T08:01:00.000",
				},
			},
			other:     [3]int64{1, 0, 0},
			noteParts: []string{"device cap of 2 reached: 1 hits"},
		},
		{
			name: "name cap",
			opts: Options{MaxNames: 1},
			want: summary{Read: 5, Hits: 5,
				Devices: []string{
					"10.0.0.1 2 11-23T08:00:00.000 11-23T08:01:00.000 a.deepseek.com:1 +0",
					"10.0.0.2 2 11-23T08:02:00.000 11-25T08:04:00.000 a.deepseek.com:1 +0",
					"10.0.0.3 1 11-23T08:03:00.000 11-23T08:03:00.000  +0",
				},
				Names: []string{"a.deepseek.com 2 2 11-23T08:00:00.000 11-23T08:02:00.000"},
			},
			other:     [3]int64{0, 3, 0},
			noteParts: []string{"name cap of 1 reached: 3 hits"},
		},
		{
			name: "pair cap",
			opts: Options{MaxPairs: 3},
			want: summary{Read: 5, Hits: 5,
				Devices: []string{
					"10.0.0.1 2 11-23T08:00:00.000 11-23T08:01:00.000 a.deepseek.com:1,b.deepseek.com:1 +0",
					"10.0.0.2 2 11-23T08:02:00.000 11-25T08:04:00.000 a.deepseek.com:1 +0",
					"10.0.0.3 1 11-23T08:03:00.000 11-23T08:03:00.000  +0",
				},
				Names: []string{
					"a.deepseek.com 2 2 11-23T08:00:00.000 11-23T08:02:00.000",
					"c.deepseek.com 2 0 11-23T08:03:00.000 11-25T08:04:00.000",
					"b.deepseek.com 1 1 11-23T08:01:00.000 11-23T08:01:00.000",
				},
			},
			noteParts: []string{"pair cap of 3 reached"},
		},
		{
			name:      "hour cap",
			opts:      Options{MaxHours: 1},
			other:     [3]int64{0, 0, 1},
			noteParts: []string{"hour cap of 1 reached: 1 hits"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.opts)
			if err := a.Read("caps", strings.NewReader(strings.Join(in, "\n"))); err != nil {
				t.Fatal(err)
			}
			r := a.Result()
			got := summarise(r)
			if tt.want.Read != 0 {
				got.Hours = nil
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("got\n%s\nwant\n%s", dump(got), dump(tt.want))
				}
			}
			if o := [3]int64{r.OtherDeviceHits, r.OtherNameHits, r.OtherHourHits}; o != tt.other {
				t.Errorf("other hits (device, name, hour) = %v, want %v", o, tt.other)
			}
			notes := strings.Join(r.Notes, "\n")
			for _, p := range tt.noteParts {
				if !strings.Contains(notes, p) {
					t.Errorf("notes %q lack %q", notes, p)
				}
			}
			if len(tt.noteParts) == 0 && len(r.Notes) > 0 {
				t.Errorf("unexpected notes %q", r.Notes)
			}
		})
	}
}

func TestReportPerHourSpan(t *testing.T) {
	in := strings.Join([]string{
		ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line(),
		ds("2026-11-23T11:59:59Z", "10.0.0.1", "a.deepseek.com").line(),
	}, "\n")
	tests := []struct {
		name     string
		maxHours int
		want     []string
	}{
		{name: "zero hours filled", maxHours: 4, want: []string{"11-23T08 1", "11-23T09 0", "11-23T10 0", "11-23T11 1"}},
		{name: "span over the cap lists only hours with hits", maxHours: 3, want: []string{"11-23T08 1", "11-23T11 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{MaxHours: tt.maxHours})
			if err := a.Read("x", strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			if got := summarise(a.Result()).Hours; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hours %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReportInputs(t *testing.T) {
	dir := t.TempDir()
	good := lines(
		ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line(),
		ds("2026-11-23T08:01:00Z", "10.0.0.2", "a.deepseek.com").line(),
		ds("2026-11-23T08:02:00Z", "10.0.0.3", "a.deepseek.com").line(),
	)
	gz := gzipBytes(t, good)
	// Two gzip members, as when compressed logs are concatenated.
	twoMembers := append(append([]byte{}, gz...), gzipBytes(t, lines(ds("2026-11-23T08:03:00Z", "10.0.0.4", "a.deepseek.com").line()))...)
	path := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, data)
		return p
	}
	tests := []struct {
		name     string
		file     string
		stdin    io.Reader
		wantHits int64
		wantErr  string // substring
	}{
		{name: "plain named .gz", file: path("plain.gz", good), wantHits: 3},
		{name: "gzip without .gz", file: path("hits.jsonl.3", gz), wantHits: 3},
		{name: "concatenated gzip members", file: path("two.gz", twoMembers), wantHits: 4},
		{name: "empty file", file: path("empty", nil)},
		{name: "one byte", file: path("one", []byte("{")), wantHits: 0},
		{name: "stdin", file: "-", stdin: bytes.NewReader(gz), wantHits: 3},
		{name: "no stdin", file: "-", wantErr: "stdin: no standard input"},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: "hit log: open " + filepath.Join(dir, "nope") + ": "},
		{name: "directory", file: dir, wantErr: "is a directory"},
		{name: "truncated gzip keeps what was read", file: path("cut.gz", gz[:len(gz)-12]), wantHits: 3, wantErr: "cut.gz:4: read: unexpected EOF"},
		{name: "corrupt gzip header", file: path("bad.gz", []byte("\x1f\x8bxxxxxxxxxxxxxxxx")), wantErr: "bad.gz: gzip: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{Stdin: tt.stdin})
			err := a.ReadFile(tt.file)
			r := a.Result()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				if len(r.InputErrors) != 0 || len(r.Notes) != 0 {
					t.Errorf("errors %q notes %q, want none", r.InputErrors, r.Notes)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadFile error %v, want one containing %q", err, tt.wantErr)
				}
				if len(r.InputErrors) != 1 || r.InputErrors[0] != err.Error() {
					t.Errorf("InputErrors %q, want [%q]", r.InputErrors, err)
				}
				if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "could not be read completely") {
					t.Errorf("notes %q, want the incomplete-input note", r.Notes)
				}
			}
			if r.Hits != tt.wantHits {
				t.Errorf("hits %d, want %d", r.Hits, tt.wantHits)
			}
		})
	}
}

// TestReportReuse reads a gzip file after a plain one and vice versa, as
// the readers are reused across files.
func TestReportReuse(t *testing.T) {
	plain := lines(ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line())
	gz := gzipBytes(t, lines(ds("2026-11-23T09:00:00Z", "10.0.0.2", "b.deepseek.com").line()))
	a := New(Options{})
	for i, in := range [][]byte{gz, plain, gz, plain, gz} {
		if err := a.Read(fmt.Sprint(i), bytes.NewReader(in)); err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
	}
	want := []string{
		"10.0.0.2 3 11-23T09:00:00.000 11-23T09:00:00.000 b.deepseek.com:3 +0",
		"10.0.0.1 2 11-23T08:00:00.000 11-23T08:00:00.000 a.deepseek.com:2 +0",
	}
	if got := summarise(a.Result()).Devices; !reflect.DeepEqual(got, want) {
		t.Errorf("devices %q, want %q", got, want)
	}
}

// TestReportOverlongLines checks that a line longer than the buffer is
// skipped as one line and the next line is read intact.
func TestReportOverlongLines(t *testing.T) {
	good := ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line()
	huge := strings.Repeat("x", 10_000)
	tests := []struct {
		name        string
		in          string
		wantSkipped int64
		wantHits    int64
		wantWarn    string
	}{
		{name: "long line in the middle", in: good + "\n" + huge + "\n" + good + "\n", wantSkipped: 1, wantHits: 2, wantWarn: "x:2: skipped: longer than 1000 bytes\n"},
		{name: "long line at the end without newline", in: good + "\n" + huge, wantSkipped: 1, wantHits: 1, wantWarn: "x:2: skipped: longer than 1000 bytes\n"},
		{name: "just fits", in: good + strings.Repeat(" ", 1000-len(good)) + "\n", wantHits: 1},
		{name: "one byte too long", in: good + strings.Repeat(" ", 1001-len(good)) + "\n", wantSkipped: 1, wantWarn: "x:1: skipped: longer than 1000 bytes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w bytes.Buffer
			a := New(Options{MaxLineBytes: 1000, Warnings: &w})
			if err := a.Read("x", strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			r := a.Result()
			if r.LinesSkipped != tt.wantSkipped || r.Hits != tt.wantHits {
				t.Errorf("skipped %d hits %d, want %d and %d", r.LinesSkipped, r.Hits, tt.wantSkipped, tt.wantHits)
			}
			if w.String() != tt.wantWarn {
				t.Errorf("warnings %q, want %q", w.String(), tt.wantWarn)
			}
		})
	}
}

// fakeClock advances by step on every call.
type fakeClock struct {
	now  time.Time
	step time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.now = c.now.Add(c.step)
	return c.now
}

func TestReportProgress(t *testing.T) {
	one := ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line() + "\n"
	in := strings.Repeat(one, 10*1024) // progress is considered every 1024 lines
	tests := []struct {
		name      string
		step      time.Duration
		wantDraws int
	}{
		{name: "slow clock draws once", step: time.Millisecond, wantDraws: 1},
		{name: "every check is due", step: time.Second, wantDraws: 10},
		{name: "every third check is due", step: 100 * time.Millisecond, wantDraws: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p bytes.Buffer
			clock := &fakeClock{now: time.Unix(0, 0), step: tt.step}
			a := New(Options{Progress: &p, ProgressEvery: 250 * time.Millisecond, Now: clock.Now})
			if err := a.Read("hits", strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			out := p.String()
			draws := strings.Count(out, "lines,")
			if draws != tt.wantDraws {
				t.Errorf("%d progress draws, want %d: %q", draws, tt.wantDraws, out)
			}
			if !strings.Contains(out, "\r\x1b[Khits: 1024 lines, ") {
				t.Errorf("first draw missing: %q", out)
			}
			if !strings.HasSuffix(out, "\r\x1b[K") || strings.Count(out, "\r\x1b[K") != draws+1 {
				t.Errorf("progress not cleared exactly once at the end: %q", out)
			}
		})
	}
}

// TestReportProgressAndWarnings checks that a warning first clears the
// progress line, so the two do not interleave on the terminal.
func TestReportProgressAndWarnings(t *testing.T) {
	one := ds("2026-11-23T08:00:00Z", "10.0.0.1", "a.deepseek.com").line() + "\n"
	var term bytes.Buffer
	clock := &fakeClock{now: time.Unix(0, 0), step: time.Second}
	a := New(Options{Progress: &term, Warnings: &term, Now: clock.Now})
	in := strings.Repeat(one, 1024) + "garbage\n" + one
	if err := a.Read("hits", strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	want := regexp.MustCompile(`^\r\x1b\[Khits: 1024 lines, [0-9]+\.[0-9] MB read\r\x1b\[Khits:1025: skipped: invalid JSON at byte 1\n$`)
	if got := term.String(); !want.MatchString(got) {
		t.Errorf("terminal output\n%q\nwant match for\n%s", got, want)
	}
}

// TestReportLineAllocs checks the steady state: a line from a known device
// asking for a known name allocates nothing, filters included.
func TestReportLineAllocs(t *testing.T) {
	staff := []byte(ds("2026-11-23T08:00:00.000000000Z", "192.0.2.7", "chat.deepseek.com").inGroup("staff").line())
	noGroup := []byte(ds("2026-11-23T08:00:00.000000000Z", "192.0.2.7", "chat.deepseek.com").line())
	tests := []struct {
		name string
		opts Options
		line []byte
	}{
		{name: "no filters", line: staff},
		{name: "window and list", opts: Options{Since: mustTime(t, "2026-11-01T00:00:00Z"), Until: mustTime(t, "2026-12-01T00:00:00Z"), List: "builtin:deepseek"}, line: staff},
		{name: "default group", opts: Options{Group: "default"}, line: noGroup},
		{name: "filtered out", opts: Options{Group: "students"}, line: staff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(tt.opts)
			a.line("x", 1, tt.line) // first sight interns the strings
			if n := testing.AllocsPerRun(1000, func() { a.line("x", 1, tt.line) }); n != 0 {
				t.Errorf("%v allocations per line, want 0", n)
			}
			if r := a.Result(); r.Hits+r.LinesFiltered != 1001+1 {
				t.Errorf("hits %d + filtered %d, want 1002 lines", r.Hits, r.LinesFiltered)
			}
		})
	}
}

func TestReportKindAndDataset(t *testing.T) {
	const head = `{"@timestamp":"2026-11-23T08:00:00Z","client":{"ip":"10.0.0.1"},"dns":{"question":{"name":"a.example"}}`
	in := strings.Join([]string{
		head + `,"event":{"dataset":"dijk.hits"},"dijk":{"kind":"block"}}`,
		head + `,"event":{"dataset":"dijk.hits"},"dijk":{"kind":"bypass"}}`,
		head + `,"dijk":{}}`, // written before kinds and datasets: a block
		head + `,"event":{"dataset":"dijk.queries"},"dijk":{"kind":"block"}}`,
		head + `,"event":{"dataset":"dijk.queries"}}`,
	}, "\n")
	tests := []struct {
		name         string
		kind         string
		wantHits     int64
		wantFiltered int64
	}{
		{name: "all kinds", wantHits: 3, wantFiltered: 2},
		{name: "block", kind: "block", wantHits: 2, wantFiltered: 3},
		{name: "bypass", kind: "bypass", wantHits: 1, wantFiltered: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{Kind: tt.kind})
			if err := a.Read("x", strings.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			r := a.Result()
			if r.Hits != tt.wantHits || r.LinesFiltered != tt.wantFiltered || r.LinesSkipped != 0 {
				t.Errorf("hits %d filtered %d skipped %d, want %d, %d, 0", r.Hits, r.LinesFiltered, r.LinesSkipped, tt.wantHits, tt.wantFiltered)
			}
			want := []string{"2 lines of another dataset than dijk.hits (such as the query log) were ignored"}
			if !reflect.DeepEqual(r.Notes, want) {
				t.Errorf("notes %q, want %q", r.Notes, want)
			}
		})
	}
}
