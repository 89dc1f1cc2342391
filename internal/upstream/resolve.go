package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/miekg/dns"
)

// resolve tries the candidate upstreams in order within f.timeout and
// returns the first good answer, else the first SERVFAIL/REFUSED/NOTIMP
// answer, else an error wrapping ErrAllFailed.
func (f *Forwarder) resolve(ctx context.Context, q query) (*dns.Msg, error) {
	// Every transport bounds its own work by the deadline it is given, so
	// ctx needs no timer of its own.
	deadline := time.Now().Add(f.timeout)

	candidates := f.candidates(f.now())
	var (
		fallback *dns.Msg
		errs     []error
	)
	for i, u := range candidates {
		left := time.Until(deadline)
		if left <= 0 {
			errs = append(errs, fmt.Errorf("%w before trying %s", context.DeadlineExceeded, u.addr))
			break
		}
		// Split what is left so the upstreams after this one still get a try.
		attemptDeadline := time.Now().Add(left / time.Duration(len(candidates)-i))
		resp, err := f.attempt(ctx, u, q, attemptDeadline)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if failedRcode(resp.Rcode) {
			// The upstream is alive but cannot answer this one: try the next
			// without marking it down.
			u.m.rcode.Inc()
			errs = append(errs, fmt.Errorf("upstream %s: answered %s", u.addr, dns.RcodeToString[resp.Rcode]))
			if fallback == nil {
				fallback = resp
			}
			continue
		}
		return cleanAnswer(resp), nil
	}
	if fallback != nil {
		return cleanAnswer(fallback), nil
	}
	return nil, fmt.Errorf("%w: %w", ErrAllFailed, errors.Join(errs...))
}

// failedRcode reports the rcodes after which another upstream may do better.
func failedRcode(rcode int) bool {
	return rcode == dns.RcodeServerFailure || rcode == dns.RcodeRefused || rcode == dns.RcodeNotImplemented
}

// attempt asks u once over its transport; over UDP, it asks again over
// TCP if the answer was truncated. Failures other than an error rcode put u
// in cooldown.
func (f *Forwarder) attempt(ctx context.Context, u *upstream, q query, deadline time.Time) (*dns.Msg, error) {
	start := time.Now()
	resp, err := f.send(ctx, u, q, deadline)
	if err != nil {
		countFailure(u, err)
		f.markDown(u, err)
		return nil, err
	}
	f.markUp(u)
	if resp.Truncated && u.tr == TransportUDP {
		// u is reachable (it answered over UDP), so a failed TCP retry is
		// counted but does not put u in cooldown.
		resp, err = f.exchange(ctx, u, "tcp", q, deadline)
		if err != nil {
			u.m.truncatedTCP.Inc()
			return nil, fmt.Errorf("retrying truncated answer over TCP: %w", err)
		}
	}
	u.m.duration.Observe(time.Since(start).Seconds())
	return resp, nil
}

// send makes one exchange with u over its transport. Encrypted transports
// fail closed: an error never leads to a cleartext retry (RFC 8310 §5).
func (f *Forwarder) send(ctx context.Context, u *upstream, q query, deadline time.Time) (*dns.Msg, error) {
	switch u.tr {
	case TransportTCP:
		return f.exchange(ctx, u, "tcp", q, deadline)
	case TransportTLS:
		return u.dot.exchange(ctx, q, deadline)
	case TransportHTTPS:
		return u.doh.exchange(ctx, q, deadline)
	}
	return f.exchange(ctx, u, "udp", q, deadline)
}

// countFailure counts a failed attempt under its kind.
func countFailure(u *upstream, err error) {
	switch {
	case isTimeout(err):
		u.m.timeout.Inc()
	case isTLSError(err):
		u.m.tls.Inc()
	case errors.Is(err, errBadDoHAnswer):
		u.m.http.Inc()
	default:
		u.m.network.Inc()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}
