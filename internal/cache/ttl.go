package cache

import (
	"math"
	"time"

	"github.com/miekg/dns"
)

// kind says what an answer means for caching.
type kind uint8

const (
	kindNone     kind = iota // not cacheable
	kindPositive             // NOERROR with answer records
	kindNegative             // NXDOMAIN, or NODATA (NOERROR with an empty answer)
	kindFailure              // SERVFAIL from next, or an error from next
)

// classify decides which caching rule applies to msg. It is the single place
// that refuses messages; see ttlFor for why.
func classify(msg *dns.Msg) kind {
	if msg == nil || msg.Truncated {
		return kindNone
	}
	switch msg.Rcode {
	case dns.RcodeSuccess:
		if len(msg.Answer) > 0 {
			return kindPositive
		}
		return kindNegative
	case dns.RcodeNameError:
		return kindNegative
	case dns.RcodeServerFailure:
		return kindFailure
	default:
		return kindNone
	}
}

// ttlPolicy holds the clamps. Its methods are pure functions of the policy
// and their arguments, so the rules can be tested without a Cache.
type ttlPolicy struct {
	min, max uint32        // seconds; max 0 means no upper clamp
	servfail time.Duration // lifetime of failure entries, already defaulted and capped
	staleFor time.Duration // how long data entries stay servable after expiry; 0: never
	staleTTL uint32        // seconds; the TTL of every record in a stale answer
}

// ttlFor reports how long msg may be cached and whether it may be cached at all.
//
//   - nil: nothing to store.
//   - TC set: the answer is incomplete by definition; the client is meant to
//     retry over TCP and must get the full answer, not a cached fragment.
//   - NOERROR with answers: the smallest TTL over Answer, Ns and non-OPT Extra,
//     clamped, because no record may outlive its own TTL.
//   - NXDOMAIN / NODATA: only with an SOA in the authority section, since RFC 2308
//     §5 says negative answers without SOA SHOULD NOT be cached (nothing bounds
//     their lifetime). The SOA counts as min(SOA TTL, SOA MINIMUM) (§5); other
//     records, such as CNAMEs before the NXDOMAIN, still bound the lifetime.
//   - SERVFAIL: ServfailTTL, never raised by MinTTL, so a dead upstream is not
//     hammered but recovery is seen quickly (RFC 9520).
//   - Any other rcode (REFUSED, FORMERR, NOTIMP, extended rcodes ...): these
//     describe our exchange with the upstream (policy, format, capability),
//     not the name, so caching them would pin a per-query condition.
//   - A TTL of zero after clamping: the owner asked not to be cached.
func (p ttlPolicy) ttlFor(msg *dns.Msg) (time.Duration, bool) {
	switch classify(msg) {
	case kindPositive:
		return p.recordsTTL(msg, false)
	case kindNegative:
		if !hasSOA(msg.Ns) {
			return 0, false
		}
		return p.recordsTTL(msg, true)
	case kindFailure:
		return p.servfail, p.servfail > 0
	default:
		return 0, false
	}
}

// recordsTTL is the clamped minimum over all stored records of msg.
func (p ttlPolicy) recordsTTL(msg *dns.Msg, negative bool) (time.Duration, bool) {
	lowest := uint32(math.MaxUint32)
	for _, section := range [...][]dns.RR{msg.Answer, msg.Ns, msg.Extra} {
		for _, rr := range section {
			if !storable(rr) {
				continue
			}
			lowest = min(lowest, effectiveTTL(rr, negative))
		}
	}
	if lowest == math.MaxUint32 {
		// Only reachable for a negative answer without records, which
		// hasSOA already refuses; kept so the function stands alone.
		return 0, false
	}
	ttl := p.clamp(lowest)
	return time.Duration(ttl) * time.Second, ttl > 0
}

// clamp applies MinTTL and MaxTTL to a TTL in seconds.
func (p ttlPolicy) clamp(ttl uint32) uint32 {
	if p.max > 0 && ttl > p.max {
		ttl = p.max
	}
	return max(ttl, p.min)
}

// storedTTL is the TTL a record gets in the cache: what it counts down from.
func (p ttlPolicy) storedTTL(rr dns.RR, negative bool) uint32 {
	return p.clamp(effectiveTTL(rr, negative))
}

// effectiveTTL is a record's TTL before clamping. In a negative answer the SOA
// stands for the negative TTL, min(SOA TTL, MINIMUM) per RFC 2308 §5.
func effectiveTTL(rr dns.RR, negative bool) uint32 {
	ttl := sanitizeTTL(rr.Header().Ttl)
	if soa, ok := rr.(*dns.SOA); ok && negative {
		ttl = min(ttl, sanitizeTTL(soa.Minttl))
	}
	return ttl
}

// sanitizeTTL treats TTLs with the top bit set as zero (RFC 2181 §8), so a
// broken upstream cannot pin an entry for 136 years.
func sanitizeTTL(ttl uint32) uint32 {
	if ttl > math.MaxInt32 {
		return 0
	}
	return ttl
}

// storable reports whether rr is data. OPT belongs to the hop (the server
// builds the client's), TSIG signs one message; neither is part of the answer.
func storable(rr dns.RR) bool {
	switch rr.Header().Rrtype {
	case dns.TypeOPT, dns.TypeTSIG:
		return false
	default:
		return true
	}
}

func hasSOA(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			return true
		}
	}
	return false
}

// countdown is the TTL served after elapsed whole seconds, never below zero.
func countdown(stored uint32, elapsed uint32) uint32 {
	if elapsed >= stored {
		return 0
	}
	return stored - elapsed
}

// wholeSeconds converts elapsed time to whole seconds; a clock that went
// backwards counts as no time passed rather than extending TTLs.
func wholeSeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	s := d / time.Second
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// durationTTL converts a clamp option to whole seconds, as DNS TTLs are.
func durationTTL(d time.Duration) uint32 {
	s := d / time.Second
	if s > math.MaxInt32 {
		return math.MaxInt32
	}
	return uint32(s)
}
