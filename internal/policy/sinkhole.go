package policy

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/chain"
)

// Action is how a blocked query is answered.
type Action uint8

const (
	// ActionNXDomain answers NXDOMAIN: apps fail fastest and cleanest.
	ActionNXDomain Action = iota
	// ActionNull answers A 0.0.0.0 and AAAA ::.
	ActionNull
	// ActionIP answers A/AAAA with the address of an information page.
	ActionIP
	// ActionRefused answers REFUSED.
	ActionRefused
)

var actionNames = [...]string{"nxdomain", "null", "ip", "refused"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction reads an action name as written in the configuration.
func ParseAction(s string) (Action, error) {
	for i, name := range actionNames {
		if s == name {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown sinkhole action %q (want nxdomain, null, ip or refused)", s)
}

// Sinkhole is the configured answer for blocked names.
type Sinkhole struct {
	Action Action
	// IPv4 and IPv6 are the information page's addresses for ActionIP. A
	// family left unset is answered NODATA.
	IPv4, IPv6 netip.Addr
	// TTL is how long clients may cache the block: the SOA's TTL and MINIMUM
	// (RFC 2308 §5) and the TTL of synthesised addresses.
	TTL time.Duration
}

func (s Sinkhole) validate() error {
	switch {
	case s.TTL < time.Second:
		return fmt.Errorf("sinkhole TTL %v is below 1s", s.TTL)
	case s.Action == ActionIP && !s.IPv4.IsValid() && !s.IPv6.IsValid():
		return errors.New("sinkhole action ip needs an IPv4 or IPv6 address")
	case s.IPv4.IsValid() && !s.IPv4.Is4():
		return fmt.Errorf("sinkhole IPv4 %s is not an IPv4 address", s.IPv4)
	case s.IPv6.IsValid() && (!s.IPv6.Is6() || s.IPv6.Is4In6()):
		return fmt.Errorf("sinkhole IPv6 %s is not an IPv6 address", s.IPv6)
	}
	return nil
}

// Synthetic SOA names: stable, recognisable in packet captures, and under
// .invalid (RFC 6761) so they can never resolve.
const (
	soaMname = "sinkhole.dijk.invalid."
	soaRname = "soc.dijk.invalid."
)

// answer builds the reply to a blocked query. Every query type gets one
// (RFC 8906): in the address modes, types other than A/AAAA get NODATA, and
// so does every type when nodata is set in NXDOMAIN mode.
func (s Sinkhole) answer(req *chain.Request, rule blocklist.Rule, cur *active, nodata bool) *dns.Msg {
	resp := new(dns.Msg)
	ttl := uint32(s.TTL / time.Second)
	var parts *blockParts
	switch s.Action {
	case ActionRefused:
		resp.Rcode = dns.RcodeRefused
	case ActionNull, ActionIP:
		if rr := s.address(req.Question, ttl); rr != nil {
			resp.Answer = []dns.RR{rr}
		} else {
			parts = cur.partsFor(rule, ttl)
			resp.Ns = parts.ns
		}
	default:
		if !nodata {
			resp.Rcode = dns.RcodeNameError
		}
		parts = cur.partsFor(rule, ttl)
		resp.Ns = parts.ns
	}
	if req.EDNS {
		if parts == nil {
			parts = cur.partsFor(rule, ttl)
		}
		resp.Extra = parts.extra
	}
	return resp
}

// blockParts are the records of a blocked answer that depend only on the
// rule and the sinkhole TTL: the SOA and the OPT carrying the EDE. They are
// kept in the policy's partsTable and shared by the answers for the rule, as
// the chain contract allows (records are never modified once returned). The
// records and the slices holding them live in the one struct, so building
// a set is one allocation and the two strings it needs.
type blockParts struct {
	ns, extra    []dns.RR // capacity capped: an append copies
	rule, source string   // the entry and its list, to tell sets apart
	// soa's owner is the matched entry, an ancestor of (or equal to) the
	// query name, so downstream caches file the negative answer under the
	// blocked zone.
	soa      dns.SOA
	opt      dns.OPT
	ede      dns.EDNS0_EDE
	nsRRs    [1]dns.RR
	extraRRs [1]dns.RR
	options  [1]dns.EDNS0
}

func newBlockParts(rule blocklist.Rule, ttl, serial uint32) *blockParts {
	p := &blockParts{
		soa: dns.SOA{
			Hdr:     dns.RR_Header{Name: dns.Fqdn(rule.Name), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns:      soaMname,
			Mbox:    soaRname,
			Serial:  serial,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  ttl,
		},
		// RFC 8914 code 15 (Blocked: the operator's own policy), with a
		// short machine-readable text naming the list and entry.
		ede: dns.EDNS0_EDE{
			InfoCode:  dns.ExtendedErrorCodeBlocked,
			ExtraText: "blocked: list=" + rule.Source + " rule=" + rule.Name,
		},
	}
	p.rule, p.source = rule.Name, rule.Source
	p.options[0] = &p.ede
	p.opt = dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: p.options[:1:1]}
	p.nsRRs[0] = &p.soa
	p.extraRRs[0] = &p.opt
	p.ns, p.extra = p.nsRRs[:1:1], p.extraRRs[:1:1]
	return p
}

// partsSlots is the number of shared part sets a policy keeps: the hot
// rules of a network fit many times over.
const partsSlots = 4096

// partsTable keeps shared part sets in a fixed array of slots, in pairs:
// a rule's name and TTL pick a pair, and either slot may hold its set, so
// one name under two lists keeps both. A set built for a rule whose pair is
// full replaces one of the two only now and then (partsReplaceOneIn): a
// rule hit again and again gets a slot within a few hits, however many
// rules were hit since the lists loaded, while a flood across a large list,
// each rule hit once, leaves most slots to the rules that were there. The
// table never grows or needs a lock.
type partsTable struct {
	seed  maphash.Seed
	slots *[partsSlots]partsSlot
}

// partsSlot holds a set and a tag from its key's hash. The tag is checked
// first and is only a hint (tag and set are two stores, not one, and the
// set is compared in full), but it saves reading a set that is not the one
// asked for: in a flood across a large list those reads miss the CPU's caches,
// and were 7% of a blocked answer's CPU on the bench's 1M list.
type partsSlot struct {
	tag atomic.Uint32
	set atomic.Pointer[blockParts]
}

const partsReplaceOneIn = 8

func newPartsTable() partsTable {
	return partsTable{seed: maphash.MakeSeed(), slots: new([partsSlots]partsSlot)}
}

// partsFor returns the shared parts for rule and ttl, or new ones when
// neither slot of its pair holds them.
func (a *active) partsFor(rule blocklist.Rule, ttl uint32) *blockParts {
	t := &a.parts
	// The TTL is mixed in by a multiply, not hashed with the name: a
	// second hash (of the list's name too) cost 6% of a blocked answer
	// in BenchmarkBlockedQuery.
	h := maphash.String(t.seed, rule.Name) ^ uint64(ttl)*0x9e3779b97f4a7c15
	tag := uint32(h >> 32)
	pair := t.slots[h%partsSlots&^1:][:2]
	for i := range pair {
		if pair[i].tag.Load() != tag {
			continue
		}
		if p := pair[i].set.Load(); p != nil && p.rule == rule.Name && p.source == rule.Source && p.soa.Hdr.Ttl == ttl {
			return p
		}
	}
	p := newBlockParts(rule, ttl, a.serial)
	switch {
	case pair[0].set.Load() == nil:
		pair[0].store(tag, p)
	case pair[1].set.Load() == nil:
		pair[1].store(tag, p)
	case rand.Uint32()%partsReplaceOneIn == 0:
		pair[h>>63].store(tag, p)
	}
	return p
}

// store puts p in the slot. A reader between the two stores sees a tag
// and a set that do not belong together, and builds its own set.
func (s *partsSlot) store(tag uint32, p *blockParts) {
	s.set.Store(p)
	s.tag.Store(tag)
}

// address returns the sinkhole A or AAAA record for q, or nil when the query
// type or the configuration has none (the caller answers NODATA).
func (s Sinkhole) address(q dns.Question, ttl uint32) dns.RR {
	v4, v6 := s.IPv4, s.IPv6
	if s.Action == ActionNull {
		v4, v6 = netip.IPv4Unspecified(), netip.IPv6Unspecified()
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	switch {
	case q.Qclass != dns.ClassINET:
		return nil
	case q.Qtype == dns.TypeA && v4.IsValid():
		return &dns.A{Hdr: hdr, A: v4.AsSlice()}
	case q.Qtype == dns.TypeAAAA && v6.IsValid():
		return &dns.AAAA{Hdr: hdr, AAAA: v6.AsSlice()}
	}
	return nil
}
