package blocklist

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"deepseek.com\nexact:cmpassport.com\n",
		"# comment\n\n  deepseek.com # trailing\r\n",
		"\uFEFFbücher.example.\nexact:WWW.Example.ORG.\n",
		"0.0.0.0 deepseek.com\n*.deepseek.com\nhttps://chat.deepseek.com/\n",
		"exact:\nexact:exact:a\na..b\n1.2.3.4\n::1\n",
		strings.Repeat("a", 64) + ".test\n" + strings.Repeat("b.", 127) + "c\n",
		"foo#bar\n\xff\xfe.com\n\u3002\n_dmarc.ü.test\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, warnings, err := Parse("fuzz", bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Parse() error = %v; only I/O may fail", err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if len(entries)+len(warnings) > lines {
			t.Fatalf("%d entries + %d warnings from %d lines", len(entries), len(warnings), lines)
		}
		prevLine := 0
		var canonical strings.Builder
		for _, e := range entries {
			if e.Line <= prevLine || e.Line > lines {
				t.Fatalf("entry %+v: line out of order or beyond %d lines", e, lines)
			}
			prevLine = e.Line
			if got, err := Normalize(e.Name); err != nil || got != e.Name {
				t.Fatalf("entry %+v is not canonical: Normalize = %q, %v", e, got, err)
			}
			if e.Exact {
				canonical.WriteString(exactPrefix)
			}
			canonical.WriteString(e.Name + "\n")
		}
		for _, w := range warnings {
			if w.Line < 1 || w.Line > lines || w.Source != "fuzz" || w.Msg == "" {
				t.Fatalf("bad warning %+v for %d lines", w, lines)
			}
		}
		// Writing the entries back out must give the same entries, clean.
		again, warnings, err := Parse("fuzz", strings.NewReader(canonical.String()))
		if err != nil || len(warnings) != 0 || len(again) != len(entries) {
			t.Fatalf("re-parsing canonical entries: %d entries, warnings %v, error %v; want %d entries", len(again), warnings, err, len(entries))
		}
		for i := range again {
			if again[i].Name != entries[i].Name || again[i].Exact != entries[i].Exact {
				t.Fatalf("round trip changed entry %d: %+v -> %+v", i, entries[i], again[i])
			}
		}
	})
}

// referenceRule and referenceLookup are the obvious string-based matcher the
// trie must agree with: split the query into labels, compare label lists.
type referenceRule struct {
	name  string
	exact bool
}

func referenceLookup(rules []referenceRule, query string) (referenceRule, bool) {
	labels := splitPresentation(query)
	var best referenceRule
	bestDepth := 0
	for _, r := range rules {
		ruleLabels := strings.Split(r.name, ".")
		if len(ruleLabels) > len(labels) || !slices.Equal(ruleLabels, labels[len(labels)-len(ruleLabels):]) {
			continue
		}
		if r.exact {
			if len(ruleLabels) == len(labels) {
				return r, true
			}
			continue
		}
		if len(ruleLabels) > bestDepth {
			best, bestDepth = r, len(ruleLabels)
		}
	}
	return best, bestDepth > 0
}

// splitPresentation splits a presentation-format name into ASCII-lowered
// labels, scanning forwards: a backslash escapes the next octet, which stays
// in the label as written.
func splitPresentation(name string) []string {
	var (
		labels []string
		label  []byte
	)
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '\\' && i+1 < len(name):
			label = append(label, c, lowerByte(name[i+1]))
			i++
		case c == '.':
			labels = append(labels, string(label))
			label = label[:0]
		default:
			label = append(label, lowerByte(c))
		}
	}
	labels = append(labels, string(label))
	// The empty last label is the root, after a trailing dot or in "".
	if labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	return labels
}

func FuzzLookup(f *testing.F) {
	list := []referenceRule{
		{name: "deepseek.com"},
		{name: "apmplus.ap-southeast-1.volces.com", exact: true},
		{name: "example.org"},
		{name: "ads.example.org", exact: true},
		{name: "a.b.example.org"},
		{name: "both.test"},
		{name: "both.test", exact: true},
		{name: "xn--bcher-kva.example"},
		{name: "_dmarc.x.test", exact: true},
		{name: "test"},
		{name: strings.Repeat("l", 63) + ".test"},
		{name: name252()},
	}
	b := NewBuilder()
	for i, r := range list {
		b.Add("fuzz", Entry{Name: r.name, Exact: r.exact, Line: i + 1})
	}
	trie := b.Build()

	for _, seed := range []string{
		"", ".", "..", "deepseek.com.", "CHAT.DeepSeek.com", "notdeepseek.com.", "deepseek.com.example.org.",
		`chat\.deepseek.com.`, `deepseek.com\.`, `\\.deepseek.com.`, `x\\\.deepseek.com`, `a\`, `\`,
		"apmplus.ap-southeast-1.volces.com.", "x.apmplus.ap-southeast-1.volces.com", "volces.com",
		"x.a.b.example.org.", "ads.example.org", "x.ads.example.org", "both.test", "www.both.test.",
		"a..deepseek.com", ".deepseek.com", "deepsee\u212a.com", strings.Repeat("L", 63) + ".TEST.",
		strings.Repeat("l", 64) + ".test", "_DMARC.x.test.", "Y." + name252(), `Y\.` + name252() + ".",
		strings.Repeat(`\000`, 70) + ".deepseek.com",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		got, ok := trie.Lookup(query)
		want, wantOK := referenceLookup(list, query)
		if ok != wantOK || got.Name != want.name || got.Exact != want.exact {
			t.Fatalf("Lookup(%q) = %+v, %v; reference says %+v, %v", query, got, ok, want, wantOK)
		}
		if ok && (got.Source != "fuzz" || list[got.Line-1] != want) {
			t.Fatalf("Lookup(%q) = %+v: wrong source or line for %+v", query, got, want)
		}
	})
}
