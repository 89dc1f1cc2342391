package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	v1     = "chat.deepseek.com\napi.deepseek.com\n"
	v2     = "chat.deepseek.com\napi.deepseek.com\nkimi.moonshot.cn\n"
	lastV1 = "Mon, 02 Jan 2006 15:04:05 GMT"
)

// listServer publishes one list, and its signature at PATH.minisig.
type listServer struct {
	mu           sync.Mutex
	body         []byte
	etag         string
	lastModified string
	sig          []byte // nil: the signature is 404
	status       int    // not 0: the list answers this status
	redirect     string // not "": the list redirects there
	chunked      bool   // send no Content-Length
	hang         bool   // answer only when the client gives up
	got          []http.Header
}

func (s *listServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if strings.HasSuffix(r.URL.Path, ".minisig") {
		sig := s.sig
		s.mu.Unlock()
		if sig == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(sig)
		return
	}
	s.got = append(s.got, r.Header.Clone())
	body, etag, lm, status, redirect, chunked, hang := s.body, s.etag, s.lastModified, s.status, s.redirect, s.chunked, s.hang
	s.mu.Unlock()
	switch {
	case hang:
		<-r.Context().Done()
		return
	case redirect != "":
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	case status != 0:
		w.WriteHeader(status)
		return
	case etag != "" && r.Header.Get("If-None-Match") == etag,
		etag == "" && lm != "" && r.Header.Get("If-Modified-Since") == lm:
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	if lm != "" {
		w.Header().Set("Last-Modified", lm)
	}
	if chunked {
		w.(http.Flusher).Flush()
	}
	w.Write(body)
}

func (s *listServer) set(f func(s *listServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// requests returns the headers of the list requests so far.
func (s *listServer) requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.got...)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

type env struct {
	ls    *listServer
	srv   *httptest.Server
	dir   string
	clock *fakeClock
	pub   minisign.PublicKey
	priv  minisign.PrivateKey
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ls := &listServer{body: []byte(v1), etag: `"v1"`, lastModified: lastV1, sig: minisign.Sign(priv, []byte(v1))}
	srv := httptest.NewTLSServer(ls)
	t.Cleanup(srv.Close)
	return &env{
		ls:    ls,
		srv:   srv,
		dir:   filepath.Join(t.TempDir(), "lists"),
		clock: &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)},
		pub:   pub,
		priv:  priv,
	}
}

func (e *env) url() string { return e.srv.URL + "/ai.txt" }

func (e *env) fetcher(t *testing.T, opts Options) *Fetcher {
	t.Helper()
	opts.CacheDir = e.dir
	opts.Client = e.srv.Client()
	opts.Now = e.clock.Now
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readMeta(t *testing.T, f *Fetcher, src Source) meta {
	t.Helper()
	var m meta
	if err := json.Unmarshal([]byte(readFile(t, f.metaPath(src))), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// noTempFiles fails if a temporary file is left in dir.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tempMarker) {
			t.Errorf("temporary file %s left in the cache", e.Name())
		}
	}
}

func fetches(f *Fetcher, url, result string) float64 {
	return testutil.ToFloat64(f.metrics.fetches.WithLabelValues(url, result))
}

func lastSuccess(f *Fetcher, url string) float64 {
	return testutil.ToFloat64(f.metrics.lastSuccess.WithLabelValues(url))
}

func TestFetchFirst(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, Options{})
	src := Source{URL: e.url()}
	path, st, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	now := e.clock.Now()
	if path != f.CachePath(src) {
		t.Errorf("path = %s, want CachePath %s", path, f.CachePath(src))
	}
	if got := readFile(t, path); got != v1 {
		t.Errorf("copy = %q, want %q", got, v1)
	}
	want := State{Updated: now, Fetched: now, SHA256: sha(v1)}
	if st != want {
		t.Errorf("state = %+v, want %+v", st, want)
	}
	m := readMeta(t, f, src)
	wantMeta := meta{URL: src.URL, SHA256: sha(v1), ETag: `"v1"`, LastModified: lastV1, Updated: now, Fetched: now}
	if !m.Updated.Equal(now) || !m.Fetched.Equal(now) {
		t.Errorf("meta times = %v, %v, want %v", m.Updated, m.Fetched, now)
	}
	m.Updated, m.Fetched = now, now // JSON loses the location
	if m != wantMeta {
		t.Errorf("meta = %+v, want %+v", m, wantMeta)
	}
	if h := e.ls.requests()[0]; h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Errorf("first request was conditional: %v", h)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{e.dir, 0o750 | os.ModeDir},
		{path, 0o640},
		{f.metaPath(src), 0o640},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s mode = %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
	if got := fetches(f, src.URL, resultUpdated); got != 1 {
		t.Errorf("updated fetches = %v, want 1", got)
	}
	if got := lastSuccess(f, src.URL); got != float64(now.Unix()) {
		t.Errorf("last success = %v, want %v", got, now.Unix())
	}
	noTempFiles(t, e.dir)
}

// TestFetchAgain fetches a source once, changes the server, and fetches
// it again.
func TestFetchAgain(t *testing.T) {
	tests := []struct {
		name    string
		pinned  bool // the source pins the SHA-256 of v1
		signed  bool // the source wants a minisign signature
		maxSize int64
		timeout time.Duration
		change  func(e *env, s *listServer)

		wantBody        string
		wantNotModified bool
		wantUpdated     bool   // State.Updated is the second fetch's time
		wantFetched     bool   // State.Fetched is the second fetch's time
		wantErr         string // in State.Err; "" for none
		wantRejected    bool
		wantResult      string
		wantConditional bool
	}{
		{
			name:     "unchanged: 304",
			wantBody: v1, wantNotModified: true, wantFetched: true,
			wantResult: resultNotModified, wantConditional: true,
		},
		{
			name: "unchanged, only Last-Modified: 304",
			change: func(_ *env, s *listServer) {
				// The first copy was stored with an ETag, which the server
				// now ignores: If-Modified-Since alone must get the 304.
				s.etag = ""
			},
			wantBody: v1, wantNotModified: true, wantFetched: true,
			wantResult: resultNotModified, wantConditional: true,
		},
		{
			name: "new ETag: updated",
			change: func(_ *env, s *listServer) {
				s.body, s.etag = []byte(v2), `"v2"`
			},
			wantBody: v2, wantUpdated: true, wantFetched: true,
			wantResult: resultUpdated, wantConditional: true,
		},
		{
			name: "same body without validators: not modified",
			change: func(_ *env, s *listServer) {
				s.etag, s.lastModified = "", ""
			},
			wantBody: v1, wantNotModified: true, wantFetched: true,
			wantResult: resultNotModified, wantConditional: true,
		},
		{
			name:     "status 500: previous copy kept",
			change:   func(_ *env, s *listServer) { s.status = http.StatusInternalServerError },
			wantBody: v1, wantErr: "status 500",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:     "status 206: previous copy kept",
			change:   func(_ *env, s *listServer) { s.status = http.StatusPartialContent },
			wantBody: v1, wantErr: "status 206",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:    "body over MaxSize by Content-Length: previous copy kept",
			maxSize: int64(len(v1)),
			change: func(_ *env, s *listServer) {
				s.body, s.etag = []byte(v2), `"v2"`
			},
			wantBody: v1, wantErr: "larger than the limit",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:    "chunked body over MaxSize: previous copy kept",
			maxSize: int64(len(v1)),
			change: func(_ *env, s *listServer) {
				s.body, s.etag, s.chunked = []byte(v2), `"v2"`, true
			},
			wantBody: v1, wantErr: "larger than the limit",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:     "timeout: previous copy kept",
			timeout:  time.Second, // ample for the first fetch on loopback
			change:   func(_ *env, s *listServer) { s.hang = true },
			wantBody: v1, wantErr: "deadline exceeded",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:     "redirect to http: previous copy kept",
			change:   func(_ *env, s *listServer) { s.redirect = "http://127.0.0.1:1/ai.txt" },
			wantBody: v1, wantErr: "not https",
			wantResult: resultFailed, wantConditional: true,
		},
		{
			name:     "server down: previous copy kept",
			change:   func(e *env, _ *listServer) { e.srv.Close() },
			wantBody: v1, wantErr: "fetch",
			wantResult: resultFailed,
		},
		{
			name:     "pinned, unchanged: 304",
			pinned:   true,
			wantBody: v1, wantNotModified: true, wantFetched: true,
			wantResult: resultNotModified, wantConditional: true,
		},
		{
			name:   "pin mismatch: rejected, previous copy kept",
			pinned: true,
			change: func(_ *env, s *listServer) {
				s.body, s.etag = []byte(v2), `"v2"`
			},
			wantBody: v1, wantErr: "rejected: checksum mismatch", wantRejected: true,
			wantResult: resultRejected, wantConditional: true,
		},
		{
			name:   "signed update: accepted",
			signed: true,
			change: func(e *env, s *listServer) {
				s.body, s.etag, s.sig = []byte(v2), `"v2"`, minisign.Sign(e.priv, []byte(v2))
			},
			wantBody: v2, wantUpdated: true, wantFetched: true,
			wantResult: resultUpdated, wantConditional: true,
		},
		{
			name:     "signed, unchanged: 304 without the signature",
			signed:   true,
			change:   func(_ *env, s *listServer) { s.sig = nil },
			wantBody: v1, wantNotModified: true, wantFetched: true,
			wantResult: resultNotModified, wantConditional: true,
		},
		{
			name:   "tampered body: rejected, previous copy kept",
			signed: true,
			change: func(_ *env, s *listServer) {
				s.body, s.etag = []byte(v2), `"v2"` // v1's signature stays
			},
			wantBody: v1, wantErr: "rejected: bad signature", wantRejected: true,
			wantResult: resultRejected, wantConditional: true,
		},
		{
			name:   "signed by another key: rejected, previous copy kept",
			signed: true,
			change: func(_ *env, s *listServer) {
				_, other, err := minisign.GenerateKey(rand.Reader)
				if err != nil {
					panic(err)
				}
				s.body, s.etag, s.sig = []byte(v2), `"v2"`, minisign.Sign(other, []byte(v2))
			},
			wantBody: v1, wantErr: "rejected: bad signature", wantRejected: true,
			wantResult: resultRejected, wantConditional: true,
		},
		{
			name:   "signature missing: failed, previous copy kept",
			signed: true,
			change: func(_ *env, s *listServer) {
				s.body, s.etag, s.sig = []byte(v2), `"v2"`, nil
			},
			wantBody: v1, wantErr: "ai.txt.minisig: fetch: status 404",
			wantResult: resultFailed, wantConditional: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fetcher(t, Options{MaxSize: tt.maxSize, Timeout: tt.timeout})
			src := Source{URL: e.url()}
			if tt.pinned {
				src.SHA256 = sha(v1)
			}
			if tt.signed {
				src.PublicKey = e.pub.String()
			}
			if _, _, err := f.Fetch(context.Background(), src); err != nil {
				t.Fatalf("first Fetch: %v", err)
			}
			first := e.clock.Now()
			second := e.clock.advance(time.Hour)
			if tt.change != nil {
				e.ls.set(func(s *listServer) { tt.change(e, s) })
			}

			path, st, err := f.Fetch(context.Background(), src)
			if err != nil {
				t.Fatalf("second Fetch: %v, want the previous copy at worst", err)
			}
			if got := readFile(t, path); got != tt.wantBody {
				t.Errorf("copy = %q, want %q", got, tt.wantBody)
			}
			if st.SHA256 != sha(tt.wantBody) {
				t.Errorf("state SHA256 = %s, want %s", st.SHA256, sha(tt.wantBody))
			}
			if st.NotModified != tt.wantNotModified {
				t.Errorf("NotModified = %v, want %v", st.NotModified, tt.wantNotModified)
			}
			wantUpdated, wantFetched := first, first
			if tt.wantUpdated {
				wantUpdated = second
			}
			if tt.wantFetched {
				wantFetched = second
			}
			if !st.Updated.Equal(wantUpdated) || !st.Fetched.Equal(wantFetched) {
				t.Errorf("Updated, Fetched = %v, %v, want %v, %v", st.Updated, st.Fetched, wantUpdated, wantFetched)
			}
			switch {
			case tt.wantErr == "" && st.Err != nil:
				t.Errorf("State.Err = %v, want none", st.Err)
			case tt.wantErr != "" && (st.Err == nil || !strings.Contains(st.Err.Error(), tt.wantErr)):
				t.Errorf("State.Err = %v, want one containing %q", st.Err, tt.wantErr)
			case st.Err != nil && !strings.Contains(st.Err.Error(), src.URL):
				t.Errorf("State.Err = %v, does not name the URL", st.Err)
			}
			var rejected *RejectedError
			if errors.As(st.Err, &rejected) != tt.wantRejected {
				t.Errorf("State.Err = %v (%T), rejected %v", st.Err, st.Err, tt.wantRejected)
			}
			// The meta still describes the copy: a restart would trust it.
			if m := readMeta(t, f, src); m.SHA256 != sha(tt.wantBody) {
				t.Errorf("meta SHA256 = %s, want %s", m.SHA256, sha(tt.wantBody))
			}
			for _, r := range []string{resultUpdated, resultNotModified, resultFailed, resultRejected} {
				want := 0.0
				if r == resultUpdated {
					want++ // the first fetch
				}
				if r == tt.wantResult {
					want++
				}
				if got := fetches(f, src.URL, r); got != want {
					t.Errorf("fetches{result=%s} = %v, want %v", r, got, want)
				}
			}
			if got := lastSuccess(f, src.URL); got != float64(wantFetched.Unix()) {
				t.Errorf("last success = %v, want %v", got, wantFetched.Unix())
			}
			if reqs := e.ls.requests(); len(reqs) >= 2 {
				h := reqs[1]
				conditional := h.Get("If-None-Match") == `"v1"` && h.Get("If-Modified-Since") == lastV1
				if conditional != tt.wantConditional {
					t.Errorf("second request conditional = %v, want %v: %v", conditional, tt.wantConditional, h)
				}
			} else if tt.wantConditional {
				t.Errorf("%d requests reached the server, want 2", len(reqs))
			}
			noTempFiles(t, e.dir)
		})
	}
}

// TestFetchRestart fetches once, then fetches with a new Fetcher on the
// same cache directory, as after a restart.
func TestFetchRestart(t *testing.T) {
	tests := []struct {
		name   string
		src    func(e *env) Source // the source after the restart
		before func(t *testing.T, e *env, f *Fetcher)

		wantBody        string // "" for an error
		wantNotModified bool
		wantErr         string // in State.Err, or in err when wantBody is ""
		wantConditional bool
		wantResult      string
	}{
		{
			name:     "server up: the persisted validators get a 304",
			wantBody: v1, wantNotModified: true, wantConditional: true,
			wantResult: resultNotModified,
		},
		{
			name:     "server down: the cached copy, with State.Err",
			before:   func(_ *testing.T, e *env, _ *Fetcher) { e.srv.Close() },
			wantBody: v1, wantErr: "fetch",
			wantResult: resultFailed,
		},
		{
			name: "metadata lost: the copy is kept, the request unconditional",
			before: func(t *testing.T, e *env, f *Fetcher) {
				if err := os.Remove(f.metaPath(Source{URL: e.url()})); err != nil {
					t.Fatal(err)
				}
			},
			wantBody: v1, wantNotModified: true,
			wantResult: resultNotModified,
		},
		{
			name: "metadata of another body: the copy is kept, the request unconditional",
			before: func(t *testing.T, e *env, f *Fetcher) {
				// As after a crash between the renames of copy and meta.
				if err := os.WriteFile(f.CachePath(Source{URL: e.url()}), []byte(v2), 0o640); err != nil {
					t.Fatal(err)
				}
			},
			wantBody: v1, wantConditional: false,
			wantResult: resultUpdated,
		},
		{
			name:       "pin changed, server down: the old copy is not used",
			src:        func(e *env) Source { return Source{URL: e.url(), SHA256: sha(v2)} },
			before:     func(_ *testing.T, e *env, _ *Fetcher) { e.srv.Close() },
			wantErr:    "fetch",
			wantResult: resultFailed,
		},
		{
			name:       "pin changed, server up: rejected, no copy to fall back on",
			src:        func(e *env) Source { return Source{URL: e.url(), SHA256: sha(v2)} },
			wantErr:    "rejected: checksum mismatch",
			wantResult: resultRejected,
		},
		{
			name:       "key added, server down: the unsigned copy is not used",
			src:        func(e *env) Source { return Source{URL: e.url(), PublicKey: e.pub.String()} },
			before:     func(_ *testing.T, e *env, _ *Fetcher) { e.srv.Close() },
			wantErr:    "fetch",
			wantResult: resultFailed,
		},
		{
			name:     "key added, server up: fetched and verified afresh",
			src:      func(e *env) Source { return Source{URL: e.url(), PublicKey: e.pub.String()} },
			wantBody: v1, wantResult: resultUpdated,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			first := e.fetcher(t, Options{})
			if _, _, err := first.Fetch(context.Background(), Source{URL: e.url()}); err != nil {
				t.Fatalf("first Fetch: %v", err)
			}
			stored := e.clock.Now()
			e.clock.advance(time.Hour)
			if tt.before != nil {
				tt.before(t, e, first)
			}
			src := Source{URL: e.url()}
			if tt.src != nil {
				src = tt.src(e)
			}

			f := e.fetcher(t, Options{})
			path, st, err := f.Fetch(context.Background(), src)
			if tt.wantBody == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Fetch = %s, %v, want an error containing %q", path, err, tt.wantErr)
				}
				if path != "" {
					t.Errorf("path = %q with an error, want none", path)
				}
			} else {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				if got := readFile(t, path); got != tt.wantBody {
					t.Errorf("copy = %q, want %q", got, tt.wantBody)
				}
				if st.NotModified != tt.wantNotModified {
					t.Errorf("NotModified = %v, want %v", st.NotModified, tt.wantNotModified)
				}
				switch {
				case tt.wantErr == "" && st.Err != nil:
					t.Errorf("State.Err = %v, want none", st.Err)
				case tt.wantErr != "" && (st.Err == nil || !strings.Contains(st.Err.Error(), tt.wantErr)):
					t.Errorf("State.Err = %v, want one containing %q", st.Err, tt.wantErr)
				case tt.wantErr != "":
					// The state of the copy comes from the meta on disk.
					if !st.Updated.Equal(stored) || !st.Fetched.Equal(stored) {
						t.Errorf("Updated, Fetched = %v, %v, want %v from the meta", st.Updated, st.Fetched, stored)
					}
					if got := lastSuccess(f, src.URL); got != float64(stored.Unix()) {
						t.Errorf("last success = %v, want %v from the meta", got, stored.Unix())
					}
				}
			}
			if got := fetches(f, src.URL, tt.wantResult); got != 1 {
				t.Errorf("fetches{result=%s} = %v, want 1", tt.wantResult, got)
			}
			if reqs := e.ls.requests(); len(reqs) >= 2 {
				conditional := reqs[1].Get("If-None-Match") != "" || reqs[1].Get("If-Modified-Since") != ""
				if conditional != tt.wantConditional {
					t.Errorf("request after restart conditional = %v, want %v: %v", conditional, tt.wantConditional, reqs[1])
				}
			}
			noTempFiles(t, e.dir)
		})
	}
}

func TestFetchNoCopy(t *testing.T) {
	tests := []struct {
		name         string
		src          func(e *env) Source
		change       func(e *env, s *listServer)
		wantErr      string
		wantRejected bool
		wantResult   string
	}{
		{
			name:       "server down",
			change:     func(e *env, _ *listServer) { e.srv.Close() },
			wantErr:    "fetch",
			wantResult: resultFailed,
		},
		{
			name:       "status 404",
			change:     func(_ *env, s *listServer) { s.status = http.StatusNotFound },
			wantErr:    "status 404",
			wantResult: resultFailed,
		},
		{
			name:       "status 304 to an unconditional request",
			change:     func(_ *env, s *listServer) { s.status = http.StatusNotModified },
			wantErr:    "status 304",
			wantResult: resultFailed,
		},
		{
			name:         "pin mismatch",
			src:          func(e *env) Source { return Source{URL: e.url(), SHA256: sha(v2)} },
			wantErr:      "rejected: checksum mismatch",
			wantRejected: true,
			wantResult:   resultRejected,
		},
		{
			name:         "bad signature",
			src:          func(e *env) Source { return Source{URL: e.url(), PublicKey: e.pub.String()} },
			change:       func(e *env, s *listServer) { s.sig = minisign.Sign(e.priv, []byte(v2)) },
			wantErr:      "rejected: bad signature",
			wantRejected: true,
			wantResult:   resultRejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.change != nil {
				e.ls.set(func(s *listServer) { tt.change(e, s) })
			}
			src := Source{URL: e.url()}
			if tt.src != nil {
				src = tt.src(e)
			}
			f := e.fetcher(t, Options{})
			path, st, err := f.Fetch(context.Background(), src)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), src.URL) {
				t.Fatalf("Fetch = %q, %v, want an error naming the URL and containing %q", path, err, tt.wantErr)
			}
			if path != "" || st.Err != err {
				t.Errorf("path, State.Err = %q, %v, want \"\", the error", path, st.Err)
			}
			var rejected *RejectedError
			if errors.As(err, &rejected) != tt.wantRejected {
				t.Errorf("err = %v (%T), want rejected %v", err, err, tt.wantRejected)
			}
			if _, err := os.Stat(f.CachePath(src)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a copy was stored: %v", err)
			}
			if got := fetches(f, src.URL, tt.wantResult); got != 1 {
				t.Errorf("fetches{result=%s} = %v, want 1", tt.wantResult, got)
			}
			noTempFiles(t, e.dir)
		})
	}
}

// TestFetchStoreFails checks that a copy that cannot be stored leaves no
// temporary file and keeps the previous copy.
func TestFetchStoreFails(t *testing.T) {
	tests := []struct {
		name     string
		previous bool // a copy was stored before
		block    func(f *Fetcher, src Source) string
		wantErr  string
	}{
		{
			name:    "copy's place taken, no previous copy",
			block:   func(f *Fetcher, src Source) string { return f.CachePath(src) },
			wantErr: "storing copy",
		},
		{
			name:     "meta's place taken, previous copy",
			previous: true,
			block:    func(f *Fetcher, src Source) string { return f.metaPath(src) },
			wantErr:  "storing copy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fetcher(t, Options{})
			src := Source{URL: e.url()}
			if tt.previous {
				if _, _, err := f.Fetch(context.Background(), src); err != nil {
					t.Fatal(err)
				}
				e.ls.set(func(s *listServer) { s.body, s.etag = []byte(v2), `"v2"` })
			}
			// A non-empty directory cannot be renamed over, even by root.
			blocked := tt.block(f, src)
			os.Remove(blocked)
			if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o750); err != nil {
				t.Fatal(err)
			}
			path, st, err := f.Fetch(context.Background(), src)
			if !tt.previous {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Fetch = %q, %v, want an error containing %q", path, err, tt.wantErr)
				}
			} else {
				if err != nil || st.Err == nil || !strings.Contains(st.Err.Error(), tt.wantErr) {
					t.Errorf("Fetch = %v, State.Err %v, want the previous copy and State.Err containing %q", err, st.Err, tt.wantErr)
				}
				if got := fetches(f, src.URL, resultFailed); got != 1 {
					t.Errorf("failed fetches = %v, want 1", got)
				}
			}
			if path != "" {
				if got := readFile(t, path); st.SHA256 != sha(got) {
					t.Errorf("State.SHA256 = %s, but the copy at %s has %s", st.SHA256, path, sha(got))
				}
			}
			noTempFiles(t, e.dir)
		})
	}
}

func TestFetchInvalidSource(t *testing.T) {
	tests := []struct {
		name    string
		src     Source
		wantErr string
	}{
		{name: "http", src: Source{URL: "http://127.0.0.1/list"}, wantErr: "http:// refused"},
		{name: "empty", src: Source{}, wantErr: "empty URL"},
		{name: "short pin", src: Source{URL: "https://127.0.0.1/list", SHA256: "abcd"}, wantErr: "64 hex digits"},
		{name: "bad key", src: Source{URL: "https://127.0.0.1/list", PublicKey: "RWQnope"}, wantErr: "minisign pin"},
		{name: "fragment", src: Source{URL: "https://127.0.0.1/list#sha256=00"}, wantErr: "'#' in URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fetcher(t, Options{})
			path, _, err := f.Fetch(context.Background(), tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Fetch = %q, %v, want an error containing %q", path, err, tt.wantErr)
			}
			if n := len(e.ls.requests()); n != 0 {
				t.Errorf("%d requests sent for an invalid source", n)
			}
		})
	}
}

// TestFetchConcurrent runs fetches of one source at once; -race checks
// the locking, the result checks that no fetch saw a half-written copy.
func TestFetchConcurrent(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, Options{})
	src := Source{URL: e.url(), SHA256: sha(v1)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			path, st, err := f.Fetch(context.Background(), src)
			switch {
			case err != nil:
				errs <- err
			case st.Err != nil:
				errs <- st.Err
			case st.SHA256 != sha(v1):
				errs <- errors.New("state has the wrong SHA-256")
			case path != f.CachePath(src):
				errs <- errors.New("wrong path " + path)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := fetches(f, src.URL, resultUpdated) + fetches(f, src.URL, resultNotModified); got != 8 {
		t.Errorf("fetches = %v, want 8", got)
	}
	if got := fetches(f, src.URL, resultUpdated); got != 1 {
		t.Errorf("updated fetches = %v, want 1: the others find the copy", got)
	}
	noTempFiles(t, e.dir)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string, opts *Options)
		wantErr string
		check   func(t *testing.T, dir string)
	}{
		{
			name:    "no cache directory",
			setup:   func(_ *testing.T, _ string, opts *Options) { opts.CacheDir = "" },
			wantErr: "no cache directory",
		},
		{
			name: "metrics registered twice",
			setup: func(t *testing.T, dir string, opts *Options) {
				reg := prometheus.NewRegistry()
				if _, err := New(Options{CacheDir: dir, Registerer: reg}); err != nil {
					t.Fatal(err)
				}
				opts.Registerer = reg
			},
			wantErr: "registering metrics",
		},
		{
			name: "temporary files of a crash are removed, copies are not",
			setup: func(t *testing.T, dir string, _ *Options) {
				for _, name := range []string{".h-1.list" + tempMarker + "123", ".h-1.meta" + tempMarker + "9", "h-1.list", "h-1.meta"} {
					if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o640); err != nil {
						t.Fatal(err)
					}
				}
			},
			check: func(t *testing.T, dir string) {
				noTempFiles(t, dir)
				for _, name := range []string{"h-1.list", "h-1.meta"} {
					if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
						t.Errorf("%s: %v", name, err)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{CacheDir: dir}
			if tt.setup != nil {
				tt.setup(t, dir, &opts)
			}
			_, err := New(opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
		})
	}
}

// TestMetricsRegistered checks the series reach the given Registerer.
func TestMetricsRegistered(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	f := e.fetcher(t, Options{Registerer: reg})
	if _, _, err := f.Fetch(context.Background(), Source{URL: e.url()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		metric string
		want   int
	}{
		{name: "a series per result", metric: "dijk_remote_fetches_total", want: 4},
		{name: "last success", metric: "dijk_remote_last_success_timestamp_seconds", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := testutil.GatherAndCount(reg, tt.metric)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("%s series = %d, want %d", tt.metric, n, tt.want)
			}
		})
	}
}

func TestCachePath(t *testing.T) {
	f, err := New(Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		a, b       string
		wantSame   bool
		wantPrefix string
	}{
		{name: "same URL, same file", a: "https://lists.example/ai.txt", b: "https://lists.example/ai.txt", wantSame: true, wantPrefix: "lists.example-"},
		{name: "two lists on one host", a: "https://lists.example/ai.txt", b: "https://lists.example/ads.txt", wantPrefix: "lists.example-"},
		{name: "query matters", a: "https://lists.example/l?v=1", b: "https://lists.example/l?v=2", wantPrefix: "lists.example-"},
		{name: "port", a: "https://127.0.0.1:8443/l", b: "https://127.0.0.1:8444/l", wantPrefix: "127.0.0.1_8443-"},
		{name: "IPv6", a: "https://[::1]:8443/l", b: "https://[::1]:8443/m", wantPrefix: "___1__8443-"},
		{name: "upper case host", a: "https://Lists.Example/l", b: "https://lists.example/l", wantPrefix: "lists.example-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa, pb := f.CachePath(Source{URL: tt.a}), f.CachePath(Source{URL: tt.b})
			if (pa == pb) != tt.wantSame {
				t.Errorf("CachePath(%s) = %s, CachePath(%s) = %s, want same %v", tt.a, pa, tt.b, pb, tt.wantSame)
			}
			if pa != f.CachePath(Source{URL: tt.a}) {
				t.Errorf("CachePath(%s) is not stable", tt.a)
			}
			base := filepath.Base(pa)
			if filepath.Dir(pa) != f.opts.CacheDir || !strings.HasPrefix(base, tt.wantPrefix) || !strings.HasSuffix(base, ".list") {
				t.Errorf("CachePath(%s) = %s, want %s/%s….list", tt.a, pa, f.opts.CacheDir, tt.wantPrefix)
			}
			if strings.ContainsAny(base, `:/\[]?#%`) {
				t.Errorf("CachePath(%s) = %s is not filesystem-safe", tt.a, pa)
			}
		})
	}
}
