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
		"127.0.0.1 localhost\n0.0.0.0 a.test b.test # c\n192.168.1.1 r.test\n::1 ip6-localhost x.test\n",
		"[Adblock Plus 2.0]\n! c\n||a.test^\n@@||b.a.test^\n|c.test^\n||d.test^$important\nx##.ad\n||*.e.test^\n/re/\n",
		"$TTL 300\n$ORIGIN rpz.example.\n@ SOA a. b. (\n 1 2 3 4 5 )\n@ NS a.\nx.test CNAME .\n*.x.test CNAME *.\nok.x.test CNAME rpz-passthru.\n  CNAME rpz-drop.\n1.0.0.127.rpz-ip CNAME .\n",
		"a.test CNAME . (\nb.test A 1.2.3.4\n) )\n\"q;(\" x\n\\",
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
		for f := FormatAuto; f <= FormatRPZ; f++ {
			checkParseFormat(t, f, data, lines)
		}
	})
}

// checkParseFormat parses data in format f and checks what any list must
// give: no error, valid entries in line order, warnings naming real lines,
// and entries that build a trie, lint, export and read back cleanly.
func checkParseFormat(t *testing.T, f Format, data []byte, lines int) {
	entries, warnings, err := ParseFormat("fuzz", bytes.NewReader(data), f)
	if err != nil {
		t.Fatalf("ParseFormat(%s) error = %v; only I/O may fail", f, err)
	}
	prevLine := 0
	var plain strings.Builder
	block, allow := NewBuilder(), NewBuilder()
	for _, e := range entries {
		if e.Line < prevLine || e.Line < 1 || e.Line > lines {
			t.Fatalf("%s entry %+v: line out of order or beyond %d lines", f, e, lines)
		}
		prevLine = e.Line
		if got, err := Normalize(e.Name); err != nil || got != e.Name {
			t.Fatalf("%s entry %+v is not canonical: Normalize = %q, %v", f, e, got, err)
		}
		if e.Kind > KindSubdomains || e.Exact != (e.Kind == KindExact) || e.Action > ActionNoData {
			t.Fatalf("%s entry %+v: invalid or inconsistent kind, action", f, e)
		}
		if (e.Allow && (f == FormatPlain || f == FormatHosts)) || (e.Action != ActionDefault && f != FormatRPZ && f != FormatAuto) {
			t.Fatalf("%s entry %+v: the format cannot express its allow flag or action", f, e)
		}
		switch e.Kind {
		case KindExact:
			plain.WriteString(exactPrefix)
		case KindSubdomains:
			plain.WriteString(wildcardPrefix)
		}
		plain.WriteString(e.Name + "\n")
		if e.Allow {
			allow.Add("fuzz", e)
		} else {
			block.Add("fuzz", e)
		}
	}
	for _, w := range warnings {
		if w.Line < 1 || w.Line > lines || w.Source != "fuzz" || w.Msg == "" {
			t.Fatalf("%s: bad warning %+v for %d lines", f, w, lines)
		}
	}
	// Every entry is found where it applies.
	blockTrie, allowTrie := block.Build(), allow.Build()
	for _, e := range entries {
		trie := blockTrie
		if e.Allow {
			trie = allowTrie
		}
		query := e.Name
		if e.Kind == KindSubdomains {
			if query = "x." + e.Name; len(query) > maxNameLen {
				continue
			}
		}
		if got, ok := trie.Lookup(query); !ok || (got.Name != e.Name && got.Name != query) {
			t.Fatalf("%s entry %+v: Lookup(%q) = %+v, %v", f, e, query, got, ok)
		}
	}
	// The plain format can say every name and kind.
	again, warnings, err := ParseFormat("fuzz", strings.NewReader(plain.String()), FormatPlain)
	if err != nil || len(warnings) != 0 || len(again) != len(entries) {
		t.Fatalf("%s: re-parsing as plain: %d entries, warnings %v, error %v; want %d", f, len(again), warnings, err, len(entries))
	}
	for i := range again {
		if again[i].Name != entries[i].Name || again[i].Kind != entries[i].Kind {
			t.Fatalf("%s: plain round trip changed entry %d: %+v -> %+v", f, i, entries[i], again[i])
		}
	}
	for _, finding := range Lint("fuzz", entries) {
		if finding.Line < 1 || finding.Line > lines || finding.Msg == "" {
			t.Fatalf("%s: bad finding %+v", f, finding)
		}
	}
	// An export reads back without a warning.
	var zone bytes.Buffer
	if err := WriteRPZ(&zone, "rpz", 1, 60, blockTrie.Rules(), allowTrie.Rules()); err != nil {
		if !strings.Contains(err.Error(), "too long") && !strings.Contains(err.Error(), "non-QNAME") {
			t.Fatalf("%s: WriteRPZ() error = %v", f, err)
		}
		return
	}
	if _, warnings, err := ParseFormat("zone", &zone, FormatRPZ); err != nil || len(warnings) != 0 {
		t.Fatalf("%s: re-reading the export: warnings %v, error %v", f, warnings, err)
	}
}

// referenceRule and referenceLookup are the obvious string-based matcher the
// trie must agree with: split the query into labels, compare label lists.
type referenceRule struct {
	name   string
	kind   Kind
	action Action
}

func referenceLookup(rules []referenceRule, query string) (referenceRule, bool) {
	labels := splitPresentation(query)
	var best referenceRule
	bestDepth, bestRank := 0, 0
	for _, r := range rules {
		ruleLabels := strings.Split(r.name, ".")
		if len(ruleLabels) > len(labels) || !slices.Equal(ruleLabels, labels[len(labels)-len(ruleLabels):]) {
			continue
		}
		full := len(ruleLabels) == len(labels)
		rank := 0 // at one depth, a subdomains rule beats a suffix rule below the name
		switch r.kind {
		case KindExact:
			if full {
				return r, true
			}
			continue
		case KindSubdomains:
			if full {
				continue
			}
			rank = 1
		}
		if len(ruleLabels) > bestDepth || len(ruleLabels) == bestDepth && rank > bestRank {
			best, bestDepth, bestRank = r, len(ruleLabels), rank
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
		{name: "apmplus.ap-southeast-1.volces.com", kind: KindExact},
		{name: "example.org", action: ActionNXDomain},
		{name: "ads.example.org", kind: KindExact, action: ActionNoData},
		{name: "a.b.example.org"},
		{name: "both.test"},
		{name: "both.test", kind: KindExact},
		{name: "xn--bcher-kva.example"},
		{name: "_dmarc.x.test", kind: KindExact},
		{name: "test"},
		{name: strings.Repeat("l", 63) + ".test"},
		{name: name252()},
		{name: "below.test", kind: KindSubdomains, action: ActionNoData},
		{name: "deepseek.com", kind: KindSubdomains, action: ActionNXDomain},
		{name: "rpz.test", kind: KindExact, action: ActionNXDomain},
		{name: "rpz.test", kind: KindSubdomains, action: ActionNoData},
		{name: "x.below.test", kind: KindSubdomains},
		{name: "ads.example.org", kind: KindSubdomains},
	}
	b := NewBuilder()
	for i, r := range list {
		b.Add("fuzz", Entry{Name: r.name, Kind: r.kind, Exact: r.kind == KindExact, Action: r.action, Line: i + 1})
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
		"below.test", "a.below.test.", ".below.test", "x.below.test", "y.x.below.test", "rpz.test", "www.rpz.test",
		"a.ads.example.org",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		got, ok := trie.Lookup(query)
		want, wantOK := referenceLookup(list, query)
		if ok != wantOK || got.Name != want.name || got.Kind != want.kind || got.Action != want.action || got.Exact != (want.kind == KindExact) {
			t.Fatalf("Lookup(%q) = %+v, %v; reference says %+v, %v", query, got, ok, want, wantOK)
		}
		if ok && (got.Source != "fuzz" || list[got.Line-1] != want) {
			t.Fatalf("Lookup(%q) = %+v: wrong source or line for %+v", query, got, want)
		}
	})
}
