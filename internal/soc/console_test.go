package soc

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// parseHTML parses a console page.
func parseHTML(t *testing.T, body []byte) *html.Node {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse console: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements below n for which match is true, in document order.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && match(d) {
			out = append(out, d)
		}
	}
	return out
}

func byID(n *html.Node, id string) *html.Node {
	if found := findAll(n, func(e *html.Node) bool { return attr(e, "id") == id }); len(found) > 0 {
		return found[0]
	}
	return nil
}

func byTag(tag string) func(*html.Node) bool {
	return func(e *html.Node) bool { return e.Data == tag }
}

func hasClass(tag, class string) func(*html.Node) bool {
	return func(e *html.Node) bool {
		return e.Data == tag && slices.Contains(strings.Fields(attr(e, "class")), class)
	}
}

// text is the text content of n, whitespace collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// tableRows returns the text of each body cell of the table with the id.
func tableRows(t *testing.T, doc *html.Node, id string) [][]string {
	t.Helper()
	table := byID(doc, id)
	if table == nil {
		t.Fatalf("no table #%s", id)
	}
	var rows [][]string
	for _, tbody := range findAll(table, byTag("tbody")) {
		for _, tr := range findAll(tbody, byTag("tr")) {
			var cells []string
			for _, td := range findAll(tr, byTag("td")) {
				cells = append(cells, text(td))
			}
			rows = append(rows, cells)
		}
	}
	return rows
}

func TestConsole(t *testing.T) {
	r, clock, _ := newTestRecorder(t, Options{})
	r.Log(hit("192.0.2.77", "chat.deepseek.com.", t0().Add(-2*time.Hour)))
	r.Log(hit("192.0.2.77", "api.deepseek.com", t0().Add(-5*time.Minute)))
	r.Log(with(hit("2001:db8::9", "dns.google", t0().Add(-time.Minute)), func(e *hitlog.Event) {
		e.Kind, e.Source, e.Rule = hitlog.KindBypass, "builtin:doh-bypass", "dns.google"
	}))
	clock.Set(t0())
	h := newTestHandler(t, r, HandlerOptions{
		Observer: "dns1.ministry.example",
		ListStatus: func() []ListStatus {
			return []ListStatus{
				{Source: "builtin:deepseek", Entries: 1234, Updated: t0().Add(-3 * time.Hour)},
				{Source: "/etc/dijk/extra.txt", Failures: 2, Error: "open /etc/dijk/extra.txt: permission denied"},
			}
		},
	})
	w := serve(t, h, "GET", "/", nil)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	doc := parseHTML(t, w.Body.Bytes())

	t.Run("devices table", func(t *testing.T) {
		rows := tableRows(t, doc, "devices")
		want := [][]string{
			{"2001:db8::9", "2025-06-02 09:29:00", "2025-06-02 09:29:00 1 min ago", "1 1 bypass", "dns.google"},
			{"192.0.2.77", "2025-06-02 07:30:00", "2025-06-02 09:25:00 5 min ago", "2", "chat.deepseek.com, api.deepseek.com"},
		}
		if len(rows) != len(want) {
			t.Fatalf("devices rows = %q, want %q", rows, want)
		}
		for i := range want {
			if !slices.Equal(rows[i], want[i]) {
				t.Errorf("devices row %d = %q, want %q", i, rows[i], want[i])
			}
		}
	})
	t.Run("latest hits", func(t *testing.T) {
		rows := tableRows(t, doc, "hits")
		if len(rows) != 3 {
			t.Fatalf("hits rows = %d, want 3", len(rows))
		}
		want := []string{"2025-06-02 09:29:00", "2001:db8::9", "dns.google bypass", "A", "builtin:doh-bypass", "dns.google", "NXDOMAIN"}
		if !slices.Equal(rows[0], want) {
			t.Errorf("newest hit row = %q, want %q", rows[0], want)
		}
		if rows[2][2] != "chat.deepseek.com" {
			t.Errorf("oldest hit name = %q, want the trailing dot trimmed", rows[2][2])
		}
	})
	t.Run("totals", func(t *testing.T) {
		for id, want := range map[string]string{"total-hits": "3", "total-devices": "2", "total-bypass": "1"} {
			if n := byID(doc, id); n == nil || text(n) != want {
				t.Errorf("#%s = %v, want %q", id, n, want)
			}
		}
	})
	t.Run("chart", func(t *testing.T) {
		bars := findAll(doc, hasClass("rect", "bar"))
		if len(bars) != hourWindow {
			t.Fatalf("chart has %d bars, want %d", len(bars), hourWindow)
		}
		// Two hits in the current hour (09:25, 09:29), one two hours back.
		for _, c := range []struct {
			i    int
			want string
		}{{47, "09:00–10:00: 2 blocked"}, {45, "07:00–08:00: 1 blocked"}, {46, "08:00–09:00: 0 blocked"}} {
			if got := text(bars[c.i]); !strings.HasSuffix(got, c.want) {
				t.Errorf("bar %d title = %q, want it to end %q", c.i, got, c.want)
			}
		}
		if attr(bars[46], "height") != "0.0" || attr(bars[47], "height") == "0.0" {
			t.Errorf("bar heights: empty hour %q, busy hour %q", attr(bars[46], "height"), attr(bars[47], "height"))
		}
	})
	t.Run("list status", func(t *testing.T) {
		rows := tableRows(t, doc, "lists")
		want := [][]string{
			{"builtin:deepseek", "1,234", "2025-06-02 06:30:00 3 h ago", "0", "—"},
			{"/etc/dijk/extra.txt", "0", "never", "2", "open /etc/dijk/extra.txt: permission denied"},
		}
		for i := range want {
			if i >= len(rows) || !slices.Equal(rows[i], want[i]) {
				t.Errorf("lists row %d = %q, want %q", i, rows, want[i])
			}
		}
	})
	t.Run("header and refresh", func(t *testing.T) {
		if got := text(findAll(doc, byTag("title"))[0]); got != "Dijk SOC console — dns1.ministry.example" {
			t.Errorf("title = %q", got)
		}
		metas := findAll(doc, func(e *html.Node) bool { return e.Data == "meta" && attr(e, "http-equiv") == "refresh" })
		if len(metas) != 1 || attr(metas[0], "content") != "30" {
			t.Errorf("refresh meta = %v, want content 30", metas)
		}
	})
	t.Run("nothing external", func(t *testing.T) {
		for _, e := range findAll(doc, func(e *html.Node) bool { return attr(e, "src") != "" || attr(e, "href") != "" }) {
			for _, ref := range []string{attr(e, "src"), attr(e, "href")} {
				if strings.Contains(ref, "//") {
					t.Errorf("<%s> loads %q; the console must work offline", e.Data, ref)
				}
			}
		}
		if s := findAll(doc, byTag("script")); len(s) != 0 {
			t.Errorf("console has %d scripts, want none", len(s))
		}
	})
}

func TestConsoleEmpty(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	w := serve(t, newTestHandler(t, r, HandlerOptions{Refresh: -1}), "GET", "/", nil)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	doc := parseHTML(t, w.Body.Bytes())
	if byID(doc, "devices") != nil || byID(doc, "hits") != nil {
		t.Error("empty recorder renders device or hit tables")
	}
	for _, want := range []string{"No device has been blocked since start.", "No blocked queries yet.", "List status is not available."} {
		if !strings.Contains(text(doc), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := len(findAll(doc, hasClass("rect", "bar"))); n != hourWindow {
		t.Errorf("empty chart has %d bars, want %d", n, hourWindow)
	}
	if m := findAll(doc, func(e *html.Node) bool { return attr(e, "http-equiv") == "refresh" }); len(m) != 0 {
		t.Error("refresh is off but the page has a refresh meta")
	}
}

func TestConsoleEscapes(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	const evil = `<script>alert("x")</script>`
	r.Log(with(hit("192.0.2.77", `a"><img src=x onerror=alert(1)>.deepseek.com`, t0()), func(e *hitlog.Event) {
		e.Source, e.Rule = evil, `"'><svg onload=alert(2)>`
	}))
	h := newTestHandler(t, r, HandlerOptions{
		Observer:   evil,
		ListStatus: func() []ListStatus { return []ListStatus{{Source: evil, Error: evil}} },
	})
	w := serve(t, h, "GET", "/", nil)
	doc := parseHTML(t, w.Body.Bytes())
	if s := findAll(doc, byTag("script")); len(s) != 0 {
		t.Errorf("injected %d script elements", len(s))
	}
	if s := findAll(doc, byTag("img")); len(s) != 0 {
		t.Errorf("injected %d img elements", len(s))
	}
	for _, e := range findAll(doc, func(*html.Node) bool { return true }) {
		for _, a := range e.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s> has event handler attribute %s", e.Data, a.Key)
			}
		}
	}
	// The hostile text is still shown, as text.
	if rows := tableRows(t, doc, "devices"); len(rows) != 1 || !strings.Contains(rows[0][4], `onerror=alert(1)>.deepseek.com`) {
		t.Errorf("devices rows = %q, want the name shown as text", rows)
	}
}

func TestChartScale(t *testing.T) {
	tests := []struct {
		name      string
		counts    map[int]uint64
		wantGrid  []string
		wantPeakH string // height of the tallest bar
	}{
		{"empty", nil, []string{"0", "1"}, "0.0"},
		{"single hit still shows", map[int]uint64{47: 1}, []string{"0", "1"}, "180.0"},
		{"rounds up to a nice top", map[int]uint64{3: 7, 40: 3}, []string{"0", "10", "5"}, "126.0"},
		{"five has no half line", map[int]uint64{0: 5}, []string{"0", "5"}, "180.0"},
		{"large counts", map[int]uint64{10: 123456}, []string{"0", "200,000", "100,000"}, "111.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hours := make([]HourCount, hourWindow)
			peak, peakAt := uint64(0), 0
			for i := range hours {
				hours[i] = HourCount{Start: t0().Truncate(time.Hour).Add(time.Duration(i-47) * time.Hour), Count: tt.counts[i]}
				if tt.counts[i] > peak {
					peak, peakAt = tt.counts[i], i
				}
			}
			c := newChart(hours, time.UTC)
			var grid []string
			for _, g := range c.Grid {
				grid = append(grid, g.Label)
			}
			if !slices.Equal(grid, tt.wantGrid) {
				t.Errorf("grid = %v, want %v", grid, tt.wantGrid)
			}
			if got := c.Bars[peakAt].H; got != tt.wantPeakH {
				t.Errorf("peak bar height = %s, want %s", got, tt.wantPeakH)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"zero", thousands(0), "0"},
		{"small", thousands(999), "999"},
		{"thousand", thousands(1000), "1,000"},
		{"million", thousands(uint64(1234567)), "1,234,567"},
		{"negative", thousands(-1234), "-1,234"},
		{"just now", ago(30 * time.Second), "just now"},
		{"minutes", ago(5*time.Minute + 59*time.Second), "5 min ago"},
		{"hours", ago(47 * time.Hour), "47 h ago"},
		{"days", ago(72 * time.Hour), "3 d ago"},
		{"future", ago(-time.Second), "in the future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
