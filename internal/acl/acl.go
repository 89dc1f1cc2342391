// Package acl decides who may use the resolver. It is the first link of the
// chain: a DNS firewall must never be an open resolver, so clients outside
// the allowed networks are refused before any other work is done.
package acl

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
)

// DefaultAllow is loopback plus the private and unique-local ranges, where
// office networks live. Public addresses must be allowed explicitly.
func DefaultAllow() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
		"::1/128", "fc00::/7", "fe80::/10",
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

// ACL refuses queries from clients outside Allow.
type ACL struct {
	allow   []netip.Prefix
	next    chain.Handler
	refused prometheus.Counter
}

// New returns an ACL in front of next.
func New(allow []netip.Prefix, reg prometheus.Registerer, next chain.Handler) (*ACL, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a := &ACL{
		allow: allow,
		next:  next,
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "acl", Name: "refused_total",
			Help: "Queries refused because the client is outside access.allow.",
		}),
	}
	if err := reg.Register(a.refused); err != nil {
		return nil, fmt.Errorf("register acl metrics: %w", err)
	}
	return a, nil
}

// Allowed reports whether addr may query.
func (a *ACL) Allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ServeDNS refuses clients outside the allowed networks with REFUSED and,
// over EDNS, Extended DNS Error 18 (Prohibited): the client, not the name,
// is the problem (RFC 8914 §4.19).
func (a *ACL) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	if a.Allowed(req.Client.Addr()) {
		return a.next.ServeDNS(ctx, req)
	}
	a.refused.Inc()
	req.Outcome = chain.OutcomeRefused
	resp := &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: dns.RcodeRefused}}
	if req.EDNS {
		resp.Extra = []dns.RR{&dns.OPT{
			Hdr:    dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT},
			Option: []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeProhibited}},
		}}
	}
	return resp, nil
}
