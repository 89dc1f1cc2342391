package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHealthcheckCommand(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	live := inst.http.Addr()
	_, livePort, err := net.SplitHostPort(live)
	if err != nil {
		t.Fatal(err)
	}

	// healthzServer answers /healthz with code and every other path with
	// the opposite, so a check of the wrong path gets the wrong verdict.
	healthzServer := func(code int) string {
		other := http.StatusOK
		if code == http.StatusOK {
			other = http.StatusInternalServerError
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				w.WriteHeader(code)
				return
			}
			w.WriteHeader(other)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}

	// A port that was just free: nothing answers there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	writeConfig := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	httpConfig := func(name, addr string) string {
		return writeConfig(name, fmt.Sprintf("listen:\n  http: %q\n", addr))
	}

	tests := []struct {
		name       string
		config     string
		environ    []string
		wantCode   int
		wantStderr []string
	}{
		{
			name:     "running instance",
			config:   httpConfig("live.yaml", live),
			wantCode: exitOK,
		},
		{
			// The image's config says ":9153": the check must dial loopback.
			name:     "wildcard listen address of a running instance",
			config:   httpConfig("wildcard.yaml", ":"+livePort),
			wantCode: exitOK,
		},
		{
			name:     "DIJK_LISTEN_HTTP overrides the file",
			config:   httpConfig("dead-in-file.yaml", dead),
			environ:  []string{"DIJK_LISTEN_HTTP=" + live},
			wantCode: exitOK,
		},
		{
			name:     "healthz 200 from another server",
			config:   httpConfig("ok.yaml", healthzServer(http.StatusOK)),
			wantCode: exitOK,
		},
		{
			name:       "nothing listening",
			config:     httpConfig("dead.yaml", dead),
			wantCode:   exitFail,
			wantStderr: []string{"dijk healthcheck:", dead},
		},
		{
			name:       "healthz answers 500",
			config:     httpConfig("500.yaml", healthzServer(http.StatusInternalServerError)),
			wantCode:   exitFail,
			wantStderr: []string{"dijk healthcheck:", "/healthz", "500"},
		},
		{
			name:       "HTTP disabled",
			config:     httpConfig("nohttp.yaml", ""),
			wantCode:   exitFail,
			wantStderr: []string{"listen.http is empty"},
		},
		{
			name:       "HTTP disabled by the environment",
			config:     httpConfig("live-env-off.yaml", live),
			environ:    []string{"DIJK_LISTEN_HTTP="},
			wantCode:   exitFail,
			wantStderr: []string{"listen.http is empty"},
		},
		{
			name:       "invalid YAML",
			config:     writeConfig("bad.yaml", "listen: [\n"),
			wantCode:   exitFail,
			wantStderr: []string{"dijk healthcheck: config", "bad.yaml"},
		},
		{
			name:       "unknown key",
			config:     writeConfig("typo.yaml", "listen:\n  htp: "+live+"\n"),
			wantCode:   exitFail,
			wantStderr: []string{"dijk healthcheck: config", "htp"},
		},
		{
			name:       "missing file",
			config:     filepath.Join(dir, "missing.yaml"),
			wantCode:   exitFail,
			wantStderr: []string{"dijk healthcheck: config", "missing.yaml"},
		},
		{
			name:       "unknown environment variable",
			config:     httpConfig("live-bad-env.yaml", live),
			environ:    []string{"DIJK_LISTEN_HTTPS=" + live},
			wantCode:   exitFail,
			wantStderr: []string{"DIJK_LISTEN_HTTPS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"healthcheck", "--config", tt.config}, tt.environ, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr.String())
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tt.wantCode == exitOK && stderr.Len() > 0 {
				t.Errorf("healthy, but stderr says:\n%s", stderr.String())
			}
			if tt.wantCode != exitOK && stderr.Len() == 0 {
				t.Error("unhealthy without a message on stderr")
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing: messages go to stderr", stdout.String())
			}
		})
	}
}

func TestDialableAddr(t *testing.T) {
	tests := []struct {
		name   string
		listen string
		want   string
	}{
		{"empty host", ":9153", "127.0.0.1:9153"},
		{"IPv4 wildcard", "0.0.0.0:9153", "127.0.0.1:9153"},
		{"IPv6 wildcard", "[::]:9153", "[::1]:9153"},
		{"IPv4 address", "192.0.2.1:80", "192.0.2.1:80"},
		{"IPv6 address", "[2001:db8::1]:80", "[2001:db8::1]:80"},
		{"loopback", "127.0.0.1:9153", "127.0.0.1:9153"},
		{"host name", "localhost:9153", "localhost:9153"},
		{"no port is left alone", "garbage", "garbage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dialableAddr(tt.listen); got != tt.want {
				t.Errorf("dialableAddr(%q) = %q, want %q", tt.listen, got, tt.want)
			}
		})
	}
}
