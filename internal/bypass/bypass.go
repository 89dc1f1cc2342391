// Package bypass answers the names that devices use to decide whether to
// route DNS around the network's resolver. Answered here, they keep managed
// devices on Dijk, where the block policy applies:
//
//   - use-application-dns.net: Firefox turns its default DNS-over-HTTPS off
//     when this canary does not resolve (NXDOMAIN). An address such as
//     0.0.0.0 would keep DoH on, so the answer is always NXDOMAIN.
//   - mask.icloud.com, mask-h2.icloud.com: Apple devices turn iCloud
//     Private Relay off, for this network, when these do not resolve.
//   - _dns.resolver.arpa (RFC 9462, DDR): clients ask it to discover an
//     encrypted resolver. Forwarded, it would advertise the upstream's DoH
//     endpoint and invite clients to bypass Dijk; Dijk advertises nothing
//     (NODATA) and never forwards resolver.arpa.
//
// Each signal is a switch; every answer is logged as a bypass event.
package bypass

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

// Source names these built-in rules in hit logs and EDE text.
const Source = "builtin:bypass-signals"

// Options says which signals are answered.
type Options struct {
	FirefoxCanary bool
	PrivateRelay  bool
	DDR           bool
	// TTL is the negative-caching TTL of the answers (SOA TTL and MINIMUM).
	TTL        time.Duration
	Hits       HitLogger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// HitLogger receives one event per answered signal.
type HitLogger interface {
	Log(hitlog.Event)
}

// Handler answers bypass signals and passes every other query on.
type Handler struct {
	opts    Options
	next    chain.Handler
	answers *prometheus.CounterVec
}

// New returns a Handler in front of next.
func New(opts Options, next chain.Handler) (*Handler, error) {
	if opts.TTL < time.Second {
		opts.TTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	h := &Handler{
		opts: opts, next: next,
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "bypass", Name: "signals_total",
			Help: "Queries for resolver-bypass signals answered locally, by signal.",
		}, []string{"signal"}),
	}
	if err := opts.Registerer.Register(h.answers); err != nil {
		return nil, fmt.Errorf("register bypass metrics: %w", err)
	}
	return h, nil
}

// signal is one recognised name and how it is answered.
type signal struct {
	name   string // metric label and hit-log rule name
	zone   string // SOA owner
	nodata bool   // NODATA instead of NXDOMAIN
}

// match recognises a signal by the lower-cased query name.
func (h *Handler) match(name string) (signal, bool) {
	switch {
	case h.opts.FirefoxCanary && name == "use-application-dns.net.":
		return signal{name: "use-application-dns.net", zone: name}, true
	case h.opts.PrivateRelay && (name == "mask.icloud.com." || name == "mask-h2.icloud.com."):
		return signal{name: strings.TrimSuffix(name, "."), zone: name}, true
	case h.opts.DDR && name == "_dns.resolver.arpa.":
		return signal{name: "_dns.resolver.arpa", zone: "resolver.arpa.", nodata: true}, true
	case h.opts.DDR && (name == "resolver.arpa." || strings.HasSuffix(name, ".resolver.arpa.")):
		// Only _dns is defined under resolver.arpa (RFC 9462); nothing else exists.
		return signal{name: "resolver.arpa", zone: "resolver.arpa."}, true
	}
	return signal{}, false
}

// ServeDNS answers signals locally; they never reach the policy or upstream.
func (h *Handler) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	sig, ok := h.match(req.Name)
	if !ok {
		return h.next.ServeDNS(ctx, req)
	}
	req.Outcome = chain.OutcomeBlocked
	ttl := uint32(h.opts.TTL / time.Second)
	resp := &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError}}
	action := "nxdomain"
	if sig.nodata {
		resp.Rcode, action = dns.RcodeSuccess, "nodata"
	}
	resp.Ns = []dns.RR{&dns.SOA{
		Hdr: dns.RR_Header{Name: sig.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "sinkhole.dijk.invalid.", Mbox: "soc.dijk.invalid.",
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: ttl,
	}}
	h.answers.WithLabelValues(sig.name).Inc()
	if h.opts.Hits != nil {
		h.opts.Hits.Log(hitlog.Event{
			Time: req.ReceivedOr(h.opts.Now), Client: req.Client, Transport: req.Transport, QueryID: req.ID,
			Name: req.Name, Type: dns.Type(req.Question.Qtype).String(), Class: dns.Class(req.Question.Qclass).String(),
			Rule: sig.name, Exact: true, Source: Source, Action: action,
			Rcode: dns.RcodeToString[resp.Rcode], Kind: hitlog.KindBypass,
		})
	}
	return resp, nil
}
