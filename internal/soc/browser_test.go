package soc

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/hitlog"
)

// chromiumPath finds headless Chromium. Missing, the browser test skips on a
// workstation but fails in CI, where a skipped test would hide a broken
// console.
func chromiumPath(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found (install the Debian package chromium): %v", err)
		}
		t.Skipf("chromium not found; install the Debian package chromium to run the browser test: %v", err)
	}
	return bin
}

// runChromium runs one headless Chromium command against url and returns its
// stdout. Each run gets its own profile, so runs do not share state.
func runChromium(t *testing.T, bin, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--no-proxy-server", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(),
	}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\nstderr (tail):\n%s", strings.Join(extra, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// loopbackServer serves h on 127.0.0.1 only.
func loopbackServer(t *testing.T, h *httptest.Server) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	h.Listener = ln
	h.Start()
	t.Cleanup(h.Close)
	return h
}

// recordSampleDays fills r with two days of plausible traffic: a few devices
// that keep trying, some bypass attempts, and the device the test looks for.
func recordSampleDays(r *Recorder, now time.Time) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the page is the same every run
	names := []string{"chat.deepseek.com", "api.deepseek.com", "cdn.deepseek.com", "www.deepseek.com", "platform.deepseek.com"}
	start := now.Add(-47 * time.Hour)
	var times []time.Time
	for range 1500 {
		at := start.Add(time.Duration(rng.Int64N(int64(47*time.Hour - 5*time.Minute))))
		// Office hours get most of the traffic.
		if h := at.Hour(); h >= 7 && h <= 18 || rng.IntN(4) == 0 {
			times = append(times, at)
		}
	}
	slices.SortFunc(times, time.Time.Compare) // hits arrive in time order
	for i, at := range times {
		dev := fmt.Sprintf("10.20.%d.%d", 1+rng.IntN(3), 10+rng.IntN(25))
		e := hit(dev, names[rng.IntN(len(names))], at)
		e.Client = netip.AddrPortFrom(e.Client.Addr(), uint16(30000+i))
		if rng.IntN(40) == 0 {
			e.Kind, e.Source, e.Rule, e.Name = hitlog.KindBypass, "builtin:doh-bypass", "dns.google", "dns.google"
		}
		r.Log(e)
	}
	r.Log(hit("192.0.2.77", "chat.deepseek.com", now.Add(-2*time.Minute))) // the newest hit
}

func TestConsoleInBrowser(t *testing.T) {
	bin := chromiumPath(t)
	now := time.Date(2025, 6, 2, 14, 20, 0, 0, time.UTC)
	clock := newFakeClock(now.Add(-48 * time.Hour)) // started two days ago
	r, err := New(Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(now)
	recordSampleDays(r, now)
	h := newTestHandler(t, r, HandlerOptions{
		Observer: "dns1.ministry.example",
		ListStatus: func() []ListStatus {
			return []ListStatus{
				{Source: "builtin:deepseek", Entries: 42, Updated: now.Add(-6 * time.Hour)},
				{Source: "builtin:doh-bypass", Entries: 118, Updated: now.Add(-6 * time.Hour)},
			}
		},
	})
	srv := loopbackServer(t, httptest.NewUnstartedServer(h))
	url := srv.URL + "/"

	t.Run("dom", func(t *testing.T) {
		doc := parseHTML(t, runChromium(t, bin, url, "--dump-dom"))
		rows := tableRows(t, doc, "devices")
		if len(rows) == 0 {
			t.Fatal("the browser shows no devices")
		}
		// The newest device comes first.
		if rows[0][0] != "192.0.2.77" || !strings.Contains(rows[0][4], "chat.deepseek.com") {
			t.Errorf("first device row = %q, want 192.0.2.77 asking for chat.deepseek.com", rows[0])
		}
		if n := len(findAll(doc, hasClass("rect", "bar"))); n != hourWindow {
			t.Errorf("chart has %d bars in the browser, want %d", n, hourWindow)
		}
	})
	t.Run("screenshot", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "console.png")
		runChromium(t, bin, url, "--screenshot="+file, "--window-size=1280,900")
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read screenshot: %v", err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("screenshot is not a PNG (%d bytes): %v", len(data), err)
		}
		if cfg.Width != 1280 || cfg.Height != 900 {
			t.Errorf("screenshot is %dx%d, want 1280x900", cfg.Width, cfg.Height)
		}
		// A blank page compresses to almost nothing; a rendered one does not.
		if len(data) < 20_000 {
			t.Errorf("screenshot is only %d bytes; the page probably did not render", len(data))
		}
		// Opt-in copy for people reviewing the look of the console.
		if dst := os.Getenv("DIJK_CONSOLE_SCREENSHOT"); dst != "" {
			if err := os.WriteFile(dst, data, 0o644); err != nil {
				t.Errorf("copy screenshot: %v", err)
			}
		}
	})
}
