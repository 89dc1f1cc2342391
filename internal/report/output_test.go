package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// outputFixture is the fixture report with every section populated, a
// device beyond the cap (for a note) and a device with "+1 more".
func outputFixture(t *testing.T) *Result {
	t.Helper()
	a := New(Options{
		Since: mustTime(t, "2026-11-22T00:00:00Z"), Until: mustTime(t, "2026-11-24T00:00:00Z"),
		MaxDevices: 3, NamesPerDevice: 1, Top: 3,
	})
	for _, f := range fixture(t) {
		if err := a.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	return a.Result()
}

const deviceCapNote = "device cap of 3 reached: 1 hits from further devices count in the totals and in hits per name, but not in the device list or devices per name (raise --max-devices)"

func TestWriteTable(t *testing.T) {
	want := `Window:  from 2026-11-22T00:00:00Z to before 2026-11-24T00:00:00Z
Lines:   10 read, 3 skipped (malformed), 0 filtered out, 7 hits

Devices: 3
CLIENT IP    FIRST SEEN            LAST SEEN             HITS  NAMES
192.0.2.7    2026-11-22T22:10:00Z  2026-11-23T04:00:00Z  4     chat.deepseek.com +1 more
192.0.2.10   2026-11-22T23:50:00Z  2026-11-22T23:50:00Z  1     deepseek.com
2001:db8::1  2026-11-23T01:30:00Z  2026-11-23T01:30:00Z  1     chat.deepseek.com

Top names: 3 of 4
NAME               HITS  DEVICES  FIRST SEEN            LAST SEEN
chat.deepseek.com  4     2        2026-11-22T22:10:00Z  2026-11-23T04:00:00Z
api.deepseek.com   1     1        2026-11-23T01:05:00Z  2026-11-23T01:05:00Z
cdn.deepseek.com   1     0        2026-11-23T03:59:59Z  2026-11-23T03:59:59Z

Hits per hour (UTC):
HOUR                  HITS
2026-11-22T22:00:00Z  1
2026-11-22T23:00:00Z  1
2026-11-23T00:00:00Z  0
2026-11-23T01:00:00Z  2
2026-11-23T02:00:00Z  0
2026-11-23T03:00:00Z  2
2026-11-23T04:00:00Z  1

Notes:
- ` + deviceCapNote + "\n"
	var buf bytes.Buffer
	if err := outputFixture(t).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTableHeaderVariants(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want []string // lines that must appear
	}{
		{name: "all time, no filters", r: Result{}, want: []string{"Window:  all time", "Devices: 0", "Top names: 0 of 0"}},
		{name: "since only", r: Result{Since: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, want: []string{"Window:  from 2026-11-01T00:00:00Z"}},
		{name: "until only, in UTC", r: Result{Until: time.Date(2026, 11, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600))}, want: []string{"Window:  before 2026-11-01T00:00:00Z"}},
		{name: "filters", r: Result{Group: "default", List: "builtin:deepseek", Kind: "bypass"}, want: []string{"Filters: group default, list builtin:deepseek, kind bypass"}},
		{name: "input errors", r: Result{InputErrors: []string{"x.gz:3: read: unexpected EOF"}}, want: []string{"Notes:", "- input error: x.gz:3: read: unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.r.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(buf.String(), "\n")
			for _, w := range tt.want {
				found := false
				for _, l := range got {
					found = found || l == w
				}
				if !found {
					t.Errorf("no line %q in\n%s", w, buf.String())
				}
			}
		})
	}
}

// TestWriteHostileNames checks that query names, which clients choose,
// cannot break the table's columns or smuggle a formula into a spreadsheet.
func TestWriteHostileNames(t *testing.T) {
	tests := []struct {
		name      string
		query     string
		wantTable string // the name as the table shows it
		wantCSV   string
	}{
		{name: "tab", query: "a\tb.example", wantTable: `a\tb.example`, wantCSV: "a\tb.example"},
		{name: "newline and escape", query: "a\n\x1b[2Jb", wantTable: `a\n\x1b[2Jb`, wantCSV: "a\n\x1b[2Jb"},
		{name: "formula", query: "=cmd|' /C calc'!A0", wantTable: "=cmd|' /C calc'!A0", wantCSV: "'=cmd|' /C calc'!A0"},
		{name: "leading minus", query: "-x.example", wantTable: "-x.example", wantCSV: "'-x.example"},
		{name: "plain", query: "x.example", wantTable: "x.example", wantCSV: "x.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := New(Options{})
			if err := a.Read("x", strings.NewReader(ds("2026-11-23T08:00:00Z", "10.0.0.1", tt.query).line())); err != nil {
				t.Fatal(err)
			}
			r := a.Result()
			var tb bytes.Buffer
			if err := r.WriteTable(&tb); err != nil {
				t.Fatal(err)
			}
			wantRow := "10.0.0.1   2026-11-23T08:00:00Z  2026-11-23T08:00:00Z  1     " + tt.wantTable + "\n"
			if !strings.Contains(tb.String(), wantRow) {
				t.Errorf("table lacks row %q:\n%s", wantRow, tb.String())
			}
			var cb bytes.Buffer
			if err := r.WriteCSV(&cb); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&cb).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, row := range rows {
				if row[0] == "top_names" {
					got = append(got, row[1])
				}
				if row[0] == "devices" {
					got = append(got, row[6])
				}
			}
			if want := []string{tt.wantCSV, tt.wantCSV}; !reflect.DeepEqual(got, want) {
				t.Errorf("CSV names %q, want %q", got, want)
			}
		})
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := outputFixture(t).WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll() // also checks every row has 8 fields
	if err != nil {
		t.Fatalf("output is not one CSV document: %v", err)
	}
	want := [][]string{
		{"section", "key", "count", "devices", "first_seen", "last_seen", "names", "more"},
		{"summary", "lines_read", "10", "", "", "", "", ""},
		{"summary", "lines_skipped", "3", "", "", "", "", ""},
		{"summary", "lines_filtered", "0", "", "", "", "", ""},
		{"summary", "hits", "7", "", "", "", "", ""},
		{"summary", "other_device_hits", "1", "", "", "", "", ""},
		{"summary", "other_name_hits", "0", "", "", "", "", ""},
		{"summary", "window", "", "", "2026-11-22T00:00:00Z", "2026-11-24T00:00:00Z", "", ""},
		{"devices", "192.0.2.7", "4", "", "2026-11-22T22:10:00Z", "2026-11-23T04:00:00Z", "chat.deepseek.com", "1"},
		{"devices", "192.0.2.10", "1", "", "2026-11-22T23:50:00Z", "2026-11-22T23:50:00Z", "deepseek.com", "0"},
		{"devices", "2001:db8::1", "1", "", "2026-11-23T01:30:00Z", "2026-11-23T01:30:00Z", "chat.deepseek.com", "0"},
		{"top_names", "chat.deepseek.com", "4", "2", "2026-11-22T22:10:00Z", "2026-11-23T04:00:00Z", "", ""},
		{"top_names", "api.deepseek.com", "1", "1", "2026-11-23T01:05:00Z", "2026-11-23T01:05:00Z", "", ""},
		{"top_names", "cdn.deepseek.com", "1", "0", "2026-11-23T03:59:59Z", "2026-11-23T03:59:59Z", "", ""},
		{"per_hour", "2026-11-22T22:00:00Z", "1", "", "", "", "", ""},
		{"per_hour", "2026-11-22T23:00:00Z", "1", "", "", "", "", ""},
		{"per_hour", "2026-11-23T00:00:00Z", "0", "", "", "", "", ""},
		{"per_hour", "2026-11-23T01:00:00Z", "2", "", "", "", "", ""},
		{"per_hour", "2026-11-23T02:00:00Z", "0", "", "", "", "", ""},
		{"per_hour", "2026-11-23T03:00:00Z", "2", "", "", "", "", ""},
		{"per_hour", "2026-11-23T04:00:00Z", "1", "", "", "", "", ""},
		{"note", deviceCapNote, "", "", "", "", "", ""},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("CSV rows:\n%q\nwant:\n%q", rows, want)
	}
}

func TestWriteCSVFiltersAndNames(t *testing.T) {
	r := &Result{
		Group: "staff", List: "builtin:deepseek", Kind: "block",
		Devices: []Device{{IP: "10.0.0.1", Hits: 5, Names: []NameCount{{"a.example", 3}, {"b.example", 2}}, More: 4}},
	}
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, row := range rows {
		if row[0] == "filter" || row[0] == "devices" || (row[0] == "summary" && row[1] == "window") {
			got = append(got, row)
		}
	}
	want := [][]string{
		{"summary", "window", "", "", "", "", "", ""},
		{"filter", "group", "", "", "", "", "staff", ""},
		{"filter", "list", "", "", "", "", "builtin:deepseek", ""},
		{"filter", "kind", "", "", "", "", "block", ""},
		{"devices", "10.0.0.1", "5", "", "", "", "a.example b.example", "4"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
}

// jsonDoc is the JSON document as a consumer would declare it, kept apart
// from the writer's types so that a renamed field fails the test.
type jsonDoc struct {
	Window struct {
		Since *time.Time `json:"since"`
		Until *time.Time `json:"until"`
	} `json:"window"`
	Filters       map[string]string `json:"filters"`
	LinesRead     int64             `json:"lines_read"`
	LinesSkipped  int64             `json:"lines_skipped"`
	LinesFiltered int64             `json:"lines_filtered"`
	Hits          int64             `json:"hits"`
	Devices       []struct {
		IP        string    `json:"client_ip"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"`
		Count     int64     `json:"count"`
		Names     []struct {
			Name  string `json:"name"`
			Count int64  `json:"count"`
		} `json:"names"`
		More int `json:"names_more"`
	} `json:"devices"`
	TopNames []struct {
		Name      string    `json:"name"`
		Count     int64     `json:"count"`
		Devices   int       `json:"devices"`
		FirstSeen time.Time `json:"first_seen"`
		LastSeen  time.Time `json:"last_seen"`
	} `json:"top_names"`
	DistinctNames int `json:"distinct_names"`
	PerHour       []struct {
		Hour  time.Time `json:"hour"`
		Count int64     `json:"count"`
	} `json:"per_hour"`
	OtherDeviceHits int64    `json:"other_device_hits"`
	OtherNameHits   int64    `json:"other_name_hits"`
	OtherHourHits   int64    `json:"other_hour_hits"`
	Notes           []string `json:"notes"`
	InputErrors     []string `json:"input_errors"`
}

func decodeJSONReport(t *testing.T, r *Result) (jsonDoc, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	// Written piecewise, the document must still read as json.Indent
	// would lay it out.
	var compact, indented bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf.String())
	}
	if err := json.Indent(&indented, compact.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	if indented.String()+"\n" != buf.String() {
		t.Errorf("layout differs from json.Indent:\n%s\nwant\n%s", buf.String(), indented.String())
	}
	var doc jsonDoc
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("decode: %v\n%s", err, buf.String())
	}
	if dec.More() {
		t.Error("more than one JSON value")
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

func TestWriteJSON(t *testing.T) {
	doc, _ := decodeJSONReport(t, outputFixture(t))
	if doc.Window.Since == nil || !doc.Window.Since.Equal(mustTime(t, "2026-11-22T00:00:00Z")) ||
		doc.Window.Until == nil || !doc.Window.Until.Equal(mustTime(t, "2026-11-24T00:00:00Z")) {
		t.Errorf("window %v..%v", doc.Window.Since, doc.Window.Until)
	}
	if got := [4]int64{doc.LinesRead, doc.LinesSkipped, doc.LinesFiltered, doc.Hits}; got != [4]int64{10, 3, 0, 7} {
		t.Errorf("read, skipped, filtered, hits = %v", got)
	}
	if doc.OtherDeviceHits != 1 || doc.OtherNameHits != 0 || doc.OtherHourHits != 0 || doc.DistinctNames != 4 {
		t.Errorf("other %d %d %d distinct %d", doc.OtherDeviceHits, doc.OtherNameHits, doc.OtherHourHits, doc.DistinctNames)
	}
	var devices []string
	for _, d := range doc.Devices {
		var names []string
		for _, n := range d.Names {
			names = append(names, n.Name+":"+itoa(n.Count))
		}
		devices = append(devices, d.IP+" "+itoa(d.Count)+" "+hhmm(d.FirstSeen)+" "+hhmm(d.LastSeen)+" "+strings.Join(names, ",")+" +"+itoa(int64(d.More)))
	}
	wantDevices := []string{
		"192.0.2.7 4 11-22T22:10:00.000 11-23T04:00:00.000 chat.deepseek.com:3 +1",
		"192.0.2.10 1 11-22T23:50:00.000 11-22T23:50:00.000 deepseek.com:1 +0",
		"2001:db8::1 1 11-23T01:30:00.000 11-23T01:30:00.000 chat.deepseek.com:1 +0",
	}
	if !reflect.DeepEqual(devices, wantDevices) {
		t.Errorf("devices\n%q\nwant\n%q", devices, wantDevices)
	}
	var names []string
	for _, n := range doc.TopNames {
		names = append(names, n.Name+" "+itoa(n.Count)+" "+itoa(int64(n.Devices))+" "+hhmm(n.FirstSeen)+" "+hhmm(n.LastSeen))
	}
	wantNames := []string{
		"chat.deepseek.com 4 2 11-22T22:10:00.000 11-23T04:00:00.000",
		"api.deepseek.com 1 1 11-23T01:05:00.000 11-23T01:05:00.000",
		// JSON keeps full precision.
		"cdn.deepseek.com 1 0 11-23T03:59:59.999 11-23T03:59:59.999",
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("top names\n%q\nwant\n%q", names, wantNames)
	}
	var hours []string
	for _, h := range doc.PerHour {
		hours = append(hours, h.Hour.UTC().Format("01-02T15")+" "+itoa(h.Count))
	}
	wantHours := []string{"11-22T22 1", "11-22T23 1", "11-23T00 0", "11-23T01 2", "11-23T02 0", "11-23T03 2", "11-23T04 1"}
	if !reflect.DeepEqual(hours, wantHours) {
		t.Errorf("hours %q, want %q", hours, wantHours)
	}
	if !reflect.DeepEqual(doc.Notes, []string{deviceCapNote}) {
		t.Errorf("notes %q", doc.Notes)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWriteJSONEmpty(t *testing.T) {
	_, raw := decodeJSONReport(t, New(Options{}).Result())
	// Scripts iterate these; null would break them.
	for _, k := range []string{"devices", "top_names", "per_hour", "notes", "input_errors"} {
		if v, ok := raw[k].([]any); !ok || len(v) != 0 {
			t.Errorf("%s = %#v, want []", k, raw[k])
		}
	}
	w, ok := raw["window"].(map[string]any)
	if !ok || w["since"] != nil || w["until"] != nil {
		t.Errorf("window = %#v, want since and until null", raw["window"])
	}
	if _, ok := w["since"]; !ok {
		t.Error("window.since missing, want null")
	}
}

// failWriter fails every write, like a closed pipe.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteFormats(t *testing.T) {
	r := outputFixture(t)
	tests := []struct {
		name    string
		format  string
		fail    bool
		wantErr string
	}{
		{name: "table", format: "table"},
		{name: "csv", format: "csv"},
		{name: "json", format: "json"},
		{name: "unknown", format: "xml", wantErr: `unknown format "xml" (want table, csv, json)`},
		{name: "table write error", format: "table", fail: true, wantErr: "write report: broken pipe"},
		{name: "csv write error", format: "csv", fail: true, wantErr: "write CSV report: broken pipe"},
		{name: "json write error", format: "json", fail: true, wantErr: "write JSON report: broken pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			var err error
			if tt.fail {
				err = r.Write(failWriter{}, tt.format)
			} else {
				err = r.Write(&buf, tt.format)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || buf.Len() == 0 {
				t.Fatalf("error %v, %d bytes", err, buf.Len())
			}
		})
	}
}

func TestWriteJSONFilters(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want map[string]string
	}{
		{name: "none", want: map[string]string{}},
		{name: "all", r: Result{Group: "default", List: "builtin:deepseek", Kind: "bypass"},
			want: map[string]string{"group": "default", "list": "builtin:deepseek", "kind": "bypass"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, _ := decodeJSONReport(t, &tt.r)
			if !reflect.DeepEqual(doc.Filters, tt.want) {
				t.Errorf("filters %v, want %v", doc.Filters, tt.want)
			}
		})
	}
}
