package blocklist

import (
	"fmt"
	"strings"
	"unsafe"
)

// Rule is the list entry a lookup matched.
type Rule struct {
	Name    string // the entry, normalised (e.g. "deepseek.com")
	Exact   bool   // Kind == KindExact, kept for callers that predate Kind
	Kind    Kind
	Action  Action
	Source  string // list reference it came from ("builtin:deepseek", a path)
	Version string // the list's content version when loaded by Load, else ""
	Line    int
}

// Trie is a suffix trie over reversed domain labels (TLD first). It is
// immutable, so any number of goroutines may call Lookup concurrently
// without locking.
//
// Layout: a node is identified by its path, which for reversed labels is
// just the domain suffix it stands for ("com", "deepseek.com"), so the whole
// trie is one hash table from suffix to node, with no child pointers or edge
// table. Following an edge is one read of the next longer suffix, and a
// missing node ends the walk early, as in a pointer trie.
//
// The table is Dijk's own (nodeTable), not a Go map: its slots and the name
// bytes they point into hold no pointers, so the collector never looks
// inside a million-entry list, and a slot takes 16 octets where a map slot
// with a string key took 24, in a map that rounds its size up to a power of
// two. A node's name is a suffix of the rule name that created it, so
// suffix nodes point into the same bytes, and the lines the names were
// parsed from can go. On a 1M-entry list (BenchmarkLoad1M) the trie keeps
// 63 MB where a map[string]node and the line strings kept 91 MB.
type Trie struct {
	nodes nodeTable
	// subdomains holds the "*.name" rules, keyed like nodes. They are rare
	// outside RPZ feeds, so a flag in the node says when to look here
	// instead of every node carrying a third slot.
	subdomains map[string]uint32
	rules      []rule
	sources    []listSource
}

// listSource is one list the rules came from.
type listSource struct {
	name, version string
}

// node holds the rules attached to one name in 8 octets. Each word is 1 +
// an index into Trie.rules (0: no rule) in its low 31 bits and a flag in
// the top bit. Which word a rule sits in says its kind, so lookups never
// read the rules they pass.
type node struct {
	exact  uint32 // flag: some rule lies strictly below this name (see HasBelow)
	suffix uint32 // flag: a subdomains rule for this name is in Trie.subdomains
}

const (
	nodeFlag = 1 << 31
	slotMask = nodeFlag - 1
)

// rule is Rule without the repeated strings: the name is a span of the
// node table's name bytes and the source an index into Trie.sources, since
// a list contributes thousands of rules.
type rule struct {
	nameAt  uint32
	meta    uint32 // source index << 4 | kind << 2 | action
	line    uint32 // a list with more than 4G lines cannot be held in memory anyway
	nameLen uint8
}

// maxSources is how many sources meta has room for.
const maxSources = 1 << 28

func packMeta(source uint32, kind Kind, action Action) uint32 {
	return source<<4 | uint32(kind)<<2 | uint32(action)
}

func (r rule) source() uint32 { return r.meta >> 4 }
func (r rule) kind() Kind     { return Kind(r.meta >> 2 & 3) }
func (r rule) action() Action { return Action(r.meta & 3) }

// Builder collects entries for a Trie.
type Builder struct {
	trie      *Trie
	sourceIDs map[string]uint32
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return newBuilder(listSize{})
}

// newBuilder sizes the builder for a list of about size up front: growing
// a table of a million names rehashes them, which costs more than the
// inserts themselves.
func newBuilder(size listSize) *Builder {
	return &Builder{
		trie: &Trie{
			nodes: newNodeTable(size.lines, size.bytes),
			rules: make([]rule, 0, size.lines),
		},
		sourceIDs: make(map[string]uint32),
	}
}

// Add inserts an entry from the given source. When the same name is added twice with the same
// kind, the first one wins (its Source, Line and Action are kept). e.Allow is
// not looked at: allow entries go into a Trie of their own.
//
// e.Name must be valid per Normalize (as every name from Parse is); it is
// canonicalised here, so "DeepSeek.com." is accepted. Add panics on an
// invalid name, kind or action: only code that bypassed the parsers can
// pass one, and skipping it silently would leave a hole in the firewall.
func (b *Builder) Add(source string, e Entry) {
	name, err := Normalize(e.Name)
	if err == nil {
		e.Kind, err = entryKind(e.Exact, e.Kind)
	}
	if err == nil {
		err = validAction(e.Action)
	}
	if err != nil {
		panic(fmt.Sprintf("blocklist: Builder.Add(%q, line %d): %v", source, e.Line, err))
	}
	e.Name = name
	b.add(source, e)
}

// add inserts an entry whose name is canonical and whose Kind is
// authoritative (the parsers set it; Add derives it from Exact).
func (b *Builder) add(source string, e Entry) {
	t := b.trie
	nodes := &t.nodes
	i, h, found := nodes.find(e.Name)
	var n node
	if found {
		n = nodes.slots[i].node
	}
	var taken bool
	switch e.Kind {
	case KindExact:
		taken = n.exact&slotMask != 0
	case KindSuffix:
		taken = n.suffix&slotMask != 0
	case KindSubdomains:
		taken = n.suffix&nodeFlag != 0
	}
	if taken {
		return
	}
	if len(t.rules) >= slotMask-1 {
		panic("blocklist: more than 2^31 rules in one trie")
	}
	if !found {
		// The name's bytes go in once; its suffixes point into them.
		at := nodes.appendName(e.Name)
		nodes.insert(at, len(e.Name), h)
		// Create the nodes for every proper suffix, longest first, up
		// to one that exists: its own suffixes were made with it. Lookups
		// stop at the first suffix without a node, and the flag tells
		// HasBelow that some rule lies below.
		for dot := strings.IndexByte(e.Name, '.'); dot >= 0; {
			suffix := e.Name[dot+1:]
			j, h, ok := nodes.find(suffix)
			if !ok {
				j = nodes.insert(at+uint32(dot+1), len(suffix), h)
			}
			nodes.slots[j].node.exact |= nodeFlag
			next := strings.IndexByte(suffix, '.')
			if ok || next < 0 {
				break
			}
			dot += next + 1
		}
		// Inserting may have grown the table and moved the name's slot.
		i, _, _ = nodes.find(e.Name)
	}
	slot := uint32(len(t.rules)) + 1
	at := nodes.slots[i].nameAt
	t.rules = append(t.rules, rule{nameAt: at, nameLen: uint8(len(e.Name)), meta: packMeta(b.sourceID(source), e.Kind, e.Action), line: uint32(e.Line)})
	switch e.Kind {
	case KindExact:
		n.exact |= slot
	case KindSuffix:
		n.suffix |= slot
	case KindSubdomains:
		// Its names lie below this one, so HasBelow must say so.
		n.exact |= nodeFlag
		n.suffix |= nodeFlag
		if t.subdomains == nil {
			t.subdomains = make(map[string]uint32)
		}
		t.subdomains[nodes.name(at, len(e.Name))] = slot
	}
	nodes.slots[i].node.exact |= n.exact
	nodes.slots[i].node.suffix |= n.suffix
}

// setVersion records the content version of a source already added.
func (b *Builder) setVersion(source, version string) {
	if id, ok := b.sourceIDs[source]; ok {
		b.trie.sources[id].version = version
	}
}

func (b *Builder) sourceID(source string) uint32 {
	id, ok := b.sourceIDs[source]
	if !ok {
		if len(b.trie.sources) >= maxSources {
			panic("blocklist: more than 2^28 sources in one trie")
		}
		id = uint32(len(b.trie.sources))
		b.trie.sources = append(b.trie.sources, listSource{name: source})
		b.sourceIDs[source] = id
	}
	return id
}

// Build freezes the builder into an immutable trie; the builder must not be used afterwards.
// The builder lets go of the trie, so a stray Add panics instead of racing
// with lookups on a published trie.
func (b *Builder) Build() *Trie {
	t := b.trie
	b.trie, b.sourceIDs = nil, nil
	t.nodes.fit()
	return t
}

// Len returns the number of rules.
func (t *Trie) Len() int {
	return len(t.rules)
}

// Lookup reports the rule that matches name, if any. name is in DNS presentation format as
// github.com/miekg/dns produces it: any letter case, trailing dot optional, labels may contain
// escapes such as `\.` or `\032`. It allocates nothing.
//
// Labels are compared octet for octet after folding A-Z. Escapes are not
// decoded: list labels never contain a backslash, so a label with an escape
// matches no entry, and an escaped dot never splits a label. When several
// rules match, an exact rule for the whole name wins; otherwise the deepest
// match, where a subdomains rule at a name beats a suffix rule at the same
// name, since it says more about the names below.
func (t *Trie) Lookup(name string) (Rule, bool) {
	end := len(name)
	if end > 0 && name[end-1] == '.' && !isEscaped(name, end-1) {
		end--
	}
	if end == 0 {
		return Rule{}, false
	}
	// folded is name[:end] lower-cased, or its last maxNameLen octets: no
	// rule is longer, so a longer suffix cannot match anyway.
	folded := name[max(0, end-maxNameLen):end]
	var buf [maxNameLen]byte
	if hasUpper(folded) {
		n := copy(buf[:], folded)
		for i := range n {
			buf[i] = lowerByte(buf[i])
		}
		// The string views buf only for map reads, which do not retain
		// their key, and never leaves Lookup, so buf can live on the stack.
		folded = unsafe.String(&buf[0], n)
	}
	// Walk from the TLD towards the full name, remembering the deepest
	// rule passed on the way. Label boundaries are found in name, not
	// folded, so a cut-off backslash run cannot change what is escaped.
	best := uint32(0)
	for labelEnd := end; ; {
		start := labelStart(name, labelEnd)
		if end-start > len(folded) {
			break
		}
		key := folded[len(folded)-(end-start):]
		n, ok := t.nodes.get(key)
		if !ok {
			break
		}
		if start == 0 {
			if slot := n.exact & slotMask; slot != 0 {
				return t.rule(slot), true
			}
			if slot := n.suffix & slotMask; slot != 0 {
				best = slot
			}
			break
		}
		if n.suffix&nodeFlag != 0 {
			best = t.subdomains[key]
		} else if slot := n.suffix & slotMask; slot != 0 {
			best = slot
		}
		if n.exact&nodeFlag == 0 {
			break // no rule below this name, so no node either: skip the read
		}
		labelEnd = start - 1
	}
	if best == 0 {
		return Rule{}, false
	}
	return t.rule(best), true
}

// HasBelow reports whether some rule matches names strictly below name and
// not name itself: a rule for a name below it, or a subdomains rule for
// name. Adding a rule marks every proper suffix of its name, so this is one
// map read. It allocates nothing.
func (t *Trie) HasBelow(name string) bool {
	end := len(name)
	if end > 0 && name[end-1] == '.' && !isEscaped(name, end-1) {
		end--
	}
	if end == 0 || end > maxNameLen {
		return false
	}
	folded := name[:end]
	var buf [maxNameLen]byte
	if hasUpper(folded) {
		n := copy(buf[:], folded)
		for i := range n {
			buf[i] = lowerByte(buf[i])
		}
		folded = unsafe.String(&buf[0], n) // map reads do not retain the key
	}
	n, ok := t.nodes.get(folded)
	return ok && n.exact&nodeFlag != 0
}

// rule expands the rule in slot (1 + its index).
func (t *Trie) rule(slot uint32) Rule {
	r := t.rules[slot-1]
	src := t.sources[r.source()]
	kind := r.kind()
	return Rule{Name: t.nodes.name(r.nameAt, int(r.nameLen)), Exact: kind == KindExact, Kind: kind, Action: r.action(), Source: src.name, Version: src.version, Line: int(r.line)}
}

// labelStart returns where the label ending at end begins: just after the
// nearest unescaped dot before end, or 0.
func labelStart(name string, end int) int {
	for i := end - 1; i >= 0; i-- {
		if name[i] == '.' && !isEscaped(name, i) {
			return i + 1
		}
	}
	return 0
}

// isEscaped reports whether name[i] is escaped, that is preceded by an odd
// number of backslashes. Scanning forward with "a backslash escapes the next
// octet" gives the same answer; \DDD needs no special case because digits
// are never dots.
func isEscaped(name string, i int) bool {
	backslashes := 0
	for j := i - 1; j >= 0 && name[j] == '\\'; j-- {
		backslashes++
	}
	return backslashes%2 == 1
}

func hasUpper(s string) bool {
	for i := range len(s) {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
