// Package rpzxfr serves Dijk's active policy as a Response Policy Zone over
// AXFR, so an existing BIND, Unbound or PowerDNS estate can enforce the same
// lists. Transfers need a TSIG signature and come only from configured
// networks: the zone is the organisation's policy, not public data.
package rpzxfr

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/blocklist"
)

// Options configures a Server.
type Options struct {
	// Zone is the RPZ's name, e.g. "rpz.dijk.".
	Zone string
	// Allow are the networks that may transfer the zone.
	Allow []netip.Prefix
	// Key is "name:algorithm:base64secret", e.g.
	// "dijk-xfr:hmac-sha256:c2VjcmV0...".
	Key string
	// Policy returns the block and allow lists in force.
	Policy func() (block, allow *blocklist.Trie)
	// TTL is the zone's record TTL and SOA minimum.
	TTL time.Duration
	Now func() time.Time
}

// Server answers AXFR queries for the zone.
type Server struct {
	opts              Options
	keyName, alg, sec string
}

// New parses the key and checks the options.
func New(opts Options) (*Server, error) {
	if opts.Zone == "" || opts.Policy == nil {
		return nil, errors.New("rpzxfr: zone and policy are required")
	}
	opts.Zone = dns.CanonicalName(opts.Zone)
	name, rest, ok := strings.Cut(opts.Key, ":")
	alg, secret, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || name == "" {
		return nil, errors.New("rpzxfr: key must be name:algorithm:base64secret")
	}
	if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
		return nil, fmt.Errorf("rpzxfr: key secret is not base64: %w", err)
	}
	switch dns.CanonicalName(alg) {
	case dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512:
	default:
		return nil, fmt.Errorf("rpzxfr: TSIG algorithm %q: want hmac-sha256, hmac-sha384 or hmac-sha512", alg)
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{opts: opts, keyName: dns.CanonicalName(name), alg: dns.CanonicalName(alg), sec: secret}, nil
}

// Transfer answers raw, an AXFR (or IXFR, answered with the full zone) for
// the zone, with the packed messages to send in order. ok is false for any
// other query, which the caller answers as usual.
func (s *Server) Transfer(raw []byte, q *dns.Msg, client netip.AddrPort) (msgs [][]byte, ok bool) {
	if len(q.Question) != 1 || dns.CanonicalName(q.Question[0].Name) != s.opts.Zone {
		return nil, false
	}
	if t := q.Question[0].Qtype; t != dns.TypeAXFR && t != dns.TypeIXFR {
		return nil, false
	}
	if !s.allowed(client.Addr()) {
		return [][]byte{s.refuse(q, dns.RcodeRefused)}, true
	}
	tsig := q.IsTsig()
	if tsig == nil || dns.CanonicalName(tsig.Hdr.Name) != s.keyName || dns.CanonicalName(tsig.Algorithm) != s.alg {
		return [][]byte{s.refuse(q, dns.RcodeNotAuth)}, true
	}
	if err := dns.TsigVerify(raw, s.sec, "", false); err != nil {
		return [][]byte{s.refuse(q, dns.RcodeNotAuth)}, true
	}
	out, err := s.zoneMessages(q, tsig.MAC)
	if err != nil {
		return [][]byte{s.refuse(q, dns.RcodeServerFailure)}, true
	}
	return out, true
}

func (s *Server) allowed(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range s.opts.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (s *Server) refuse(q *dns.Msg, rcode int) []byte {
	m := new(dns.Msg).SetRcode(q, rcode)
	b, _ := m.Pack()
	return b
}

// zoneMessages renders the policy as RPZ records and packs them into
// TSIG-signed messages: the SOA first and last, as AXFR requires (RFC 5936).
func (s *Server) zoneMessages(q *dns.Msg, requestMAC string) ([][]byte, error) {
	block, allow := s.opts.Policy()
	var zone bytes.Buffer
	ttl := uint32(s.opts.TTL / time.Second)
	if err := blocklist.WriteRPZ(&zone, s.opts.Zone, uint32(s.opts.Now().Unix()), ttl, block.Rules(), allow.Rules()); err != nil {
		return nil, err
	}
	zp := dns.NewZoneParser(&zone, s.opts.Zone, "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return nil, fmt.Errorf("render zone: %w", err)
	}
	if len(rrs) == 0 || rrs[0].Header().Rrtype != dns.TypeSOA {
		return nil, errors.New("render zone: no SOA")
	}
	rrs = append(rrs, rrs[0]) // the closing SOA

	const perMessage = 500
	var out [][]byte
	mac := requestMAC
	for i := 0; i < len(rrs); i += perMessage {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		m.Answer = rrs[i:min(i+perMessage, len(rrs))]
		m.SetTsig(s.keyName, s.alg, 300, s.opts.Now().Unix())
		b, next, err := dns.TsigGenerate(m, s.sec, mac, i > 0)
		if err != nil {
			return nil, fmt.Errorf("sign transfer: %w", err)
		}
		out, mac = append(out, b), next
	}
	return out, nil
}
