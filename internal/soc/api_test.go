package soc

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// serve runs one request through h and returns the recorded response.
func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func newTestHandler(t *testing.T, r *Recorder, opts HandlerOptions) http.Handler {
	t.Helper()
	h, err := r.Handler(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAPIParameters(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	h := newTestHandler(t, r, HandlerOptions{})
	tests := []struct {
		name      string
		target    string
		wantCode  int
		wantParam string
	}{
		{"hits no parameters", "/api/v1/hits", 200, ""},
		{"hits all parameters", "/api/v1/hits?since=2025-06-01T08:00:00Z&client=192.0.2.1&list=builtin:deepseek&kind=bypass&limit=1000", 200, ""},
		{"hits since duration", "/api/v1/hits?since=15m", 200, ""},
		{"hits since with fraction and offset", "/api/v1/hits?since=2025-06-01T10:00:00.5%2B02:00", 200, ""},
		{"hits ipv6 client", "/api/v1/hits?client=2001:db8::1", 200, ""},
		{"hits empty value means absent", "/api/v1/hits?limit=&client=", 200, ""},
		{"hits bad since", "/api/v1/hits?since=yesterday", 400, "since"},
		{"hits since in days", "/api/v1/hits?since=7d", 400, "since"},
		{"hits negative since", "/api/v1/hits?since=-5m", 400, "since"},
		{"hits since date only", "/api/v1/hits?since=2025-06-01", 400, "since"},
		{"hits bad client", "/api/v1/hits?client=not-an-ip", 400, "client"},
		{"hits client with prefix", "/api/v1/hits?client=192.0.2.0/24", 400, "client"},
		{"hits bad kind", "/api/v1/hits?kind=allow", 400, "kind"},
		{"hits limit zero", "/api/v1/hits?limit=0", 400, "limit"},
		{"hits limit negative", "/api/v1/hits?limit=-1", 400, "limit"},
		{"hits limit above max", "/api/v1/hits?limit=1001", 400, "limit"},
		{"hits limit not a number", "/api/v1/hits?limit=ten", 400, "limit"},
		{"hits unknown parameter", "/api/v1/hits?clinet=192.0.2.1", 400, "clinet"},
		{"hits repeated parameter", "/api/v1/hits?client=192.0.2.1&client=192.0.2.2", 400, "client"},
		{"stats no parameters", "/api/v1/stats", 200, ""},
		{"stats all parameters", "/api/v1/stats?devices=10000&sort=first_seen&names=1000", 200, ""},
		{"stats sort count", "/api/v1/stats?sort=count", 200, ""},
		{"stats bad sort", "/api/v1/stats?sort=name", 400, "sort"},
		{"stats devices above max", "/api/v1/stats?devices=10001", 400, "devices"},
		{"stats names zero", "/api/v1/stats?names=0", 400, "names"},
		{"stats unknown parameter", "/api/v1/stats?limit=5", 400, "limit"},
		{"console ignores parameters", "/?utm_source=mail", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, h, http.MethodGet, tt.target, nil)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			if tt.wantCode != 400 {
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, w.Body)
			}
			if e.Parameter != tt.wantParam || !strings.Contains(e.Error, tt.wantParam) {
				t.Errorf("error = %+v, want it to name parameter %q", e, tt.wantParam)
			}
		})
	}
}

func TestAPIRoutes(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	h := newTestHandler(t, r, HandlerOptions{})
	tests := []struct {
		name     string
		method   string
		target   string
		wantCode int
		wantType string
	}{
		{"console", "GET", "/", 200, "text/html; charset=utf-8"},
		{"console head", "HEAD", "/", 200, "text/html; charset=utf-8"},
		{"stylesheet", "GET", "/console.css", 200, "text/css; charset=utf-8"},
		{"hits", "GET", "/api/v1/hits", 200, "application/json"},
		{"stats", "GET", "/api/v1/stats", 200, "application/json"},
		{"post is not allowed", "POST", "/api/v1/hits", 405, ""},
		{"delete is not allowed", "DELETE", "/", 405, ""},
		{"unknown path", "GET", "/api/v1/devices", 404, ""},
		{"no directory listing", "GET", "/assets/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, h, tt.method, tt.target, nil)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantCode)
			}
			if tt.wantType != "" && w.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", w.Header().Get("Content-Type"), tt.wantType)
			}
			for _, k := range []string{"Cache-Control", "X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy"} {
				if w.Header().Get(k) == "" {
					t.Errorf("missing header %s", k)
				}
			}
		})
	}
}

func TestHitsAPI(t *testing.T) {
	r, clock, _ := newTestRecorder(t, Options{})
	h := newTestHandler(t, r, HandlerOptions{})
	r.Log(hit("192.0.2.77", "chat.deepseek.com.", t0()))
	r.Log(with(hit("192.0.2.78", "dns.google", t0().Add(time.Hour)), func(e *hitlog.Event) {
		e.Kind, e.Source, e.Rule, e.Exact, e.Line, e.Group, e.ListVersion = hitlog.KindBypass, "builtin:doh-bypass", "dns.google", true, 3, "schools", "v7"
	}))
	clock.Set(t0().Add(90 * time.Minute))

	tests := []struct {
		name      string
		target    string
		wantIPs   []string
		wantMore  bool
		wantLimit int
	}{
		{"newest first", "/api/v1/hits", []string{"192.0.2.78", "192.0.2.77"}, false, 100},
		{"since duration uses the clock", "/api/v1/hits?since=1h", []string{"192.0.2.78"}, false, 100},
		{"since time", "/api/v1/hits?since=2025-06-02T09:30:00Z", []string{"192.0.2.78", "192.0.2.77"}, false, 100},
		{"client", "/api/v1/hits?client=192.0.2.77", []string{"192.0.2.77"}, false, 100},
		{"list", "/api/v1/hits?list=builtin:doh-bypass", []string{"192.0.2.78"}, false, 100},
		{"limit", "/api/v1/hits?limit=1", []string{"192.0.2.78"}, true, 1},
		{"nothing matches is an empty list", "/api/v1/hits?client=198.51.100.1", []string{}, false, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, h, "GET", tt.target, nil)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var resp struct {
				Hits []struct {
					Client struct{ IP string } `json:"client"`
				} `json:"hits"`
				Count int  `json:"count"`
				Limit int  `json:"limit"`
				More  bool `json:"more"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Hits == nil {
				t.Fatalf("hits is null, want a list: %s", w.Body)
			}
			var ips []string
			for _, h := range resp.Hits {
				ips = append(ips, h.Client.IP)
			}
			if strings.Join(ips, ",") != strings.Join(tt.wantIPs, ",") {
				t.Errorf("clients = %v, want %v", ips, tt.wantIPs)
			}
			if resp.Count != len(tt.wantIPs) || resp.More != tt.wantMore || resp.Limit != tt.wantLimit {
				t.Errorf("count/more/limit = %d/%v/%d, want %d/%v/%d", resp.Count, resp.More, resp.Limit, len(tt.wantIPs), tt.wantMore, tt.wantLimit)
			}
		})
	}

	// The field layout is the hit log's: check every field of one hit.
	w := serve(t, h, "GET", "/api/v1/hits?limit=2", nil)
	var raw struct {
		Hits []map[string]any `json:"hits"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	fields := []struct {
		name string
		hit  int
		path string
		want any
	}{
		{"timestamp", 1, "@timestamp", "2025-06-02T09:30:00Z"},
		{"client ip", 1, "client.ip", "192.0.2.77"},
		{"client port", 1, "client.port", 53124.0},
		{"transport", 1, "network.transport", "udp"},
		{"network type", 1, "network.type", "ipv4"},
		{"query id", 1, "dns.id", 4242.0},
		{"name without trailing dot", 1, "dns.question.name", "chat.deepseek.com"},
		{"type", 1, "dns.question.type", "A"},
		{"class", 1, "dns.question.class", "IN"},
		{"rcode", 1, "dns.response_code", "NXDOMAIN"},
		{"rule name", 1, "rule.name", "deepseek.com"},
		{"ruleset", 1, "rule.ruleset", "builtin:deepseek"},
		{"rule id", 1, "rule.id", "builtin:deepseek:12"},
		{"event kind", 1, "event.kind", "event"},
		{"action", 1, "event.action", "nxdomain"},
		{"dijk kind", 1, "dijk.kind", "block"},
		{"default group", 1, "dijk.group", "default"},
		{"list", 1, "dijk.list", "builtin:deepseek"},
		{"entry", 1, "dijk.entry", "deepseek.com"},
		{"match", 1, "dijk.match", "suffix"},
		{"line", 1, "dijk.line", 12.0},
		{"bypass is an alert", 0, "event.kind", "alert"},
		{"bypass kind", 0, "dijk.kind", "bypass"},
		{"exact match", 0, "dijk.match", "exact"},
		{"group", 0, "dijk.group", "schools"},
		{"list version", 0, "dijk.list_version", "v7"},
	}
	for _, f := range fields {
		t.Run("field "+f.name, func(t *testing.T) {
			var v any = raw.Hits[f.hit]
			for _, k := range strings.Split(f.path, ".") {
				m, ok := v.(map[string]any)
				if !ok {
					t.Fatalf("%s: %v is not an object", f.path, v)
				}
				v = m[k]
			}
			if v != f.want {
				t.Errorf("%s = %v (%T), want %v", f.path, v, v, f.want)
			}
		})
	}
}

func TestStatsAPI(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	r.Log(hit("192.0.2.77", "chat.deepseek.com", t0()))
	r.Log(hit("192.0.2.77", "chat.deepseek.com", t0().Add(time.Minute)))
	updated := time.Date(2025, 6, 2, 11, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	tests := []struct {
		name      string
		status    func() []ListStatus
		wantLists string
	}{
		{"no list status", nil, `[]`},
		{"list status returns nil", func() []ListStatus { return nil }, `[]`},
		{"list status in utc", func() []ListStatus {
			return []ListStatus{{Source: "builtin:deepseek", Entries: 120, Updated: updated}, {Source: "/etc/dijk/x.txt", Failures: 2, Error: "open: no such file"}}
		}, `[{"source":"builtin:deepseek","entries":120,"updated":"2025-06-02T09:00:00Z","failures":0},{"source":"/etc/dijk/x.txt","entries":0,"failures":2,"error":"open: no such file"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTestHandler(t, r, HandlerOptions{ListStatus: tt.status})
			w := serve(t, h, "GET", "/api/v1/stats", nil)
			if w.Code != 200 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var resp map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if got := string(resp["lists"]); got != tt.wantLists {
				t.Errorf("lists = %s, want %s", got, tt.wantLists)
			}
			want := map[string]string{
				"totals":    `{"hits":2,"bypass":0,"first_hit":"2025-06-02T09:30:00Z","last_hit":"2025-06-02T09:31:00Z","devices_seen":1,"devices_tracked":1,"devices_evicted":0,"names_tracked":1,"recent_hits":2}`,
				"devices":   `[{"client":{"ip":"192.0.2.77"},"first_seen":"2025-06-02T09:30:00Z","last_seen":"2025-06-02T09:31:00Z","count":2,"bypass":0,"names":["chat.deepseek.com"],"names_truncated":false}]`,
				"top_names": `[{"dns":{"question":{"name":"chat.deepseek.com"}},"count":2}]`,
				"per_list":  `[{"dijk":{"list":"builtin:deepseek"},"count":2}]`,
				"started":   `"2025-06-02T09:30:00Z"`,
			}
			for k, v := range want {
				if got := string(resp[k]); got != v {
					t.Errorf("%s = %s, want %s", k, got, v)
				}
			}
		})
	}
}

func TestStatsAPIEmpty(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	w := serve(t, newTestHandler(t, r, HandlerOptions{}), "GET", "/api/v1/stats", nil)
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	// Empty tables are [], never null, so clients can iterate without checks;
	// first_hit and last_hit are left out until there is one.
	for k, want := range map[string]string{
		"devices": "[]", "top_names": "[]", "per_list": "[]", "lists": "[]",
		"totals": `{"hits":0,"bypass":0,"devices_seen":0,"devices_tracked":0,"devices_evicted":0,"names_tracked":0,"recent_hits":0}`,
	} {
		if got := string(resp[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
}

func TestTokenAuth(t *testing.T) {
	const token = "s3cret-token-for-the-soc"
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	r, _, _ := newTestRecorder(t, Options{})
	r.Log(hit("192.0.2.77", "chat.deepseek.com", t0()))
	open := newTestHandler(t, r, HandlerOptions{})
	guarded := newTestHandler(t, r, HandlerOptions{Token: token})
	tests := []struct {
		name     string
		h        http.Handler
		target   string
		auth     string
		wantCode int
	}{
		{"no token configured, none sent", open, "/api/v1/stats", "", 200},
		{"no token configured, one sent", open, "/api/v1/hits", "Bearer whatever", 200},
		{"missing on api", guarded, "/api/v1/hits", "", 401},
		{"missing on stats", guarded, "/api/v1/stats", "", 401},
		{"missing on console", guarded, "/", "", 401},
		{"missing on stylesheet", guarded, "/console.css", "", 401},
		{"missing on unknown path", guarded, "/nope", "", 401},
		{"wrong token", guarded, "/api/v1/hits", "Bearer wrong", 401},
		{"token prefix only", guarded, "/api/v1/hits", "Bearer " + token[:10], 401},
		{"token with suffix", guarded, "/api/v1/hits", "Bearer " + token + "x", 401},
		{"empty bearer", guarded, "/api/v1/hits", "Bearer ", 401},
		{"scheme only", guarded, "/api/v1/hits", "Bearer", 401},
		{"token without scheme", guarded, "/api/v1/hits", token, 401},
		{"unknown scheme", guarded, "/api/v1/hits", "Token " + token, 401},
		{"bearer", guarded, "/api/v1/hits", "Bearer " + token, 200},
		{"bearer scheme is case-insensitive", guarded, "/api/v1/stats", "bearer " + token, 200},
		{"bearer on console", guarded, "/", "Bearer " + token, 200},
		{"basic from a browser", guarded, "/", basic("soc", token), 200},
		{"basic without user", guarded, "/", basic("", token), 200},
		{"basic wrong password", guarded, "/", basic("soc", "wrong"), 401},
		{"basic token as user", guarded, "/", basic(token, ""), 401},
		{"basic not base64", guarded, "/", "Basic !!!", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := http.Header{}
			if tt.auth != "" {
				header.Set("Authorization", tt.auth)
			}
			w := serve(t, tt.h, "GET", tt.target, header)
			if w.Code != tt.wantCode {
				t.Fatalf("status = %d, want %d", w.Code, tt.wantCode)
			}
			if tt.wantCode != 401 {
				return
			}
			challenges := strings.Join(w.Header().Values("WWW-Authenticate"), " | ")
			if !strings.Contains(challenges, "Bearer") || !strings.Contains(challenges, "Basic") {
				t.Errorf("WWW-Authenticate = %q, want Basic and Bearer challenges", challenges)
			}
			if strings.Contains(w.Body.String(), "192.0.2.77") {
				t.Error("401 body leaks recorded data")
			}
		})
	}
}

// TestHandlerOverHTTP checks the handler behind a real listener on loopback,
// as the lead mounts it.
func TestHandlerOverHTTP(t *testing.T) {
	r, _, _ := newTestRecorder(t, Options{})
	r.Log(hit("192.0.2.77", "chat.deepseek.com", t0()))
	srv := httptest.NewServer(newTestHandler(t, r, HandlerOptions{Token: "tok"}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name     string
		token    string
		wantCode int
	}{
		{"without token", "", 401},
		{"with token", "tok", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", srv.URL+"/api/v1/hits?client=192.0.2.77", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantCode, body)
			}
			if tt.wantCode == 200 && !strings.Contains(string(body), `"ip":"192.0.2.77"`) {
				t.Errorf("body lacks the hit: %s", body)
			}
		})
	}
}
