package blocklist

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestNodeTableAgainstMap inserts names into tables sized right, too small
// (so they grow) and far too large (so Build shrinks them), and checks
// every name, present or not, against a Go map.
func TestNodeTableAgainstMap(t *testing.T) {
	const names = 20_000
	rnd := rand.New(rand.NewPCG(1, 2))
	present := make([]string, names)
	for i := range present {
		present[i] = fmt.Sprintf("n%x.%d.example", rnd.Uint64(), i%7)
	}
	absent := make([]string, names)
	for i := range absent {
		absent[i] = fmt.Sprintf("a%x.example", rnd.Uint64())
	}
	for _, tt := range []struct {
		name string
		hint int
	}{
		{"no hint", 0},
		{"hint too small", 100},
		{"hint right", names},
		{"hint far too large", 50 * names},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tab := newNodeTable(tt.hint, 0)
			want := make(map[string]node)
			for i, name := range present {
				_, h, ok := tab.find(name)
				if ok {
					t.Fatalf("find(%q) before insert: found", name)
				}
				j := tab.insert(tab.appendName(name), len(name), h)
				tab.slots[j].node = node{exact: uint32(i + 1), suffix: uint32(i)}
				want[name] = tab.slots[j].node
			}
			grown := len(tab.slots)
			tab.fit()
			if tt.hint > names && len(tab.slots) >= grown {
				t.Errorf("fit kept %d slots for %d names, want fewer", len(tab.slots), tab.used)
			}
			if tab.used != names || tab.full() {
				t.Errorf("used %d of %d slots, want %d and room", tab.used, len(tab.slots), names)
			}
			for name, n := range want {
				if got, ok := tab.get(name); !ok || got != n {
					t.Fatalf("get(%q) = %v, %v; want %v", name, got, ok, n)
				}
			}
			for _, name := range append(absent, "", "example", "0.example") {
				if got, ok := tab.get(name); ok {
					t.Fatalf("get(%q) = %v, want no node", name, got)
				}
			}
		})
	}
}

// TestSuffixNodesShareNameBytes checks that a name's suffixes point into
// the bytes stored for it, so a list's names are stored once.
func TestSuffixNodesShareNameBytes(t *testing.T) {
	b := NewBuilder()
	b.Add("test", Entry{Name: "a.b.example.org"})
	b.Add("test", Entry{Name: "c.b.example.org"})
	b.Add("test", Entry{Name: "example.org", Exact: true})
	trie := b.Build()
	if got, want := string(trie.nodes.names), "a.b.example.orgc.b.example.org"; got != want {
		t.Errorf("name bytes %q, want %q", got, want)
	}
	if got := trie.nodes.used; got != 5 {
		t.Errorf("%d nodes, want 5 (org, example.org, b.example.org and the two names)", got)
	}
	if r, ok := trie.Lookup("example.org."); !ok || r.Name != "example.org" || r.Kind != KindExact {
		t.Errorf("Lookup(example.org.) = %+v, %v; want the exact rule", r, ok)
	}
}
