package soc

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// ListStatus is the state of one block list, as the list manager reports it.
type ListStatus struct {
	Source   string    `json:"source"`
	Entries  int       `json:"entries"`
	Updated  time.Time `json:"updated,omitzero"` // last successful load
	Failures int       `json:"failures"`         // failed loads since start
	Error    string    `json:"error,omitempty"`  // the last failure, if the last load failed
}

// HandlerOptions configures the API and console handler.
type HandlerOptions struct {
	// Token, when set, is required on every request as
	// "Authorization: Bearer <token>". Browsers may send it as the password of
	// HTTP Basic auth instead (any user name), so the console stays usable.
	Token string
	// ListStatus reports the block lists for the console and /api/v1/stats;
	// nil shows none.
	ListStatus func() []ListStatus
	// Observer names this instance in the console header (e.g. the hostname).
	Observer string
	// Location is the console's time zone; nil means UTC. The API is always UTC.
	Location *time.Location
	// Refresh is the console's reload interval; zero means 30 s, negative off.
	Refresh time.Duration
	Logger  *slog.Logger
}

// Handler serves the API under /api/v1/ and the console at /. It serves GET
// (and HEAD) only; mount it at the root of the HTTP mux.
func (r *Recorder) Handler(opts HandlerOptions) (http.Handler, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Refresh == 0 {
		opts.Refresh = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := newConsole(r, opts)
	if err != nil {
		return nil, err
	}
	a := &api{rec: r, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/hits", a.hits)
	mux.HandleFunc("GET /api/v1/stats", a.stats)
	mux.HandleFunc("GET /{$}", c.page)
	mux.HandleFunc("GET /console.css", c.stylesheet)
	var h http.Handler = securityHeaders(mux)
	if opts.Token != "" {
		h = requireToken(opts.Token, h)
	}
	return h, nil
}

// securityHeaders keep client addresses out of caches and referrers, and
// lock the console to its own stylesheet.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy",
			"default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, req)
	})
}

// requireToken answers 401 unless the request carries token. Both sides are
// hashed first so the comparison takes the same time whatever the length.
func requireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		got, ok := credential(req.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			// Basic first: browsers only prompt for schemes they know.
			w.Header().Add("WWW-Authenticate", `Basic realm="Dijk SOC", charset="UTF-8"`)
			w.Header().Add("WWW-Authenticate", `Bearer realm="Dijk SOC"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong token"})
			return
		}
		next.ServeHTTP(w, req)
	})
}

// credential extracts the token from a Bearer or Basic Authorization header.
// Auth schemes are case-insensitive (RFC 9110 11.1).
func credential(header string) (string, bool) {
	scheme, value, ok := strings.Cut(header, " ")
	if !ok {
		return "", false
	}
	value = strings.TrimSpace(value)
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return value, value != ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			return "", false
		}
		_, pass, ok := strings.Cut(string(raw), ":")
		return pass, ok && pass != ""
	}
	return "", false
}

type api struct {
	rec  *Recorder
	opts HandlerOptions
}

// apiError is the body of every error response.
type apiError struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"`
}

// paramError is a bad query parameter, reported as 400.
type paramError struct {
	param, msg string
}

func (e *paramError) Error() string { return fmt.Sprintf("parameter %s: %s", e.param, e.msg) }

// params checks that the query has only known parameters, each at most once,
// so a typo such as "clinet=" is an error rather than an unfiltered answer.
func params(q url.Values, known ...string) error {
	for k, vs := range q {
		found := false
		for _, n := range known {
			if k == n {
				found = true
				break
			}
		}
		if !found {
			return &paramError{k, "unknown parameter; known: " + strings.Join(known, ", ")}
		}
		if len(vs) > 1 {
			return &paramError{k, "given more than once"}
		}
	}
	return nil
}

func intParam(q url.Values, name string, def, max int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, &paramError{name, fmt.Sprintf("%q is not a whole number from 1 to %d", v, max)}
	}
	return n, nil
}

// sinceParam accepts an RFC 3339 time or a Go duration back from now ("15m", "2h").
func sinceParam(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, &paramError{"since", fmt.Sprintf("%q is neither an RFC 3339 time (2025-06-01T08:00:00Z) nor a positive duration (15m, 24h)", v)}
	}
	return now.Add(-d), nil
}

func (a *api) hitQuery(q url.Values) (HitQuery, error) {
	if err := params(q, "since", "client", "list", "kind", "limit"); err != nil {
		return HitQuery{}, err
	}
	var hq HitQuery
	var err error
	if hq.Since, err = sinceParam(q.Get("since"), a.rec.now()); err != nil {
		return HitQuery{}, err
	}
	if v := q.Get("client"); v != "" {
		if hq.Client, err = netip.ParseAddr(v); err != nil {
			return HitQuery{}, &paramError{"client", fmt.Sprintf("%q is not an IP address", v)}
		}
	}
	hq.List = q.Get("list")
	switch hq.Kind = q.Get("kind"); hq.Kind {
	case "", hitlog.KindBlock, hitlog.KindBypass:
	default:
		return HitQuery{}, &paramError{"kind", fmt.Sprintf("%q is not one of %s, %s", hq.Kind, hitlog.KindBlock, hitlog.KindBypass)}
	}
	if hq.Limit, err = intParam(q, "limit", DefaultHitLimit, MaxHitLimit); err != nil {
		return HitQuery{}, err
	}
	return hq, nil
}

func (a *api) statsQuery(q url.Values) (StatsQuery, error) {
	if err := params(q, "devices", "sort", "names"); err != nil {
		return StatsQuery{}, err
	}
	var sq StatsQuery
	var err error
	if sq.Devices, err = intParam(q, "devices", DefaultStatsDevices, MaxStatsDevices); err != nil {
		return StatsQuery{}, err
	}
	if sq.Names, err = intParam(q, "names", DefaultStatsNames, MaxStatsNames); err != nil {
		return StatsQuery{}, err
	}
	sq.Sort = DeviceSort(q.Get("sort"))
	if !sq.Sort.valid() {
		return StatsQuery{}, &paramError{"sort", fmt.Sprintf("%q is not one of last_seen, count, first_seen", q.Get("sort"))}
	}
	return sq, nil
}

// hitsResponse is the body of GET /api/v1/hits.
type hitsResponse struct {
	Hits  []hitJSON `json:"hits"`
	Count int       `json:"count"`
	Limit int       `json:"limit"`
	More  bool      `json:"more"`
}

func (a *api) hits(w http.ResponseWriter, req *http.Request) {
	hq, err := a.hitQuery(req.URL.Query())
	if err != nil {
		badRequest(w, err)
		return
	}
	events, more := a.rec.Hits(hq)
	resp := hitsResponse{Hits: make([]hitJSON, len(events)), Count: len(events), Limit: hq.Limit, More: more}
	for i, e := range events {
		resp.Hits[i] = toHitJSON(e)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *api) stats(w http.ResponseWriter, req *http.Request) {
	sq, err := a.statsQuery(req.URL.Query())
	if err != nil {
		badRequest(w, err)
		return
	}
	s, err := a.rec.Stats(sq)
	if err != nil {
		badRequest(w, err) // unreachable: statsQuery validated the sort
		return
	}
	s.Lists = listStatus(a.opts.ListStatus)
	writeJSON(w, http.StatusOK, s)
}

func listStatus(f func() []ListStatus) []ListStatus {
	if f == nil {
		return []ListStatus{}
	}
	ls := f()
	if ls == nil {
		return []ListStatus{}
	}
	for i := range ls {
		ls[i].Updated = utc(ls[i].Updated)
	}
	return ls
}

func badRequest(w http.ResponseWriter, err error) {
	body := apiError{Error: err.Error()}
	if pe, ok := err.(*paramError); ok {
		body.Parameter = pe.param
	}
	writeJSON(w, http.StatusBadRequest, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// hitJSON is one hit in the hit log's ECS layout (the subset that is about
// the query, without ecs/observer/event.kind boilerplate).
type hitJSON struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind   string `json:"kind"`
		Action string `json:"action"`
	} `json:"event"`
	Client struct {
		IP   string `json:"ip"`
		Port uint16 `json:"port"`
	} `json:"client"`
	Network struct {
		Transport string `json:"transport"`
		Type      string `json:"type"`
	} `json:"network"`
	DNS struct {
		ID       uint16 `json:"id"`
		Question struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Class string `json:"class"`
		} `json:"question"`
		ResponseCode string `json:"response_code"`
	} `json:"dns"`
	Rule struct {
		Name    string `json:"name"`
		Ruleset string `json:"ruleset"`
		ID      string `json:"id"`
	} `json:"rule"`
	Dijk struct {
		Kind        string `json:"kind"`
		Group       string `json:"group"`
		List        string `json:"list"`
		ListVersion string `json:"list_version,omitempty"`
		Entry       string `json:"entry"`
		Match       string `json:"match"`
		Line        int    `json:"line"`
	} `json:"dijk"`
}

// toHitJSON mirrors hitlog's record mapping, so the same jq filters work on
// both. client.ip is unmapped (::ffff:192.0.2.1 becomes 192.0.2.1) to match
// the device table.
func toHitJSON(e hitlog.Event) hitJSON {
	var h hitJSON
	h.Timestamp = e.Time.UTC().Format(time.RFC3339Nano)
	h.Event.Kind = "event"
	if kindOf(&e) == hitlog.KindBypass {
		h.Event.Kind = "alert" // as in the hit log: a violation to look at
	}
	h.Event.Action = e.Action
	h.Client.IP = deviceAddr(e.Client.Addr()).String()
	h.Client.Port = e.Client.Port()
	h.Network.Transport = e.Transport
	h.Network.Type = "ipv4"
	if deviceAddr(e.Client.Addr()).Is6() {
		h.Network.Type = "ipv6"
	}
	h.DNS.ID = e.QueryID
	h.DNS.Question.Name = strings.TrimSuffix(e.Name, ".")
	h.DNS.Question.Type = e.Type
	h.DNS.Question.Class = e.Class
	h.DNS.ResponseCode = e.Rcode
	h.Rule.Name = e.Rule
	h.Rule.Ruleset = e.Source
	h.Rule.ID = fmt.Sprintf("%s:%d", e.Source, e.Line)
	h.Dijk.Kind = kindOf(&e)
	h.Dijk.Group = cmp.Or(e.Group, "default")
	h.Dijk.List = e.Source
	h.Dijk.ListVersion = e.ListVersion
	h.Dijk.Entry = e.Rule
	h.Dijk.Match = "suffix"
	if e.Exact {
		h.Dijk.Match = "exact"
	}
	h.Dijk.Line = e.Line
	return h
}
