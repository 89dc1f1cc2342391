package blocklist

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Rules returns every rule in the trie, sorted by name, then kind, so that
// callers can export or show what is loaded.
func (t *Trie) Rules() []Rule {
	rules := make([]Rule, len(t.rules))
	for i := range t.rules {
		rules[i] = t.rule(uint32(i + 1))
	}
	slices.SortFunc(rules, func(a, b Rule) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Kind, b.Kind))
	})
	return rules
}

// rpzRecord is one owner of the exported zone and the rule that decides it.
type rpzRecord struct {
	owner  string // relative to the origin: "name" or "*.name"
	rank   int    // which rule wins the owner: lower is stronger
	rule   Rule
	target string
}

// WriteRPZ writes block and allow rules (e.g. Trie.Rules of the two tries
// LoadPolicy returns) as a Response Policy Zone named origin, which BIND,
// Unbound, Knot and PowerDNS can load, with a '; source:line' comment on
// each record.
//
// RPZ has no suffix trigger, so a suffix rule becomes two owners, "name" and
// "*.name"; an exact rule is "name" and a subdomains rule "*.name". Blocks
// are "CNAME ." (NXDOMAIN, also for ActionDefault: RPZ cannot say "the
// resolver's sinkhole", and NXDOMAIN is Dijk's default) or "CNAME *."
// (NODATA); exceptions are "CNAME rpz-passthru.". An owner allows one CNAME,
// so where rules meet at one owner the one Dijk would apply is written: an
// exception, then an exact or subdomains rule, then a suffix rule, then the
// first given. Records are in DNS canonical order, so a name's exceptions
// sit next to it and the same rules always give the same bytes.
func WriteRPZ(w io.Writer, origin string, serial, ttl uint32, block, allow []Rule) error {
	zone, err := Normalize(origin)
	if err != nil {
		return fmt.Errorf("RPZ origin: %w", err)
	}
	owners := make(map[string]rpzRecord, len(block)+len(allow))
	add := func(r Rule, isAllow bool) error {
		name, err := Normalize(r.Name)
		if err == nil {
			r.Kind, err = entryKind(r.Exact, r.Kind)
		}
		if err == nil {
			err = validAction(r.Action)
		}
		if err != nil {
			return fmt.Errorf("exporting rule %q from %s line %d: %w", r.Name, r.Source, r.Line, err)
		}
		r.Name, r.Exact = name, r.Kind == KindExact
		// RPZ reads a last label of "rpz-ip", "rpz-nsdname"... as another
		// trigger type, so such a name cannot be a QNAME trigger.
		if label := name[strings.LastIndexByte(name, '.')+1:]; strings.HasPrefix(label, "rpz-") {
			return fmt.Errorf("exporting rule %q from %s line %d: RPZ would read a name ending in %q as a non-QNAME trigger", r.Name, r.Source, r.Line, label)
		}
		// A CNAME owner is the trigger plus the origin, and must fit a name.
		if len(name)+len(wildcardPrefix)+1+len(zone) > maxNameLen {
			return fmt.Errorf("exporting rule %q from %s line %d: too long to sit under origin %q", r.Name, r.Source, r.Line, zone)
		}
		target, rank := ".", 2
		switch {
		case isAllow:
			target, rank = "rpz-passthru.", 0
		case r.Action == ActionNoData:
			target = "*."
		}
		if r.Kind == KindSuffix {
			rank++ // a suffix rule yields to a specific one at either owner
		}
		for _, owner := range rpzOwners(name, r.Kind) {
			if prev, ok := owners[owner]; ok && prev.rank <= rank {
				continue
			}
			owners[owner] = rpzRecord{owner: owner, rank: rank, rule: r, target: target}
		}
		return nil
	}
	for _, r := range block {
		if err := add(r, false); err != nil {
			return err
		}
	}
	for _, r := range allow {
		if err := add(r, true); err != nil {
			return err
		}
	}
	records := make([]rpzRecord, 0, len(owners))
	for _, r := range owners {
		records = append(records, r)
	}
	slices.SortFunc(records, func(a, b rpzRecord) int { return compareCanonical(a.owner, b.owner) })

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "$TTL %d\n$ORIGIN %s.\n", ttl, zone)
	fmt.Fprintf(bw, "@ SOA localhost. hostmaster.localhost. %d 3600 600 86400 %d\n", serial, ttl)
	fmt.Fprintf(bw, "@ NS localhost.\n")
	for _, r := range records {
		fmt.Fprintf(bw, "%s CNAME %s", r.owner, r.target)
		if r.rule.Source != "" || r.rule.Line != 0 {
			fmt.Fprintf(bw, " ; %s:%d", commentSafe(r.rule.Source), r.rule.Line)
		}
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing RPZ: %w", err)
	}
	return nil
}

// rpzOwners returns the RPZ owners that express a rule.
func rpzOwners(name string, kind Kind) []string {
	switch kind {
	case KindExact:
		return []string{name}
	case KindSubdomains:
		return []string{wildcardPrefix + name}
	}
	return []string{name, wildcardPrefix + name}
}

// compareCanonical orders names as DNSSEC does (RFC 4034 §6.1): label by
// label from the right, so a name is followed by the names below it.
func compareCanonical(a, b string) int {
	for a != "" && b != "" {
		ai, bi := strings.LastIndexByte(a, '.'), strings.LastIndexByte(b, '.')
		if c := strings.Compare(a[ai+1:], b[bi+1:]); c != 0 {
			return c
		}
		a, b = a[:max(ai, 0)], b[:max(bi, 0)]
	}
	return cmp.Compare(len(a), len(b))
}

// commentSafe keeps a source name from ending the comment it is written in:
// a newline in a path would start a record of its own in the zone.
func commentSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
