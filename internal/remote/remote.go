// Package remote keeps local copies of block lists published at https://
// URLs. Each Fetch brings one copy up to date with a conditional request;
// whatever goes wrong, the last good copy stays in place and is returned, so
// a server outage never unblocks what its list covered. A body that fails
// its SHA-256 pin or minisign signature is rejected, never stored.
package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	defaultTimeout = 30 * time.Second
	defaultMaxSize = 50 << 20
	// maxSignatureSize bounds a .minisig: a real one is a few hundred bytes.
	maxSignatureSize = 64 << 10
	userAgent        = "dijk"
)

// Options configures a Fetcher.
type Options struct {
	// CacheDir keeps the last good copy of each source (created 0750),
	// e.g. /var/lib/dijk/lists. Required.
	CacheDir string
	// Client makes the requests; nil means a client with Timeout. Redirects
	// away from https:// are refused either way.
	Client *http.Client
	// Timeout bounds each Fetch, list and signature together; default 30s.
	Timeout time.Duration
	// MaxSize bounds a body, after decompression; default 50 MiB. A larger
	// body fails the fetch: a truncated list would unblock its tail.
	MaxSize    int64
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// State is what one Fetch found.
type State struct {
	// Updated is when the local copy's content last changed; zero if
	// unknown (a copy whose metadata was lost).
	Updated time.Time
	// Fetched is when the server last answered with a good copy or 304.
	Fetched time.Time
	// NotModified: the copy's content is as before this Fetch (304, or the
	// same body again), so there is nothing new to load.
	NotModified bool
	// Err is why this Fetch failed or was rejected while a previous copy
	// was returned. A *RejectedError means the server sent a body that
	// failed its pin or signature.
	Err error
	// SHA256 is the hex SHA-256 of the local copy.
	SHA256 string
}

// RejectedError reports a body that arrived whole but failed its SHA-256
// pin or minisign signature. The list may have been tampered with, so it
// is not stored; the previous copy stays.
type RejectedError struct {
	URL    string
	Reason string // "checksum mismatch" or "bad signature"
	Detail string
}

func (e *RejectedError) Error() string {
	msg := fmt.Sprintf("remote list %s: rejected: %s", e.URL, e.Reason)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

// Fetcher fetches remote lists into a cache directory. It is safe for
// concurrent use; fetches of one source are serialized.
type Fetcher struct {
	opts    Options
	client  *http.Client
	log     *slog.Logger
	metrics *metrics

	mu    sync.Mutex
	locks map[string]*sync.Mutex // by cache name
}

// New creates the cache directory and registers the metrics. Temporary
// files left in CacheDir by a crash are removed: they were never renamed
// into place, so they hold nothing anyone loaded.
func New(opts Options) (*Fetcher, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("remote: no cache directory")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = defaultMaxSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if err := os.MkdirAll(opts.CacheDir, 0o750); err != nil {
		return nil, fmt.Errorf("remote: cache directory: %w", err)
	}
	stale, err := filepath.Glob(filepath.Join(opts.CacheDir, ".*"+tempMarker+"*"))
	if err != nil {
		return nil, fmt.Errorf("remote: cache directory %s: %w", opts.CacheDir, err)
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			opts.Logger.Warn("could not remove a stale temporary list", "path", p, "err", err)
		}
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Fetcher{
		opts:    opts,
		client:  httpsOnly(opts.Client, opts.Timeout),
		log:     opts.Logger,
		metrics: m,
		locks:   make(map[string]*sync.Mutex),
	}, nil
}

// httpsOnly returns a copy of c (the caller's client is not modified) that
// refuses redirects to anything but https://: otherwise a redirect would
// bring back the plain http that Source refuses.
func httpsOnly(c *http.Client, timeout time.Duration) *http.Client {
	var cc http.Client
	if c != nil {
		cc = *c
	} else {
		cc.Timeout = timeout
	}
	next := cc.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s refused: not https", redact(req.URL))
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 { // net/http's default policy
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// CachePath returns where src's copy lives: the host (made filesystem-safe)
// and 16 hex digits of the URL's SHA-256, so two lists on one host never
// share a file and an operator can still tell the files apart.
func (f *Fetcher) CachePath(src Source) string {
	return filepath.Join(f.opts.CacheDir, cacheName(src.URL)+".list")
}

func (f *Fetcher) metaPath(src Source) string {
	return filepath.Join(f.opts.CacheDir, cacheName(src.URL)+".meta")
}

func cacheName(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	host := "list"
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		host = u.Host
	}
	var b strings.Builder
	for _, r := range strings.ToLower(host) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default: // ':' of a port, '[' ']' of IPv6, anything odd
			b.WriteByte('_')
		}
		if b.Len() >= 64 {
			break
		}
	}
	// A leading dot would hide the file and could match the temp glob.
	name := strings.TrimLeft(b.String(), ".")
	return name + "-" + hex.EncodeToString(sum[:8])
}

// lock serializes fetches of one source: two at once would race on its
// files and on the validators in its meta.
func (f *Fetcher) lock(name string) func() {
	f.mu.Lock()
	l, ok := f.locks[name]
	if !ok {
		l = new(sync.Mutex)
		f.locks[name] = l
	}
	f.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Fetch brings src's local copy up to date and returns its path and state.
//
// A 304 or an identical body leaves the copy as it is (State.NotModified).
// When the download fails (network, status other than 200, too big,
// timeout) or the body is rejected (State.Err is a *RejectedError), the
// previous copy is returned with State.Err set and err nil; only with no
// usable copy at all is err returned. A previous copy is usable only if it
// still satisfies src's pins, so a changed pin never falls back on a list
// the new pin would refuse.
func (f *Fetcher) Fetch(ctx context.Context, src Source) (path string, st State, err error) {
	if err := src.validate(); err != nil {
		return "", State{Err: err}, err
	}
	name := cacheName(src.URL)
	defer f.lock(name)()
	path = f.CachePath(src)

	prev, prevErr := f.loadCopy(src)
	if prevErr != nil {
		f.log.Warn("cached copy of a remote list is unusable; fetching it afresh", "url", src.URL, "err", prevErr)
	}

	resp, err := f.download(ctx, src, prev)
	if err == nil && !resp.notModified {
		err = verify(src, resp.body, resp.signature)
	}
	if err == nil {
		if st, err = f.commit(src, prev, resp); err != nil {
			// Part of the commit may have landed: describe what is on disk.
			if prev, prevErr = f.loadCopy(src); prevErr != nil {
				f.log.Warn("cached copy of a remote list is unusable", "url", src.URL, "err", prevErr)
			}
		}
	}
	if err == nil {
		result := resultUpdated
		if st.NotModified {
			result = resultNotModified
			f.log.Debug("remote list not modified", "url", src.URL, "sha256", st.SHA256)
		} else {
			f.log.Info("remote list updated", "url", src.URL, "sha256", st.SHA256, "bytes", len(resp.body))
		}
		f.metrics.record(src.URL, result, st.Fetched)
		return path, st, nil
	}

	var rejected *RejectedError
	result := resultFailed
	if errors.As(err, &rejected) {
		result = resultRejected
	}
	if prev == nil {
		f.metrics.record(src.URL, result, time.Time{})
		f.log.Error("remote list unavailable and no cached copy to fall back on", "url", src.URL, "result", result, "err", err)
		return "", State{Err: err}, err
	}
	st = prev.state()
	st.Err = err
	f.metrics.record(src.URL, result, st.Fetched)
	if rejected != nil {
		f.log.Error("remote list REJECTED; keeping the previous copy", "url", src.URL, "err", err, "kept_sha256", st.SHA256)
	} else {
		f.log.Warn("remote list fetch failed; keeping the previous copy", "url", src.URL, "err", err, "kept_sha256", st.SHA256)
	}
	return path, st, nil
}

// response is what the server said.
type response struct {
	notModified        bool
	body, signature    []byte
	etag, lastModified string
}

// download asks for src, conditionally when there is a usable copy.
func (f *Fetcher) download(ctx context.Context, src Source, prev *meta) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	h := http.Header{}
	if prev != nil {
		if prev.ETag != "" {
			h.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			h.Set("If-Modified-Since", prev.LastModified)
		}
	}
	httpResp, body, err := f.get(ctx, src.URL, h, f.opts.MaxSize)
	if err != nil {
		return response{}, fmt.Errorf("remote list %s: %w", src.URL, err)
	}
	resp := response{
		notModified:  httpResp.StatusCode == http.StatusNotModified,
		body:         body,
		etag:         httpResp.Header.Get("ETag"),
		lastModified: httpResp.Header.Get("Last-Modified"),
	}
	if resp.notModified { // get allows it only for a conditional request
		return resp, nil
	}
	if src.PublicKey != "" {
		sigURL := src.signatureURL()
		_, resp.signature, err = f.get(ctx, sigURL, nil, maxSignatureSize)
		if err != nil {
			return response{}, fmt.Errorf("remote list %s: signature %s: %w", src.URL, sigURL, err)
		}
	}
	return resp, nil
}

// get fetches rawURL and reads at most limit bytes of a 200 body; a 304 is
// returned without a body, any other status is an error. Only 200 counts:
// 206 would be part of a list and 204 an empty one, neither asked for.
func (f *Fetcher) get(ctx context.Context, rawURL string, h http.Header, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL our callers already name.
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && len(h) > 0:
		return resp, nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("fetch: status %s", resp.Status)
	case resp.ContentLength > limit:
		return nil, nil, fmt.Errorf("fetch: body of %d bytes is larger than the limit of %d", resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("fetch: reading body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("fetch: body larger than the limit of %d bytes", limit)
	}
	return resp, body, nil
}

// verify checks body against src's pins.
func verify(src Source, body, signature []byte) error {
	if src.SHA256 != "" {
		sum := sha256.Sum256(body)
		want, _ := hex.DecodeString(src.SHA256) // validated
		if !bytes.Equal(sum[:], want) {
			return &RejectedError{URL: src.URL, Reason: "checksum mismatch",
				Detail: fmt.Sprintf("body sha256 %x, pinned %s", sum, strings.ToLower(src.SHA256))}
		}
	}
	if src.PublicKey != "" {
		key, err := src.publicKey()
		if err != nil {
			return err
		}
		if !minisign.Verify(key, body, signature) {
			return &RejectedError{URL: src.URL, Reason: "bad signature",
				Detail: fmt.Sprintf("not signed by minisign key %X", key.ID())}
		}
	}
	return nil
}
