package blocklist

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
)

const benchEntries = 1_000_000

// syntheticList is a deterministic stand-in for a large third-party list:
// mostly registrable domains, some subdomain entries, one in ten exact.
type syntheticList struct {
	text     []byte
	tlds     []string
	suffixes []string // suffix entries
	exacts   []string // exact entries
	rand     *rand.Rand
}

func newSyntheticList(entries int) *syntheticList {
	l := &syntheticList{
		tlds: strings.Fields("com net org io cn ru de uk xyz info top app dev co ai nl fr jp br gov"),
		rand: rand.New(rand.NewPCG(2026, 11)),
	}
	hosts := strings.Fields("www api cdn ads static img m track login chat")
	var text strings.Builder
	text.WriteString("# synthetic benchmark list\n")
	for i := range entries {
		registrable := l.randomDomain()
		switch i % 10 {
		case 0:
			name := hosts[l.rand.IntN(len(hosts))] + "." + registrable
			l.exacts = append(l.exacts, name)
			text.WriteString(exactPrefix + name + "\n")
		case 1, 2:
			name := hosts[l.rand.IntN(len(hosts))] + "." + registrable
			l.suffixes = append(l.suffixes, name)
			text.WriteString(name + "\n")
		default:
			l.suffixes = append(l.suffixes, registrable)
			text.WriteString(registrable + "\n")
		}
	}
	l.text = []byte(text.String())
	return l
}

// randomDomain returns label.tld with a 5..16-octet label; among a million
// of them a repeat is rare, and a name not taken from the list is a miss.
func (l *syntheticList) randomDomain() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-"
	label := make([]byte, 5+l.rand.IntN(12))
	label[0] = alphabet[l.rand.IntN(len(alphabet)-1)] // no hyphen first
	for i := 1; i < len(label); i++ {
		label[i] = alphabet[l.rand.IntN(len(alphabet))]
	}
	return string(label) + "." + l.tlds[l.rand.IntN(len(l.tlds))]
}

// pick returns n query names made by form from random members of pool.
func (l *syntheticList) pick(n int, pool []string, form string) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf(form, pool[l.rand.IntN(len(pool))])
	}
	return names
}

// BenchmarkLookup measures lookups in a 1M-entry trie. Each case runs over
// one name (the bare CPU cost), a hot set of names that mostly stays in CPU
// caches, as a resolver's popular names do, and a cold set large enough
// that most map reads go to main memory.
func BenchmarkLookup(b *testing.B) {
	list := newSyntheticList(benchEntries)
	trie, _, warnings, err := Load([]string{"builtin:synthetic"}, fstest.MapFS{"synthetic.txt": {Data: list.text}})
	if err != nil || len(warnings) != 0 {
		b.Fatalf("Load: %v, %d warnings", err, len(warnings))
	}
	fresh := make([]string, 1<<16)
	for i := range fresh {
		fresh[i] = list.randomDomain()
	}
	cases := []struct {
		name    string
		pool    []string
		form    string
		wantHit bool
	}{
		{name: "hit-suffix", pool: list.suffixes, form: "www.%s.", wantHit: true},
		{name: "hit-exact", pool: list.exacts, form: "%s.", wantHit: true},
		{name: "hit-deep", pool: list.suffixes, form: "a.b.c.d.e.f.%s.", wantHit: true},
		{name: "miss", pool: fresh, form: "www.%s."},
		// Walks three levels (TLD, registrable, exact host) before missing.
		{name: "deep-miss", pool: list.exacts, form: "a.b.c.d.%s."},
	}
	for _, c := range cases {
		for _, set := range []struct {
			name string
			size int
		}{{name: "one", size: 1}, {name: "hot", size: 256}, {name: "cold", size: 1 << 16}} {
			names := list.pick(set.size, c.pool, c.form)
			for _, name := range names {
				if _, ok := trie.Lookup(name); ok != c.wantHit {
					b.Fatalf("%s: Lookup(%q) hit = %v, want %v", c.name, name, ok, c.wantHit)
				}
			}
			b.Run(c.name+"/"+set.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok := trie.Lookup(names[i%len(names)]); ok != c.wantHit {
						b.Fatal("lookup result changed")
					}
					i++
				}
			})
		}
	}
}

// BenchmarkLoad1M measures Load (Parse + Build) of a 1M-entry list already
// in memory, with the heap it keeps (heap-MB: after GC, trie still alive)
// and the garbage it makes on the way (alloc-MB).
func BenchmarkLoad1M(b *testing.B) {
	b.ReportAllocs()
	builtin := fstest.MapFS{"synthetic.txt": {Data: newSyntheticList(benchEntries).text}}
	var retained, allocated, loads uint64
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()

		trie, _, _, err := Load([]string{"builtin:synthetic"}, builtin)

		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if trie.Len() < benchEntries*99/100 {
			b.Fatalf("trie has %d rules, want about %d", trie.Len(), benchEntries)
		}
		retained += after.HeapAlloc - before.HeapAlloc
		allocated += after.TotalAlloc - before.TotalAlloc
		loads++
		b.StartTimer()
	}
	b.ReportMetric(float64(retained)/float64(loads)/(1<<20), "heap-MB")
	b.ReportMetric(float64(allocated)/float64(loads)/(1<<20), "alloc-MB")
}

// BenchmarkLookupRPZ measures lookups in a trie shaped like an imported RPZ
// feed: each suffix entry of the synthetic list becomes the "name" and
// "*.name" pair RPZ needs, so hits below a name go through the subdomains
// map as well as the node map.
func BenchmarkLookupRPZ(b *testing.B) {
	list := newSyntheticList(benchEntries / 5)
	builder := NewBuilder()
	for i, name := range list.suffixes {
		builder.Add("rpz", Entry{Name: name, Kind: KindExact, Action: ActionNXDomain, Line: 2*i + 1})
		builder.Add("rpz", Entry{Name: name, Kind: KindSubdomains, Action: ActionNXDomain, Line: 2*i + 2})
	}
	trie := builder.Build()
	cases := []struct {
		name     string
		form     string
		wantKind Kind
	}{
		{name: "hit-apex", form: "%s.", wantKind: KindExact},
		{name: "hit-below", form: "www.%s.", wantKind: KindSubdomains},
	}
	for _, c := range cases {
		for _, set := range []struct {
			name string
			size int
		}{{name: "hot", size: 256}, {name: "cold", size: 1 << 16}} {
			names := list.pick(set.size, list.suffixes, c.form)
			for _, name := range names {
				if r, ok := trie.Lookup(name); !ok || r.Kind != c.wantKind {
					b.Fatalf("Lookup(%q) = %+v, %v, want a %s rule", name, r, ok, c.wantKind)
				}
			}
			b.Run(c.name+"/"+set.name, func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, ok := trie.Lookup(names[i%len(names)]); !ok {
						b.Fatal("lookup result changed")
					}
					i++
				}
			})
		}
	}
}

// BenchmarkParseFormat measures the parsers on the same names written in
// each format, per line, so a slow format shows against plain.
func BenchmarkParseFormat(b *testing.B) {
	list := newSyntheticList(20_000)
	var plain, hosts, adblock, rpz strings.Builder
	rpz.WriteString("$TTL 300\n$ORIGIN rpz.example.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n")
	for _, name := range list.suffixes {
		plain.WriteString(name + "\n")
		hosts.WriteString("0.0.0.0 " + name + "\n")
		adblock.WriteString("||" + name + "^\n")
		rpz.WriteString(name + " CNAME .\n")
	}
	cases := []struct {
		name   string
		format Format
		text   string
	}{
		{name: "plain", format: FormatPlain, text: plain.String()},
		{name: "hosts", format: FormatHosts, text: hosts.String()},
		{name: "adblock", format: FormatAdblock, text: adblock.String()},
		{name: "rpz", format: FormatRPZ, text: rpz.String()},
		{name: "auto-rpz", format: FormatAuto, text: rpz.String()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				entries, warnings, err := ParseFormat("bench", strings.NewReader(c.text), c.format)
				if err != nil || len(warnings) != 0 || len(entries) != len(list.suffixes) {
					b.Fatalf("ParseFormat(%s) = %d entries, %d warnings, %v", c.name, len(entries), len(warnings), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(list.suffixes)), "ns/line")
		})
	}
}
