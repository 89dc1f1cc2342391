// Package policy decides whether a query is blocked. A blocked name is
// answered here, with the configured sinkhole, and never reaches the cache or
// an upstream; everything else goes to the next handler.
package policy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

// HitLogger receives one event per blocked query. It must not block.
type HitLogger interface {
	Log(hitlog.Event)
}

// Options configures a Policy.
type Options struct {
	Sinkhole Sinkhole
	// Hits receives block events; nil logs nothing.
	Hits       HitLogger
	Registerer prometheus.Registerer
	// Now is the clock for hit timestamps; nil means time.Now.
	Now func() time.Time
	// BlockIPs blocks answers whose A/AAAA records, or HTTPS/SVCB address
	// hints, fall in one of these ranges (IP rules, like RPZ rpz-ip).
	BlockIPs []IPRule
}

// IPRule is one range of policy.block_ips and where it was written.
type IPRule struct {
	Prefix netip.Prefix
	Source string // "policy.block_ips" or a file path
	Line   int
}

// Policy is the blocking handler. Its list trie can be replaced at any time
// without locking queries out.
type Policy struct {
	blockIPs atomic.Pointer[[]IPRule]
	next     chain.Handler
	sink     Sinkhole
	hits     HitLogger
	now      func() time.Time
	active   atomic.Pointer[active]
	blocks   *prometheus.CounterVec
	// blocksBy caches blocks' child per list name: WithLabelValues hashes
	// and checks the label on every call, about 9% of a blocked answer's
	// work in BenchmarkDatagramBlocked. List names are few.
	blocksBy sync.Map
}

// Group is the policy of a set of client networks: its own lists and
// sinkhole. Clients in no group get the default group (Name "").
type Group struct {
	Name         string
	Clients      []netip.Prefix
	Block, Allow *blocklist.Trie
	Sinkhole     Sinkhole
}

// decide applies the group's lists to name.
func (g *Group) decide(name string) Decision {
	return Decide(g.Block, g.Allow, name)
}

// nodata reports whether a block of the query name must be NODATA: an
// allowed name lies below it (RFC 8020) or the rule asks for it.
func (g *Group) nodata(name string, rule blocklist.Rule) bool {
	return nodata(g.Allow, name, rule)
}

func nodata(allow *blocklist.Trie, name string, rule blocklist.Rule) bool {
	return allow.HasBelow(name) || rule.Action == blocklist.ActionNoData
}

// active is the policy in force and the SOA serial that identifies it.
type active struct {
	def    *Group
	groups []Group
	serial uint32
	loaded time.Time // when these lists went into force
	// parts holds the shared records of blocked answers; they name the
	// serial, so they live with it.
	parts partsTable
}

// groupFor picks the group of the most specific network containing addr;
// equal networks in two groups are refused when the configuration loads.
func (a *active) groupFor(addr netip.Addr) *Group {
	if g := GroupFor(a.groups, addr); g != nil {
		return g
	}
	return a.def
}

// GroupFor returns the group whose most specific network contains addr, or
// nil when none does (the client is in the default group).
func GroupFor(groups []Group, addr netip.Addr) *Group {
	var best *Group
	bits := -1
	addr = addr.Unmap()
	for i := range groups {
		for _, p := range groups[i].Clients {
			if p.Bits() > bits && p.Contains(addr) {
				best, bits = &groups[i], p.Bits()
			}
		}
	}
	return best
}

// Decision is how the lists decide a name, for answering and explaining.
type Decision struct {
	Blocked bool
	// Block is the block rule that matched (valid when Matched), Allow the
	// exception that overrode it (valid when Overridden).
	Block, Allow        blocklist.Rule
	Matched, Overridden bool
	// NoData: the name is blocked but an allowed name lies below it, so it
	// is answered NODATA rather than NXDOMAIN (RFC 8020).
	NoData bool
}

// Decide applies the block and allow lists to name: a block rule matches
// and no allow rule at the same or a more specific name overrides it.
func Decide(block, allow *blocklist.Trie, name string) Decision {
	var d Decision
	d.Block, d.Matched = block.Lookup(name)
	if !d.Matched {
		return d
	}
	if a, ok := allow.Lookup(name); ok && labels(a.Name) >= labels(d.Block.Name) {
		d.Allow, d.Overridden = a, true
		return d
	}
	d.Blocked = true
	d.NoData = nodata(allow, name, d.Block)
	return d
}

// labels counts the labels of a normalised name (no trailing dot).
func labels(name string) int {
	return strings.Count(name, ".") + 1
}

// New returns a Policy that blocks what block matches, unless allow makes an
// exception (allow may be nil), and passes the rest to next.
func New(opts Options, block, allow *blocklist.Trie, next chain.Handler) (*Policy, error) {
	if block == nil {
		return nil, fmt.Errorf("policy: no block list trie")
	}
	if err := opts.Sinkhole.validate(); err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Policy{
		next: next, sink: opts.Sinkhole, hits: opts.Hits, now: opts.Now,
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Name: "blocks_total",
			Help: "Queries blocked, by the list whose entry matched.",
		}, []string{"list"}),
	}
	if err := opts.Registerer.Register(p.blocks); err != nil {
		return nil, fmt.Errorf("register policy metrics: %w", err)
	}
	p.SetLists(block, allow)
	p.SetBlockIPs(opts.BlockIPs)
	return p, nil
}

// SetBlockIPs replaces the address ranges whose answers are blocked.
func (p *Policy) SetBlockIPs(rules []IPRule) {
	p.blockIPs.Store(&rules)
}

// SetLists makes block and allow the default group's lists (allow may be
// nil), keeping the other groups. Queries already being answered finish
// with the policy they started with.
func (p *Policy) SetLists(block, allow *blocklist.Trie) {
	var groups []Group
	if old := p.active.Load(); old != nil {
		groups = old.groups
	}
	p.store(block, allow, groups)
}

// Current returns the default group's lists in force.
func (p *Policy) Current() (block, allow *blocklist.Trie) {
	cur := p.active.Load()
	return cur.def.Block, cur.def.Allow
}

// Set replaces the default lists and every group in one atomic step.
func (p *Policy) Set(block, allow *blocklist.Trie, groups []Group) error {
	for i := range groups {
		if err := groups[i].Sinkhole.validate(); err != nil {
			return fmt.Errorf("policy group %s: %w", groups[i].Name, err)
		}
		if groups[i].Allow == nil {
			groups[i].Allow = blocklist.NewBuilder().Build()
		}
	}
	p.store(block, allow, groups)
	return nil
}

func (p *Policy) store(block, allow *blocklist.Trie, groups []Group) {
	if allow == nil {
		allow = blocklist.NewBuilder().Build()
	}
	serial := uint32(p.now().Unix())
	if old := p.active.Load(); old != nil && serial <= old.serial {
		serial = old.serial + 1 // caches must see a new serial on every change
	}
	def := &Group{Block: block, Allow: allow, Sinkhole: p.sink}
	p.active.Store(&active{def: def, groups: groups, serial: serial, loaded: p.now(), parts: newPartsTable()})
}

// ServeDNS answers blocked names and forwards the rest.
func (p *Policy) ServeDNS(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
	cur := p.active.Load()
	g := cur.groupFor(req.Client.Addr())
	if d := g.decide(req.Name); d.Blocked {
		return p.block(req, cur, g, d.Block, d.NoData, nil, ""), nil
	}
	resp, err := p.next.ServeDNS(ctx, req)
	if err != nil || resp == nil {
		return resp, err
	}
	// CNAME cloaking: an allowed name that aliases a blocked one is blocked
	// too. Checked on every answer, cached or not, so a list change also
	// applies to aliases already in the cache.
	if i, rule, member, cloaked := cloakedMember(g, resp.Answer); cloaked {
		return p.block(req, cur, g, rule, g.nodata(req.Name, rule), resp.Answer[:i], member), nil
	}
	if ipRule, addr, ok := p.blockedAddress(resp.Answer); ok {
		rule := blocklist.Rule{Name: ipRule.Prefix.String(), Source: ipRule.Source, Line: ipRule.Line}
		return p.block(req, cur, g, rule, g.nodata(req.Name, rule), nil, addr.String()), nil
	}
	return resp, nil
}

// blockedAddress finds the first address in answer (A, AAAA, or an
// HTTPS/SVCB ipv4hint/ipv6hint) inside a block_ips range.
func (p *Policy) blockedAddress(answer []dns.RR) (IPRule, netip.Addr, bool) {
	rules := *p.blockIPs.Load()
	if len(rules) == 0 {
		return IPRule{}, netip.Addr{}, false
	}
	for _, rr := range answer {
		for _, ip := range addresses(rr) {
			addr, ok := netip.AddrFromSlice(ip)
			if !ok {
				continue
			}
			addr = addr.Unmap()
			for _, r := range rules {
				if r.Prefix.Contains(addr) {
					return r, addr, true
				}
			}
		}
	}
	return IPRule{}, netip.Addr{}, false
}

// addresses lists the IP addresses an answer record hands to the client.
func addresses(rr dns.RR) []net.IP {
	switch rr := rr.(type) {
	case *dns.A:
		return []net.IP{rr.A}
	case *dns.AAAA:
		return []net.IP{rr.AAAA}
	case *dns.HTTPS:
		return svcbHints(rr.Value)
	case *dns.SVCB:
		return svcbHints(rr.Value)
	}
	return nil
}

func svcbHints(kvs []dns.SVCBKeyValue) []net.IP {
	var ips []net.IP
	for _, kv := range kvs {
		switch h := kv.(type) {
		case *dns.SVCBIPv4Hint:
			ips = append(ips, h.Hint...)
		case *dns.SVCBIPv6Hint:
			ips = append(ips, h.Hint...)
		}
	}
	return ips
}

// blockCounter returns the blocks counter of the list named source.
func (p *Policy) blockCounter(source string) prometheus.Counter {
	if c, ok := p.blocksBy.Load(source); ok {
		return c.(prometheus.Counter)
	}
	c := p.blocks.WithLabelValues(source)
	p.blocksBy.Store(source, c)
	return c
}

// block answers req with the sinkhole for rule and logs the hit. chain holds
// the aliases that led to a cloaked name, kept in an NXDOMAIN answer as
// RFC 2308 §2.1 (and BIND's RPZ) do; member is the cloaked chain member.
// nodata asks for NODATA instead of NXDOMAIN (RFC 8020: NXDOMAIN would tell
// caches that nothing exists below the name, hiding an allowed child).
func (p *Policy) block(req *chain.Request, cur *active, g *Group, rule blocklist.Rule, nodata bool, aliases []dns.RR, member string) *dns.Msg {
	req.Outcome = chain.OutcomeBlocked
	sink := g.Sinkhole
	if rule.Action != blocklist.ActionDefault {
		sink.Action = ActionNXDomain // an RPZ rule names its own answer
	}
	resp := sink.answer(req, rule, cur, nodata)
	if resp.Rcode == dns.RcodeNameError && len(aliases) > 0 {
		resp.Answer = append(resp.Answer, aliases...)
	}
	p.blockCounter(rule.Source).Inc()
	if p.hits != nil {
		e := p.event(req, rule, resp.Rcode)
		e.Action, e.Via, e.Group, e.ListLoaded = sink.Action.String(), member, g.Name, cur.loaded
		if nodata && sink.Action == ActionNXDomain {
			e.Action = "nodata"
		}
		p.hits.Log(e)
	}
	return resp
}

// cloakedMember finds the first CNAME or DNAME in answer whose owner or
// target is blocked, and returns its position, the rule and the name that
// matched. The query name itself was checked before forwarding.
func cloakedMember(g *Group, answer []dns.RR) (int, blocklist.Rule, string, bool) {
	for i, rr := range answer {
		var owner, target string
		switch rr := rr.(type) {
		case *dns.CNAME:
			owner, target = rr.Hdr.Name, rr.Target
		case *dns.DNAME:
			owner, target = rr.Hdr.Name, rr.Target
		default:
			continue
		}
		if i > 0 { // the first owner is the query name, already allowed
			if d := g.decide(owner); d.Blocked {
				return i, d.Block, strings.TrimSuffix(strings.ToLower(owner), "."), true
			}
		}
		if d := g.decide(target); d.Blocked {
			return i + 1, d.Block, strings.TrimSuffix(strings.ToLower(target), "."), true
		}
	}
	return 0, blocklist.Rule{}, "", false
}

// bypassList is the curated list of public DNS-over-HTTPS endpoints: a
// device asking for one is trying to route around the resolver, which the
// SOC wants to see apart from ordinary blocks.
const bypassList = "builtin:doh-bypass"

func (p *Policy) event(req *chain.Request, rule blocklist.Rule, rcode int) hitlog.Event {
	kind := hitlog.KindBlock
	if rule.Source == bypassList {
		kind = hitlog.KindBypass
	}
	return hitlog.Event{
		Time:        req.ReceivedOr(p.now),
		Client:      req.Client,
		Transport:   req.Transport,
		QueryID:     req.ID,
		Name:        req.Name,
		Type:        typeName(req.Question.Qtype),
		Class:       className(req.Question.Qclass),
		Rule:        rule.Name,
		Exact:       rule.Exact,
		Source:      rule.Source,
		Line:        rule.Line,
		Action:      p.sink.Action.String(),
		Rcode:       dns.RcodeToString[rcode],
		Kind:        kind,
		ListVersion: rule.Version,
	}
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

func className(c uint16) string {
	if s, ok := dns.ClassToString[c]; ok {
		return s
	}
	return fmt.Sprintf("CLASS%d", c)
}
