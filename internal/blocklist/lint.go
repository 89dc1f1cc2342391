package blocklist

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Finding is a lint result: a line that loads but does nothing or looks
// like a mistake.
type Finding struct {
	Source string
	Line   int
	Msg    string
}

// String formats the finding like a compiler diagnostic, as Warning does.
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s", f.Source, f.Line, f.Msg)
}

// lintKey identifies an entry for duplicate detection. Block and allow
// entries go into different tries, so they never duplicate each other.
type lintKey struct {
	name  string
	kind  Kind
	allow bool
}

// Lint reports the entries of one list (as ParseFormat returns them) that
// change nothing:
//
//   - duplicates: the same name, kind and allow flag as an earlier line
//     (the builder keeps the first, so a different action on the later one
//     is lost, which the finding says);
//   - redundant entries: covered by a broader entry of the same list with
//     the same effect, e.g. "chat.deepseek.com" under "deepseek.com", an
//     exact or "*." entry for a name that has a suffix entry, and a suffix
//     entry whose name already has both an exact and a "*." entry.
//
// An entry below a broader one with a different action, or an exception
// under an exception of its own, is a deliberate override and not reported;
// nor is an exception with nothing to override, since allow lists are
// often files of their own. Findings are ordered by line, then message.
func Lint(source string, entries []Entry) []Finding {
	var findings []Finding
	report := func(line int, format string, args ...any) {
		findings = append(findings, Finding{Source: source, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	index := make(map[lintKey]int, len(entries)) // first entry of each key, into kept
	kept := make([]Entry, 0, len(entries))
	for _, e := range entries {
		kind, err := entryKind(e.Exact, e.Kind)
		if err == nil {
			err = validAction(e.Action)
		}
		if err != nil {
			report(e.Line, "invalid entry %q: %v", e.Name, err)
			continue
		}
		e.Kind, e.Exact = kind, kind == KindExact
		if e.Allow {
			e.Action = ActionDefault // exceptions answer nothing themselves
		}
		key := lintKey{name: e.Name, kind: kind, allow: e.Allow}
		if i, dup := index[key]; dup {
			prev := kept[i]
			msg := fmt.Sprintf("duplicate of line %d: %s", prev.Line, describe(e))
			if prev.Action != e.Action {
				msg += fmt.Sprintf("; its action %s is ignored, the first line's %s applies", e.Action, prev.Action)
			}
			report(e.Line, "%s", msg)
			continue
		}
		index[key] = len(kept)
		kept = append(kept, e)
	}
	find := func(name string, kind Kind, allow bool) int {
		if i, ok := index[lintKey{name: name, kind: kind, allow: allow}]; ok {
			return i
		}
		return -1
	}
	// cover[i] is the entry that would answer for kept[i]'s names without
	// it; an entry is redundant when that entry answers the same way.
	cover := make([]int, len(kept))
	redundant := make([]bool, len(kept))
	for i, e := range kept {
		cover[i] = coveringEntry(e, find)
		redundant[i] = cover[i] >= 0 && kept[cover[i]].Action == e.Action
	}
	for i, e := range kept {
		if e.Kind == KindSuffix {
			// Exact and "*." entries for the name leave the suffix entry
			// nothing, unless they only repeat it (then they are reported).
			exact, below := find(e.Name, KindExact, e.Allow), find(e.Name, KindSubdomains, e.Allow)
			if exact >= 0 && below >= 0 && !redundant[exact] && !redundant[below] {
				report(e.Line, "%s never applies: the exact entry on line %d and the \"*.\" entry on line %d cover the name and every name below it", describe(e), kept[exact].Line, kept[below].Line)
				continue
			}
		}
		if !redundant[i] {
			continue
		}
		// Name the entry that stays: covers may be redundant themselves.
		c := cover[i]
		for redundant[c] {
			c = cover[c]
		}
		report(e.Line, "%s is redundant: %s on line %d already covers it", describe(e), describe(kept[c]), kept[c].Line)
	}
	slices.SortFunc(findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), strings.Compare(a.Msg, b.Msg))
	})
	return findings
}

// coveringEntry returns the index of the entry that would answer for e's
// names if e were gone, following the trie's precedence: a suffix entry for
// the same name (for an exact or "*." entry), else the nearest entry for a
// proper suffix of the name that reaches below it ("*." before suffix at one
// name); -1 if none. Each step goes to a broader entry, so chains of covers end.
func coveringEntry(e Entry, find func(string, Kind, bool) int) int {
	if e.Kind != KindSuffix {
		if i := find(e.Name, KindSuffix, e.Allow); i >= 0 {
			return i
		}
	}
	for name := e.Name; ; {
		dot := strings.IndexByte(name, '.')
		if dot < 0 {
			return -1
		}
		name = name[dot+1:]
		if i := find(name, KindSubdomains, e.Allow); i >= 0 {
			return i
		}
		if i := find(name, KindSuffix, e.Allow); i >= 0 {
			return i
		}
	}
}

// describe names an entry the way its line reads.
func describe(e Entry) string {
	var b strings.Builder
	if e.Allow {
		b.WriteString("exception ")
	}
	switch e.Kind {
	case KindExact:
		b.WriteString("exact entry ")
	case KindSubdomains:
		b.WriteString("subdomains entry ")
	default:
		b.WriteString("entry ")
	}
	name := e.Name
	if e.Kind == KindSubdomains {
		name = wildcardPrefix + name
	}
	fmt.Fprintf(&b, "%q", name)
	if e.Action != ActionDefault {
		fmt.Fprintf(&b, " (%s)", e.Action)
	}
	return b.String()
}
