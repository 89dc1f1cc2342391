package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "dijk_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var readyErr atomic.Pointer[error]
	s, err := Start(Options{Addr: "127.0.0.1:0", Gatherer: reg, Ready: func() error {
		if e := readyErr.Load(); e != nil {
			return *e
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	tests := []struct {
		name     string
		path     string
		notReady error
		wantCode int
		wantBody string
	}{
		{"healthz", "/healthz", nil, 200, "ok"},
		{"healthz while not ready", "/healthz", errors.New("lists"), 200, "ok"},
		{"readyz ready", "/readyz", nil, 200, "ready"},
		{"readyz not ready says why", "/readyz", errors.New("no upstream has answered"), 503, "not ready: no upstream has answered"},
		{"metrics", "/metrics", nil, 200, "dijk_test_total 3"},
		{"unknown path", "/nope", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readyErr.Store(&tt.notReady)
			code, body := get(tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		h := Handler(Options{Gatherer: prometheus.NewRegistry(), Pprof: on})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/pprof/heap?debug=1", nil))
		if got := rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "heap profile"); got != on {
			t.Errorf("pprof %v: status %d, heap profile served %v", on, rec.Code, got)
		}
	}
}
