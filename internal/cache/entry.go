package cache

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
)

// key identifies a cached answer. A struct of comparable fields (not a
// concatenated string) so a lookup builds it without allocating. DO and CD
// are part of it because they change what the upstream returns (RRSIGs,
// unvalidated data).
type key struct {
	name   string
	qtype  uint16
	qclass uint16
	do     bool
	cd     bool
}

func keyFor(req *chain.Request) key {
	return key{
		name:   req.Name,
		qtype:  req.Question.Qtype,
		qclass: req.Question.Qclass,
		do:     req.DO,
		cd:     req.CD,
	}
}

// instant is a point on a cache's clock: the time since the cache was
// made, by Options.Now.
type instant time.Duration

func (a instant) add(d time.Duration) instant { return a + instant(d) }

// entry is one cached answer. Apart from the atomic recheckAt it is never
// modified after newEntry returns, so concurrent hits may read it without
// locking.
type entry struct {
	rcode int
	// records holds the answer, authority and additional records (never
	// OPT or TSIG) with clamped TTLs, packed as a DNS message without
	// question: one allocation the collector need not look into, where
	// copies of the records would be a tree of several per record. A full
	// cache then costs each collection little to mark. Nil for failures.
	records []byte
	ede     []dns.EDNS0_EDE
	// Instants, not time.Time: a Location pointer in each of these would
	// be three more words for the collector to read in every entry.
	stored instant
	expiry instant
	// staleUntil ends the time after expiry in which the entry may be
	// served stale (RFC 8767); it equals expiry for failures, which carry
	// no data, and when serve-stale is off.
	staleUntil instant
	// recheckAt is the instant a refresh that failed may be tried again
	// (0: none failed). It lives on the stale entry because a failure
	// entry stored over it would hide it.
	recheckAt atomic.Int64
	// served is the last fresh answer built from the entry. It is handed
	// out again while the whole seconds elapsed and the client's spelling
	// are the same: records are never modified once returned (chain
	// contract), so a hot name costs one allocation per hit, not one per
	// record.
	served atomic.Pointer[servedAnswer]
}

type servedAnswer struct {
	elapsed           uint32
	spelling          string
	answer, ns, extra []dns.RR
}

// newEntry builds the cache's own copy of msg, or reports that msg must not
// be cached (see ttlPolicy.ttlFor).
func (p ttlPolicy) newEntry(msg *dns.Msg, now instant) (*entry, bool) {
	lifetime, ok := p.ttlFor(msg)
	if !ok {
		return nil, false
	}
	e := &entry{
		rcode:  msg.Rcode,
		ede:    edeOptions(msg.Extra),
		stored: now,
		expiry: now.add(lifetime),
	}
	e.staleUntil = e.expiry
	// A failure carries no data worth serving, only its rcode and EDE.
	if classify(msg) == kindFailure {
		return e, true
	}
	e.staleUntil = e.expiry.add(p.staleFor)
	records, err := p.packRecords(msg, classify(msg) == kindNegative)
	if err != nil {
		// Records that do not pack would not reach a client either.
		return nil, false
	}
	e.records = records
	return e, true
}

// failureEntry remembers that next returned an error.
func failureEntry(now instant, lifetime time.Duration) *entry {
	expiry := now.add(lifetime)
	return &entry{rcode: dns.RcodeServerFailure, stored: now, expiry: expiry, staleUntil: expiry}
}

// packRecords packs msg's data records, uncompressed, and sets each
// record's TTL in the packed bytes to the TTL it is stored with. The records
// themselves are shared and left as they are.
func (p ttlPolicy) packRecords(msg *dns.Msg, negative bool) ([]byte, error) {
	data := dns.Msg{Answer: storableOnly(msg.Answer), Ns: storableOnly(msg.Ns), Extra: storableOnly(msg.Extra)}
	wire, err := data.Pack()
	if err != nil {
		return nil, fmt.Errorf("pack records: %w", err)
	}
	off := headerLen
	for _, section := range [][]dns.RR{data.Answer, data.Ns, data.Extra} {
		for _, rr := range section {
			ttlAt, end, ok := recordBounds(wire, off)
			if !ok {
				return nil, fmt.Errorf("pack records: %s record at offset %d is cut short", dns.TypeToString[rr.Header().Rrtype], off)
			}
			binary.BigEndian.PutUint32(wire[ttlAt:], p.storedTTL(rr, negative))
			off = end
		}
	}
	return wire, nil
}

// storableOnly returns rrs without the records storable refuses, as rrs
// itself when there are none.
func storableOnly(rrs []dns.RR) []dns.RR {
	for i, rr := range rrs {
		if storable(rr) {
			continue
		}
		out := slices.Clone(rrs[:i])
		for _, rr := range rrs[i+1:] {
			if storable(rr) {
				out = append(out, rr)
			}
		}
		return out
	}
	return rrs
}

// headerLen is the size of a DNS message header; records start after it in
// entry.records, which has no question.
const headerLen = 12

// recordBounds finds, in an uncompressed message, the TTL of the record
// starting at off and where the record ends.
func recordBounds(wire []byte, off int) (ttlAt, end int, ok bool) {
	for off < len(wire) && wire[off] != 0 {
		off += 1 + int(wire[off])
	}
	// The root label, type and class, TTL, RDLENGTH.
	if off+11 > len(wire) {
		return 0, 0, false
	}
	ttlAt = off + 5
	end = off + 11 + int(binary.BigEndian.Uint16(wire[off+9:]))
	return ttlAt, end, end <= len(wire)
}

// edeOptions keeps the Extended DNS Errors of any OPT in extra: the contract
// lets them travel to the server, which puts them in the client's OPT.
func edeOptions(extra []dns.RR) []dns.EDNS0_EDE {
	var out []dns.EDNS0_EDE
	for _, rr := range extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			continue
		}
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, *ede)
			}
		}
	}
	return out
}

func (e *entry) expired(now instant) bool {
	return now >= e.expiry
}

// staleServable reports whether the expired entry may still be served stale.
func (e *entry) staleServable(now instant) bool {
	return now < e.staleUntil
}

// failedRefresh remembers that a refresh failed at now, so that for wait
// more queries are answered stale without asking next.
func (e *entry) failedRefresh(now instant, wait time.Duration) {
	e.recheckAt.Store(int64(now.add(wait)))
}

// recheckPending reports whether a failed refresh is too recent to retry.
func (e *entry) recheckPending(now instant) bool {
	return int64(now) < e.recheckAt.Load()
}

// ttlRule says how served TTLs derive from stored ones: counted down by
// elapsed seconds for fresh answers, or all set to staleTTL for stale ones.
type ttlRule struct {
	elapsed  uint32
	stale    bool
	staleTTL uint32
}

func (r ttlRule) ttl(stored uint32) uint32 {
	if r.stale {
		return r.staleTTL
	}
	return countdown(stored, r.elapsed)
}

// serve returns the answer for req from e, as the chain contract allows:
// the message is the caller's, its records are shared. TTLs count down from
// the stored (clamped) TTLs, and answer records owned by the query name get
// the client's spelling back (DNS 0x20).
func (e *entry) serve(now instant, req *chain.Request) (*dns.Msg, error) {
	elapsed := wholeSeconds(time.Duration(now - e.stored))
	if s := e.served.Load(); s != nil && s.elapsed == elapsed && s.spelling == req.Question.Name {
		return &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: e.rcode}, Answer: s.answer, Ns: s.ns, Extra: s.extra}, nil
	}
	m, err := e.build(req, ttlRule{elapsed: elapsed})
	if err != nil {
		return nil, err
	}
	e.served.Store(&servedAnswer{elapsed: elapsed, spelling: req.Question.Name, answer: m.Answer, ns: m.Ns, extra: m.Extra})
	return m, nil
}

// serveStale is serve for an expired entry (RFC 8767 §4): every record gets
// ttl, and an EDE says the answer is stale, 19 for NXDOMAIN and 3 otherwise
// (RFC 8914 §4.4, §4.20).
func (e *entry) serveStale(req *chain.Request, ttl uint32) (*dns.Msg, error) {
	return e.build(req, ttlRule{stale: true, staleTTL: ttl})
}

func (e *entry) staleCode() uint16 {
	if e.rcode == dns.RcodeNameError {
		return dns.ExtendedErrorCodeStaleNXDOMAINAnswer
	}
	return dns.ExtendedErrorCodeStaleAnswer
}

// build unpacks e's records into a new answer for req. It fails only if
// miekg/dns cannot unpack what it packed for newEntry.
func (e *entry) build(req *chain.Request, rule ttlRule) (*dns.Msg, error) {
	m := &dns.Msg{}
	m.Rcode = e.rcode
	var na, nn, nx int
	if len(e.records) >= headerLen {
		na = int(binary.BigEndian.Uint16(e.records[6:]))
		nn = int(binary.BigEndian.Uint16(e.records[8:]))
		nx = int(binary.BigEndian.Uint16(e.records[10:]))
	}
	total := na + nn + nx
	if len(e.ede) > 0 || rule.stale {
		total++
	}
	if total == 0 {
		return m, nil
	}
	// One backing array for all sections; capacities are capped so that a
	// caller appending to one section cannot overwrite the next.
	rrs := make([]dns.RR, total)
	off := headerLen
	for i := range na + nn + nx {
		rr, next, err := dns.UnpackRR(e.records, off)
		if err != nil {
			return nil, fmt.Errorf("cache: unpack stored record %d of %s: %w", i, req.Question.Name, err)
		}
		h := rr.Header()
		h.Ttl = rule.ttl(h.Ttl)
		if i < na && equalFoldASCII(h.Name, req.Name) {
			h.Name = req.Question.Name
		}
		rrs[i], off = rr, next
	}
	switch {
	case rule.stale:
		rrs[total-1] = ednsWith(e.ede, e.staleCode())
	case len(e.ede) > 0:
		rrs[total-1] = ednsWith(e.ede, 0)
	}
	if na > 0 {
		m.Answer = rrs[:na:na]
	}
	if nn > 0 {
		m.Ns = rrs[na : na+nn : na+nn]
	}
	if total > na+nn {
		m.Extra = rrs[na+nn : total : total]
	}
	return m, nil
}

// ednsWith is a bare OPT carrying only the EDE options; the server reads no
// more from it (chain contract) and builds the client-facing OPT itself.
// A non-zero add is appended unless ede already holds that code (an upstream
// may itself have answered stale).
func ednsWith(ede []dns.EDNS0_EDE, add uint16) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.Option = make([]dns.EDNS0, 0, len(ede)+1)
	for i := range ede {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: ede[i].InfoCode, ExtraText: ede[i].ExtraText})
		if ede[i].InfoCode == add {
			add = 0
		}
	}
	if add != 0 {
		opt.Option = append(opt.Option, &dns.EDNS0_EDE{InfoCode: add})
	}
	return opt
}

// equalFoldASCII compares DNS names case-insensitively for ASCII letters
// only (RFC 4343); strings.EqualFold would also fold Unicode, e.g. the Kelvin
// sign into "k".
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
