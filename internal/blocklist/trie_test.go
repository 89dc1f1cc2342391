package blocklist

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// buildTrie parses list text as one source and builds a trie, failing the
// test on any warning so fixtures cannot silently lose entries.
func buildTrie(t testing.TB, source, list string) *Trie {
	t.Helper()
	entries, warnings, err := Parse(source, strings.NewReader(list))
	if err != nil {
		t.Fatalf("Parse(%s) error = %v", source, err)
	}
	if len(warnings) != 0 {
		t.Fatalf("Parse(%s) warnings = %v", source, warnings)
	}
	b := NewBuilder()
	for _, e := range entries {
		b.Add(source, e)
	}
	return b.Build()
}

// lookupFixture exercises every matching rule: plain suffix, exact host on
// a shared platform, exact below a suffix, a deeper suffix below a suffix,
// exact and suffix on the same name, IDN, and a maximal label.
func lookupFixture() string {
	return strings.Join([]string{
		"deepseek.com",
		"exact:apmplus.ap-southeast-1.volces.com",
		"example.org",
		"exact:ads.example.org",
		"a.b.example.org",
		"both.test",
		"exact:both.test",
		"bücher.example",
		strings.Repeat("l", 63) + ".test",
		name252(),
	}, "\n")
}

// name252 is a 252-octet name: with one more label in front, a query
// reaches the 253-octet limit that Lookup folds into its buffer.
func name252() string {
	x63 := strings.Repeat("x", 63)
	return x63 + "." + x63 + "." + x63 + "." + strings.Repeat("x", 60)
}

func TestLookup(t *testing.T) {
	trie := buildTrie(t, "fixture", lookupFixture())
	long := strings.Repeat("l", 63)
	tests := []struct {
		name      string
		query     string
		wantRule  string // "" means no match
		wantExact bool
	}{
		// Suffix entries cover the name and everything below it.
		{name: "suffix apex", query: "deepseek.com.", wantRule: "deepseek.com"},
		{name: "suffix apex without trailing dot", query: "deepseek.com", wantRule: "deepseek.com"},
		{name: "suffix child", query: "chat.deepseek.com.", wantRule: "deepseek.com"},
		{name: "suffix grandchild", query: "a.b.deepseek.com.", wantRule: "deepseek.com"},
		{name: "api host", query: "api.deepseek.com", wantRule: "deepseek.com"},

		// Lookalikes are separate names.
		{name: "prefix lookalike", query: "notdeepseek.com.", wantRule: ""},
		{name: "entry as a label prefix of another domain", query: "deepseek.com.evil.net.", wantRule: ""},
		{name: "shorter TLD", query: "deepseek.co.", wantRule: ""},
		{name: "parent TLD", query: "com.", wantRule: ""},
		{name: "truncated label", query: "eepseek.com.", wantRule: ""},
		{name: "hyphenated lookalike", query: "deep-seek.com.", wantRule: ""},

		// Exact entries on a shared platform never reach their neighbours.
		{name: "exact host", query: "apmplus.ap-southeast-1.volces.com.", wantRule: "apmplus.ap-southeast-1.volces.com", wantExact: true},
		{name: "exact host parent platform", query: "volces.com.", wantRule: ""},
		{name: "exact host sibling", query: "other.volces.com.", wantRule: ""},
		{name: "exact host parent", query: "ap-southeast-1.volces.com.", wantRule: ""},
		{name: "exact host child", query: "x.apmplus.ap-southeast-1.volces.com.", wantRule: ""},

		// Case folds for ASCII only.
		{name: "upper case", query: "CHAT.DeepSeek.COM.", wantRule: "deepseek.com"},
		{name: "upper case exact", query: "APMPLUS.AP-SOUTHEAST-1.VOLCES.COM", wantRule: "apmplus.ap-southeast-1.volces.com", wantExact: true},
		{name: "Kelvin sign is not k", query: "deepsee\u212a.com.", wantRule: ""},
		{name: "dotless i is not i", query: "\u0131.deepseek.com.", wantRule: "deepseek.com"},

		// Empty and root names match nothing.
		{name: "empty", query: "", wantRule: ""},
		{name: "root", query: ".", wantRule: ""},
		{name: "two dots", query: "..", wantRule: ""},

		// Labels split on unescaped dots only.
		{name: "escaped dot joins labels", query: `chat\.deepseek.com.`, wantRule: ""},
		{name: "escaped dot without trailing dot", query: `chat\.deepseek.com`, wantRule: ""},
		{name: "escaped dot in entry label", query: `deepseek\.com.`, wantRule: ""},
		{name: "escaped trailing dot is part of the label", query: `deepseek.com\.`, wantRule: ""},
		{name: "escaped dot below the entry", query: `a\.b.deepseek.com.`, wantRule: "deepseek.com"},
		{name: "escaped backslash then real dot", query: `\\.deepseek.com.`, wantRule: "deepseek.com"},
		{name: "escaped backslash before the entry", query: `x\\.deepseek.com.`, wantRule: "deepseek.com"},
		{name: "three backslashes escape the dot", query: `x\\\.deepseek.com.`, wantRule: ""},
		{name: "decimal escape below the entry", query: `my\032host.deepseek.com.`, wantRule: "deepseek.com"},
		{name: "escapes are not decoded", query: `\100eepseek.com.`, wantRule: ""},
		{name: "decimal escape of a dot", query: `chat\046deepseek.com.`, wantRule: ""},

		// The most specific rule wins.
		{name: "deeper suffix beats shallower", query: "x.a.b.example.org.", wantRule: "a.b.example.org"},
		{name: "deeper suffix apex", query: "a.b.example.org.", wantRule: "a.b.example.org"},
		{name: "between the two suffixes", query: "b.example.org.", wantRule: "example.org"},
		{name: "exact beats suffix at the full name", query: "ads.example.org.", wantRule: "ads.example.org", wantExact: true},
		{name: "below an exact falls back to the suffix", query: "x.ads.example.org.", wantRule: "example.org"},
		{name: "exact and suffix on one name: exact at the name", query: "both.test.", wantRule: "both.test", wantExact: true},
		{name: "exact and suffix on one name: suffix below", query: "www.both.test.", wantRule: "both.test"},

		// IDN entries match the A-labels resolvers see.
		{name: "punycode query", query: "xn--bcher-kva.example.", wantRule: "xn--bcher-kva.example"},
		{name: "punycode query upper case", query: "WWW.XN--BCHER-KVA.EXAMPLE", wantRule: "xn--bcher-kva.example"},

		// Label length limits.
		{name: "63-octet label", query: strings.ToUpper(long) + ".test.", wantRule: long + ".test"},
		{name: "64-octet label", query: long + "l.test.", wantRule: ""},
		{name: "64-octet label below an entry", query: long + "l.deepseek.com.", wantRule: "deepseek.com"},
		{name: "empty label below an entry", query: "a..deepseek.com.", wantRule: "deepseek.com"},

		// Names longer than 253 octets in presentation format.
		{name: "long escaped name below an entry", query: strings.Repeat(`\000`, 200) + ".deepseek.com.", wantRule: "deepseek.com"},
		{name: "long upper-case name below an entry", query: strings.Repeat("A.", 200) + "DeepSeek.COM.", wantRule: "deepseek.com"},
		{name: "252-octet entry", query: strings.ToUpper(name252()), wantRule: name252()},
		{name: "label above a 252-octet entry", query: "Y." + name252() + ".", wantRule: name252()},
		// The escaping backslash lies just outside the 253 octets Lookup folds.
		{name: "escaped dot above a 252-octet entry", query: `Y\.` + name252() + ".", wantRule: ""},
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
			if !ok || got.Name != tt.wantRule || got.Exact != tt.wantExact {
				t.Errorf("Lookup(%q) = %+v, %v, want rule %q exact=%v", tt.query, got, ok, tt.wantRule, tt.wantExact)
			}
		})
	}
}

func TestLookupReportsSourceAndLine(t *testing.T) {
	b := NewBuilder()
	b.Add("builtin:deepseek", Entry{Name: "deepseek.com", Line: 30})
	b.Add("/etc/dijk/extra.txt", Entry{Name: "deepseek.com", Line: 1})                                 // duplicate: first wins
	b.Add("/etc/dijk/extra.txt", Entry{Name: "deepseek.com", Exact: true, Line: 2})                    // other flag: kept
	b.Add("/etc/dijk/extra.txt", Entry{Name: "cmpassport.com", Exact: true, Line: 3})                  // new name
	b.Add("builtin:deepseek", Entry{Name: "cmpassport.com", Exact: true, Line: 40})                    // duplicate: first wins
	b.Add("builtin:deepseek", Entry{Name: "cmpassport.com", Line: 41})                                 // other flag: kept
	b.Add("builtin:deepseek", Entry{Name: "apmplus.ap-southeast-1.volces.com", Exact: true, Line: 50}) // new name
	trie := b.Build()

	if got, want := trie.Len(), 5; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	tests := []struct {
		name  string
		query string
		want  Rule
	}{
		{name: "suffix from the first list", query: "chat.deepseek.com.", want: Rule{Name: "deepseek.com", Source: "builtin:deepseek", Line: 30}},
		{name: "exact from the second list", query: "deepseek.com.", want: Rule{Name: "deepseek.com", Exact: true, Kind: KindExact, Source: "/etc/dijk/extra.txt", Line: 2}},
		{name: "exact first added wins", query: "cmpassport.com.", want: Rule{Name: "cmpassport.com", Exact: true, Kind: KindExact, Source: "/etc/dijk/extra.txt", Line: 3}},
		{name: "suffix added after exact", query: "www.cmpassport.com.", want: Rule{Name: "cmpassport.com", Source: "builtin:deepseek", Line: 41}},
		{name: "exact host", query: "apmplus.ap-southeast-1.volces.com.", want: Rule{Name: "apmplus.ap-southeast-1.volces.com", Exact: true, Kind: KindExact, Source: "builtin:deepseek", Line: 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := trie.Lookup(tt.query)
			if !ok || got != tt.want {
				t.Errorf("Lookup(%q) = %+v, %v, want %+v", tt.query, got, ok, tt.want)
			}
		})
	}
}

func TestBuilderAdd(t *testing.T) {
	tests := []struct {
		name      string
		entry     Entry
		query     string
		wantRule  string
		wantPanic bool
	}{
		{name: "non-canonical name is canonicalised", entry: Entry{Name: "DeepSeek.COM."}, query: "chat.deepseek.com", wantRule: "deepseek.com"},
		{name: "IDN name is converted", entry: Entry{Name: "bücher.example"}, query: "xn--bcher-kva.example", wantRule: "xn--bcher-kva.example"},
		{name: "invalid name panics", entry: Entry{Name: "*.deepseek.com"}, wantPanic: true},
		{name: "empty name panics", entry: Entry{Name: ""}, wantPanic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); (r != nil) != tt.wantPanic {
					t.Errorf("Add(%+v) panic = %v, want panic %v", tt.entry, r, tt.wantPanic)
				}
			}()
			b := NewBuilder()
			b.Add("test", tt.entry)
			trie := b.Build()
			if got, ok := trie.Lookup(tt.query); !ok || got.Name != tt.wantRule {
				t.Errorf("Lookup(%q) = %+v, %v, want rule %q", tt.query, got, ok, tt.wantRule)
			}
		})
	}
}

func TestEmptyTrie(t *testing.T) {
	trie := NewBuilder().Build()
	if got := trie.Len(); got != 0 {
		t.Errorf("Len() = %d, want 0", got)
	}
	for _, query := range []string{"", ".", "deepseek.com."} {
		if got, ok := trie.Lookup(query); ok {
			t.Errorf("Lookup(%q) on empty trie = %+v, want no match", query, got)
		}
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	trie := buildTrie(t, "fixture", lookupFixture())
	tests := []struct {
		name  string
		query string
	}{
		{name: "suffix hit", query: "chat.deepseek.com."},
		{name: "exact hit", query: "apmplus.ap-southeast-1.volces.com."},
		{name: "miss", query: "www.example.net."},
		{name: "upper case", query: "CHAT.DEEPSEEK.COM."},
		// Longer than the compiler's 32-byte scratch buffer for strings.
		{name: "upper case 63-octet label", query: strings.Repeat("L", 63) + ".test."},
		{name: "escaped dot", query: `chat\.deepseek.com.`},
		{name: "deep name", query: strings.Repeat("a.", 100) + "deepseek.com."},
		{name: "long presentation name", query: strings.Repeat(`\000`, 200) + ".deepseek.com."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(100, func() {
				trie.Lookup(tt.query)
			})
			if allocs != 0 {
				t.Errorf("Lookup(%q) allocates %.1f times per call, want 0", tt.query, allocs)
			}
		})
	}
}

func TestLookupConcurrent(t *testing.T) {
	trie := buildTrie(t, "fixture", lookupFixture())
	queries := []struct {
		name string
		want string
	}{
		{name: "chat.deepseek.com.", want: "deepseek.com"},
		{name: "volces.com.", want: ""},
		{name: "x.a.b.example.org.", want: "a.b.example.org"},
	}
	const goroutines, rounds = 8, 1000
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				q := queries[(g+i)%len(queries)]
				got, _ := trie.Lookup(q.name)
				if got.Name != q.want {
					errs <- fmt.Errorf("Lookup(%q) = %q, want %q", q.name, got.Name, q.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestHasBelow(t *testing.T) {
	b := NewBuilder()
	for _, e := range []Entry{
		{Name: "status.deepseek.com", Line: 1},
		{Name: "deepseek.com", Line: 2},
		{Name: "a.b.example.org", Exact: true, Line: 3},
	} {
		b.Add("test", e)
	}
	trie := b.Build()
	tests := []struct {
		name string
		want bool
	}{
		{"deepseek.com.", true},
		{"DeepSeek.COM", true},
		{"com.", true},
		{"status.deepseek.com.", false},
		{"x.status.deepseek.com.", false},
		{"chat.deepseek.com.", false},
		{"example.org.", true},
		{"b.example.org.", true},
		{"a.b.example.org.", false},
		{"notdeepseek.com.", false},
		{"", false},
		{".", false},
	}
	for _, tt := range tests {
		if got := trie.HasBelow(tt.name); got != tt.want {
			t.Errorf("HasBelow(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { trie.HasBelow("DEEPSEEK.com.") }); allocs != 0 {
		t.Errorf("HasBelow allocates %v times, want 0", allocs)
	}
}
