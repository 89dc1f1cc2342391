package upstream

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

const (
	// dohMediaType is the RFC 8484 §6 media type of requests and answers.
	dohMediaType = "application/dns-message"
	// maxDoHAnswer is the largest DNS message (RFC 8484 §6: a DNS message
	// cannot be larger, and nothing bigger is worth reading).
	maxDoHAnswer = dns.MaxMsgSize
	// maxDoHHeader bounds the answer's HTTP headers.
	maxDoHHeader = 64 << 10
	// dohIdleConns is how many idle connections a DoH upstream keeps; with
	// HTTP/2 one carries every query.
	dohIdleConns = 2
	// dohMaxConns bounds connections when a server only speaks HTTP/1.1,
	// where each query in flight needs its own.
	dohMaxConns = 16
	// h2ReadIdle sends an HTTP/2 PING after this long without a frame, so a
	// connection whose server vanished silently is closed, not reused.
	h2ReadIdle = 15 * time.Second
	h2PingWait = 5 * time.Second
)

// errBadDoHAnswer marks a DoH answer that cannot be used: HTTP status not
// 200, wrong content type, too large, or not a matching DNS message.
var errBadDoHAnswer = errors.New("unusable DoH answer")

// dohClient sends queries to one DoH upstream over one keep-alive client.
type dohClient struct {
	label  string // the configured server string, for errors
	url    string
	client *http.Client
	m      *upstreamMetrics
	closed atomic.Bool
}

// newDoHClient builds the client of srv. Connections always go to srv.Addr
// (never resolved, never through a proxy); TLS verifies srv.ServerName.
func newDoHClient(srv Server, roots *x509.CertPool, m *upstreamMetrics) *dohClient {
	addr := srv.Addr.String()
	dialer := &net.Dialer{}
	tr := &http.Transport{
		Proxy: nil, // HTTPS_PROXY must not redirect upstream DNS
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				m.dials.Inc()
			}
			return conn, err
		},
		TLSClientConfig:        tlsConfig(srv, roots, "h2", "http/1.1"),
		ForceAttemptHTTP2:      true, // a custom DialContext turns it off otherwise
		MaxIdleConnsPerHost:    dohIdleConns,
		MaxConnsPerHost:        dohMaxConns,
		IdleConnTimeout:        idleTimeout,
		MaxResponseHeaderBytes: maxDoHHeader,
		HTTP2:                  &http.HTTP2Config{SendPingTimeout: h2ReadIdle, PingTimeout: h2PingWait},
	}
	return &dohClient{
		label: srv.Raw,
		url:   srv.URL,
		client: &http.Client{
			Transport: tr,
			// A redirect could lead anywhere, resolved by name: refuse it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		m: m,
	}
}

// exchange POSTs q (RFC 8484 §4.1: ID 0, padded) and returns the answer,
// all before deadline.
func (d *dohClient) exchange(ctx context.Context, q query, deadline time.Time) (*dns.Msg, error) {
	if d.closed.Load() {
		return nil, fmt.Errorf("upstream %s: %w", d.label, net.ErrClosed)
	}
	req := newQuery(q)
	req.Id = 0 // RFC 8484 §4.1: HTTP caches then see equal queries as equal
	body, err := packPadded(req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", d.label, err)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	raw, err := d.post(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", d.label, err)
	}
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil || !matches(req, resp) {
		d.m.mismatched.Inc()
		return nil, fmt.Errorf("upstream %s: %w: DNS message does not parse or match the query", d.label, errBadDoHAnswer)
	}
	return resp, nil
}

// post sends body and returns the checked answer body.
func (d *dohClient) post(ctx context.Context, body []byte) ([]byte, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	hreq.Header.Set("Content-Type", dohMediaType)
	hreq.Header.Set("Accept", dohMediaType)
	resp, err := d.client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := checkDoHHeader(resp); err != nil {
		return nil, err
	}
	return readDoHBody(resp.Body)
}

// checkDoHHeader accepts only 200 with the DNS media type: RFC 8484 §4.2.1
// puts DNS errors in a 200 answer, so anything else is the server failing.
func checkDoHHeader(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: HTTP status %s", errBadDoHAnswer, resp.Status)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != dohMediaType {
		return fmt.Errorf("%w: content type %q, want %s", errBadDoHAnswer, ct, dohMediaType)
	}
	return nil
}

// readDoHBody reads at most one DNS message's worth of body.
func readDoHBody(body io.Reader) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(body, maxDoHAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading answer: %w", err)
	}
	if len(raw) > maxDoHAnswer {
		return nil, fmt.Errorf("%w: answer larger than %d octets", errBadDoHAnswer, maxDoHAnswer)
	}
	return raw, nil
}

// close drops the idle connections and refuses new queries; requests in
// flight finish.
func (d *dohClient) close() {
	d.closed.Store(true)
	d.client.CloseIdleConnections()
}
