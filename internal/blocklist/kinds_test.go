package blocklist

import (
	"slices"
	"strings"
	"testing"
)

// kindsFixture has every kind and action, alone and together on one name.
func kindsFixture(t testing.TB) *Trie {
	t.Helper()
	b := NewBuilder()
	for i, e := range []Entry{
		{Name: "apex.test", Kind: KindExact, Action: ActionNXDomain},            // RPZ "apex.test CNAME ." alone
		{Name: "below.test", Kind: KindSubdomains, Action: ActionNXDomain},      // RPZ "*.below.test CNAME ." alone
		{Name: "both.test", Kind: KindExact, Action: ActionNXDomain},            // both lines: suffix behaviour
		{Name: "both.test", Kind: KindSubdomains, Action: ActionNoData},         //
		{Name: "mixed.test", Kind: KindSuffix},                                  // suffix, with a subdomains rule
		{Name: "mixed.test", Kind: KindSubdomains, Action: ActionNoData},        // beating it below the name
		{Name: "deep.below.test", Kind: KindSuffix, Action: ActionNoData},       // deeper suffix beats subdomains
		{Name: "x.deep.below.test", Kind: KindSubdomains},                       // and a deeper subdomains again
		{Name: "sfx.test", Kind: KindSuffix, Action: ActionNXDomain},            //
		{Name: "in.sfx.test", Kind: KindSubdomains, Action: ActionNoData},       // subdomains under a suffix
		{Name: "ex.sfx.test", Exact: true, Action: ActionNoData},                // Exact without Kind, as old callers write
		{Name: "sub.ex.sfx.test", Kind: KindSubdomains, Action: ActionNXDomain}, //
	} {
		e.Line = i + 1
		b.Add("kinds", e)
	}
	return b.Build()
}

func TestLookupKindsAndActions(t *testing.T) {
	trie := kindsFixture(t)
	tests := []struct {
		name       string
		query      string
		wantRule   string // "" means no match
		wantKind   Kind
		wantAction Action
	}{
		{name: "exact alone: apex", query: "apex.test.", wantRule: "apex.test", wantKind: KindExact, wantAction: ActionNXDomain},
		{name: "exact alone: child not blocked", query: "chat.apex.test.", wantRule: ""},
		{name: "subdomains alone: apex not blocked", query: "below.test.", wantRule: ""},
		{name: "subdomains alone: child", query: "chat.below.test.", wantRule: "below.test", wantKind: KindSubdomains, wantAction: ActionNXDomain},
		{name: "subdomains alone: grandchild", query: "a.chat.below.test.", wantRule: "below.test", wantKind: KindSubdomains, wantAction: ActionNXDomain},
		{name: "subdomains: empty label below", query: ".below.test.", wantRule: "below.test", wantKind: KindSubdomains, wantAction: ActionNXDomain},
		{name: "both: apex takes the exact rule", query: "both.test.", wantRule: "both.test", wantKind: KindExact, wantAction: ActionNXDomain},
		{name: "both: child takes the subdomains rule", query: "www.both.test.", wantRule: "both.test", wantKind: KindSubdomains, wantAction: ActionNoData},
		{name: "suffix and subdomains: apex takes the suffix", query: "mixed.test.", wantRule: "mixed.test", wantKind: KindSuffix, wantAction: ActionDefault},
		{name: "suffix and subdomains: subdomains wins below", query: "a.mixed.test.", wantRule: "mixed.test", wantKind: KindSubdomains, wantAction: ActionNoData},
		{name: "deeper suffix beats shallower subdomains", query: "deep.below.test.", wantRule: "deep.below.test", wantKind: KindSuffix, wantAction: ActionNoData},
		{name: "deeper suffix below", query: "a.deep.below.test.", wantRule: "deep.below.test", wantKind: KindSuffix, wantAction: ActionNoData},
		{name: "deeper subdomains apex falls to the suffix", query: "x.deep.below.test.", wantRule: "deep.below.test", wantKind: KindSuffix, wantAction: ActionNoData},
		{name: "deeper subdomains below", query: "y.x.deep.below.test.", wantRule: "x.deep.below.test", wantKind: KindSubdomains, wantAction: ActionDefault},
		{name: "suffix apex", query: "sfx.test.", wantRule: "sfx.test", wantKind: KindSuffix, wantAction: ActionNXDomain},
		{name: "subdomains under suffix: its apex keeps the suffix", query: "in.sfx.test.", wantRule: "sfx.test", wantKind: KindSuffix, wantAction: ActionNXDomain},
		{name: "subdomains under suffix: below", query: "a.in.sfx.test.", wantRule: "in.sfx.test", wantKind: KindSubdomains, wantAction: ActionNoData},
		{name: "exact from Exact flag", query: "ex.sfx.test.", wantRule: "ex.sfx.test", wantKind: KindExact, wantAction: ActionNoData},
		{name: "below exact falls to subdomains", query: "sub.ex.sfx.test.", wantRule: "sfx.test", wantKind: KindSuffix, wantAction: ActionNXDomain},
		{name: "below that subdomains", query: "a.sub.ex.sfx.test.", wantRule: "sub.ex.sfx.test", wantKind: KindSubdomains, wantAction: ActionNXDomain},
		{name: "upper case", query: "WWW.BOTH.TEST", wantRule: "both.test", wantKind: KindSubdomains, wantAction: ActionNoData},
		{name: "unrelated", query: "test.", wantRule: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := trie.Lookup(tt.query)
			if tt.wantRule == "" {
				if ok {
					t.Errorf("Lookup(%q) = %+v, want no match", tt.query, got)
				}
				return
			}
			if !ok || got.Name != tt.wantRule || got.Kind != tt.wantKind || got.Action != tt.wantAction || got.Exact != (tt.wantKind == KindExact) {
				t.Errorf("Lookup(%q) = %+v, %v, want %s %s %s", tt.query, got, ok, tt.wantRule, tt.wantKind, tt.wantAction)
			}
		})
	}
}

func TestLookupKindsAllocatesNothing(t *testing.T) {
	trie := kindsFixture(t)
	for _, query := range []string{"a.chat.below.test.", "WWW.BOTH.TEST.", "apex.test.", "y.x.deep.below.test."} {
		t.Run(query, func(t *testing.T) {
			if allocs := testing.AllocsPerRun(100, func() { trie.Lookup(query) }); allocs != 0 {
				t.Errorf("Lookup(%q) allocates %.1f times per call, want 0", query, allocs)
			}
		})
	}
}

func TestHasBelowSubdomains(t *testing.T) {
	trie := kindsFixture(t)
	tests := []struct {
		name  string
		query string
		want  bool
	}{
		// A subdomains rule covers names below its own, so an exception
		// there must make a block of the name itself NODATA, not NXDOMAIN.
		{name: "subdomains rule on the name", query: "below.test.", want: true},
		{name: "exact rule only", query: "apex.test.", want: false},
		{name: "parent of rules", query: "test.", want: true},
		{name: "leaf subdomains rule", query: "x.deep.below.test.", want: true},
		{name: "below everything", query: "a.apex.test.", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trie.HasBelow(tt.query); got != tt.want {
				t.Errorf("HasBelow(%q) = %v, want %v", tt.query, got, tt.want)
			}
		})
	}
}

func TestBuilderAddKindsAndDuplicates(t *testing.T) {
	b := NewBuilder()
	b.Add("one", Entry{Name: "a.test", Kind: KindSubdomains, Action: ActionNoData, Line: 1})
	b.Add("two", Entry{Name: "a.test", Kind: KindSubdomains, Action: ActionNXDomain, Line: 2}) // duplicate: first wins
	b.Add("two", Entry{Name: "a.test", Kind: KindExact, Line: 3})
	b.Add("two", Entry{Name: "a.test", Exact: true, Kind: KindExact, Line: 4}) // duplicate of line 3
	b.Add("two", Entry{Name: "a.test", Line: 5})
	trie := b.Build()
	if got := trie.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
	want := []Rule{
		{Name: "a.test", Kind: KindSuffix, Source: "two", Line: 5},
		{Name: "a.test", Exact: true, Kind: KindExact, Source: "two", Line: 3},
		{Name: "a.test", Kind: KindSubdomains, Action: ActionNoData, Source: "one", Line: 1},
	}
	if got := trie.Rules(); !slices.Equal(got, want) {
		t.Errorf("Rules() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestBuilderAddRejectsContradictions(t *testing.T) {
	tests := []struct {
		name  string
		entry Entry
		want  string
	}{
		{name: "exact subdomains", entry: Entry{Name: "a.test", Exact: true, Kind: KindSubdomains}, want: "Exact set on a subdomains entry"},
		{name: "unknown kind", entry: Entry{Name: "a.test", Kind: 7}, want: "invalid kind 7"},
		{name: "unknown action", entry: Entry{Name: "a.test", Action: 7}, want: "invalid action 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if msg, _ := r.(string); !strings.Contains(msg, tt.want) {
					t.Errorf("Add(%+v) panic = %v, want one containing %q", tt.entry, r, tt.want)
				}
			}()
			NewBuilder().Add("test", tt.entry)
		})
	}
}

func TestRulesSorted(t *testing.T) {
	trie := kindsFixture(t)
	rules := trie.Rules()
	if len(rules) != trie.Len() {
		t.Fatalf("Rules() has %d rules, Len() = %d", len(rules), trie.Len())
	}
	for i := 1; i < len(rules); i++ {
		a, b := rules[i-1], rules[i]
		if a.Name > b.Name || a.Name == b.Name && a.Kind >= b.Kind {
			t.Errorf("Rules() not sorted by name, then kind: %+v before %+v", a, b)
		}
	}
	for _, r := range rules {
		if r.Source != "kinds" || r.Line == 0 || r.Exact != (r.Kind == KindExact) {
			t.Errorf("Rules() rule %+v lacks its source, line or a consistent Exact", r)
		}
	}
	if got := NewBuilder().Build().Rules(); len(got) != 0 {
		t.Errorf("empty trie Rules() = %+v", got)
	}
}
