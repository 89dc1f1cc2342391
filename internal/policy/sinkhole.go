package policy

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"
	"unsafe"

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
//
// The message and the records only it uses take one allocation: a
// dns.Msg or a blockAnswer, or an ownedAnswer when the policy holds no
// shared parts for the rule, as in a flood across a large list.
func (s Sinkhole) answer(req *chain.Request, rule blocklist.Rule, cur *active, nodata bool) *dns.Msg {
	ttl := uint32(s.TTL / time.Second)
	addr, hasAddr := s.address(req.Question)
	var ans *blockAnswer
	var parts *blockParts
	if req.EDNS || (s.Action != ActionRefused && !hasAddr) {
		var place partsPlace
		if parts, place = cur.parts.lookup(rule, ttl); parts == nil {
			if place.claim() {
				// Alone, not in an ownedAnswer: the table would keep
				// that answer's message alive for the collector to
				// mark, +15% in BenchmarkBlockedQueryAfterFlood.
				parts = new(blockParts).fill(rule, ttl, cur.serial)
				place.store(parts)
			} else {
				own := new(ownedAnswer)
				parts = own.parts.fill(rule, ttl, cur.serial)
				ans = &own.answer
			}
		}
	}
	var resp *dns.Msg
	switch {
	case ans != nil:
		resp = &ans.msg
	case hasAddr:
		ans = new(blockAnswer)
		resp = &ans.msg
	default: // the message alone: half the size of a blockAnswer
		resp = new(dns.Msg)
	}
	switch {
	case s.Action == ActionRefused:
		resp.Rcode = dns.RcodeRefused
	case hasAddr:
		resp.Answer = ans.addressRecord(req.Question, addr, ttl)
	default:
		if s.Action == ActionNXDomain && !nodata {
			resp.Rcode = dns.RcodeNameError
		}
		resp.Ns = parts.ns
	}
	if req.EDNS {
		resp.Extra = parts.extra
	}
	return resp
}

// blockAnswer is a blocked answer's message with room for its address
// record.
type blockAnswer struct {
	msg  dns.Msg
	rrs  [1]dns.RR
	a    dns.A
	aaaa dns.AAAA
	ip   [16]byte
}

// addressRecord fills in the A or AAAA record answering q with addr.
func (b *blockAnswer) addressRecord(q dns.Question, addr netip.Addr, ttl uint32) []dns.RR {
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: ttl}
	b.ip = addr.As16()
	if addr.Is4() {
		b.a = dns.A{Hdr: hdr, A: b.ip[12:16:16]}
		b.rrs[0] = &b.a
	} else {
		b.aaaa = dns.AAAA{Hdr: hdr, AAAA: b.ip[:16:16]}
		b.rrs[0] = &b.aaaa
	}
	return b.rrs[:1:1] // capacity capped: the caller's append copies
}

// ownedAnswer is a blocked answer with parts for itself alone, built when
// its rule has no shared parts and the table keeps none for it now.
type ownedAnswer struct {
	answer blockAnswer
	parts  blockParts
}

// blockParts are the records of a blocked answer that depend only on the
// rule and the sinkhole TTL: the SOA and the OPT carrying the EDE. They are
// kept in the policy's partsTable and shared by the answers for the rule, as
// the chain contract allows (records are never modified once returned).
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
	// text holds the EDE text and, after it, the SOA owner, when the two
	// fit: they then need no allocation of their own.
	text [partsTextLen]byte
}

// partsTextLen fits the EDE text of a builtin or file list's entry (about
// 60 octets) and one from most URLs, and rounds an ownedAnswer up to a
// size class of the Go allocator (768 octets).
const partsTextLen = 192

const (
	edeTextList = "blocked: list="
	edeTextRule = " rule="
)

// fill builds p's records for rule and ttl and returns p.
func (p *blockParts) fill(rule blocklist.Rule, ttl, serial uint32) *blockParts {
	// One string, "blocked: list=SOURCE rule=NAME.", holds both the EDE
	// text (up to NAME) and the SOA owner (NAME.).
	textLen := len(edeTextList) + len(rule.Source) + len(edeTextRule) + len(rule.Name)
	dot := !dns.IsFqdn(rule.Name)
	buf := p.text[:0]
	if textLen+1 > len(p.text) {
		buf = make([]byte, 0, textLen+1)
	}
	buf = append(buf, edeTextList...)
	buf = append(buf, rule.Source...)
	buf = append(buf, edeTextRule...)
	buf = append(buf, rule.Name...)
	if dot {
		buf = append(buf, '.')
	}
	// The bytes are written once, here, before p is published, and never
	// again, as a string's must be.
	joined := unsafe.String(unsafe.SliceData(buf), len(buf))
	// RFC 8914 code 15 (Blocked: the operator's own policy), with a short
	// machine-readable text naming the list and entry.
	p.ede = dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: joined[:textLen]}
	owner := joined[textLen-len(rule.Name):]
	p.soa = dns.SOA{
		Hdr:     dns.RR_Header{Name: owner, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      soaMname,
		Mbox:    soaRname,
		Serial:  serial,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
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

// partsPlace is the pair of slots where a rule's set belongs, found by
// lookup.
type partsPlace struct {
	pair *[2]partsSlot
	slot *partsSlot // the one claimed
	tag  uint32
	hash uint64
}

// lookup returns the shared parts for rule and ttl, or nil and the place
// to offer new ones.
func (t *partsTable) lookup(rule blocklist.Rule, ttl uint32) (*blockParts, partsPlace) {
	// The TTL is mixed in by a multiply, not hashed with the name: a
	// second hash (of the list's name too) cost 6% of a blocked answer
	// in BenchmarkBlockedQuery.
	h := maphash.String(t.seed, rule.Name) ^ uint64(ttl)*0x9e3779b97f4a7c15
	place := partsPlace{pair: (*[2]partsSlot)(t.slots[h%partsSlots&^1:]), tag: uint32(h >> 32), hash: h}
	for i := range place.pair {
		slot := &place.pair[i]
		if slot.tag.Load() != place.tag {
			continue
		}
		if p := slot.set.Load(); p != nil && p.rule == rule.Name && p.source == rule.Source && p.soa.Hdr.Ttl == ttl {
			return p, place
		}
	}
	return nil, place
}

// claim picks the slot for a new set: an empty one of the pair, or when
// the pair is full, one of the two now and then. It reports whether a slot
// was picked.
func (pl *partsPlace) claim() bool {
	switch {
	case pl.pair[0].set.Load() == nil:
		pl.slot = &pl.pair[0]
	case pl.pair[1].set.Load() == nil:
		pl.slot = &pl.pair[1]
	case rand.Uint32()%partsReplaceOneIn == 0:
		pl.slot = &pl.pair[pl.hash>>63]
	default:
		return false
	}
	return true
}

// store puts p, just built, in the claimed slot.
func (pl *partsPlace) store(p *blockParts) { pl.slot.store(pl.tag, p) }

// store puts p in the slot. A reader between the two stores sees a tag
// and a set that do not belong together, and builds its own set.
func (s *partsSlot) store(tag uint32, p *blockParts) {
	s.set.Store(p)
	s.tag.Store(tag)
}

// address returns the sinkhole address answering q, or false when the
// action, the query type or the configuration has none (the caller answers
// NODATA in the address modes).
func (s Sinkhole) address(q dns.Question) (netip.Addr, bool) {
	if s.Action != ActionNull && s.Action != ActionIP || q.Qclass != dns.ClassINET {
		return netip.Addr{}, false
	}
	v4, v6 := s.IPv4, s.IPv6
	if s.Action == ActionNull {
		v4, v6 = netip.IPv4Unspecified(), netip.IPv6Unspecified()
	}
	switch {
	case q.Qtype == dns.TypeA && v4.IsValid():
		return v4, true
	case q.Qtype == dns.TypeAAAA && v6.IsValid():
		return v6, true
	}
	return netip.Addr{}, false
}
