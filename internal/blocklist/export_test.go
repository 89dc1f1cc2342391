package blocklist

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestWriteRPZ(t *testing.T) {
	block := []Rule{
		{Name: "deepseek.com", Source: "builtin:deepseek", Line: 30},
		{Name: "cmpassport.com", Exact: true, Kind: KindExact, Source: "builtin:deepseek", Line: 40},
		{Name: "cdn.example", Kind: KindSubdomains, Action: ActionNoData, Source: "/etc/x.rpz", Line: 7},
		{Name: "microsoft.com", Action: ActionNXDomain, Source: "list", Line: 1},
		{Name: "nodata.test", Action: ActionNoData}, // no source: no comment
	}
	allow := []Rule{{Name: "copilot.microsoft.com", Source: "allow.txt", Line: 3}}
	var out bytes.Buffer
	if err := WriteRPZ(&out, "RPZ.Agency.Example.", 2026112301, 300, block, allow); err != nil {
		t.Fatal(err)
	}
	want := `$TTL 300
$ORIGIN rpz.agency.example.
@ SOA localhost. hostmaster.localhost. 2026112301 3600 600 86400 300
@ NS localhost.
cmpassport.com CNAME . ; builtin:deepseek:40
deepseek.com CNAME . ; builtin:deepseek:30
*.deepseek.com CNAME . ; builtin:deepseek:30
microsoft.com CNAME . ; list:1
*.microsoft.com CNAME . ; list:1
copilot.microsoft.com CNAME rpz-passthru. ; allow.txt:3
*.copilot.microsoft.com CNAME rpz-passthru. ; allow.txt:3
*.cdn.example CNAME *. ; /etc/x.rpz:7
nodata.test CNAME *.
*.nodata.test CNAME *.
`
	if got := out.String(); got != want {
		t.Errorf("WriteRPZ() =\n%s\nwant\n%s", got, want)
	}
}

func TestWriteRPZOneCNAMEPerOwner(t *testing.T) {
	tests := []struct {
		name  string
		block []Rule
		allow []Rule
		want  []string // record lines after the header
	}{
		{
			name:  "exception beats a block at the same owner",
			block: []Rule{{Name: "x.test", Source: "b", Line: 1}},
			allow: []Rule{{Name: "x.test", Kind: KindExact, Exact: true, Source: "a", Line: 2}},
			want:  []string{"x.test CNAME rpz-passthru. ; a:2", "*.x.test CNAME . ; b:1"},
		},
		{
			name:  "exact and subdomains beat suffix at their owners",
			block: []Rule{{Name: "x.test", Action: ActionNXDomain, Source: "b", Line: 1}, {Name: "x.test", Kind: KindSubdomains, Action: ActionNoData, Source: "b", Line: 2}},
			want:  []string{"x.test CNAME . ; b:1", "*.x.test CNAME *. ; b:2"},
		},
		{
			name:  "specific exception beats a suffix exception",
			allow: []Rule{{Name: "x.test", Source: "a", Line: 1}, {Name: "x.test", Kind: KindSubdomains, Source: "a", Line: 2}},
			want:  []string{"x.test CNAME rpz-passthru. ; a:1", "*.x.test CNAME rpz-passthru. ; a:2"},
		},
		{
			name:  "the first of equals wins",
			block: []Rule{{Name: "x.test", Kind: KindExact, Action: ActionNoData, Source: "b", Line: 1}, {Name: "x.test", Kind: KindExact, Source: "c", Line: 9}},
			want:  []string{"x.test CNAME *. ; b:1"},
		},
		{
			name:  "source cannot break out of its comment",
			block: []Rule{{Name: "x.test", Kind: KindExact, Source: "evil\nevil.test CNAME rpz-passthru.", Line: 1}},
			want:  []string{"x.test CNAME . ; evil?evil.test CNAME rpz-passthru.:1"},
		},
		{
			name:  "canonical order groups a name with the names below it",
			block: []Rule{{Name: "b.test", Kind: KindExact}, {Name: "a.b.test", Kind: KindExact}, {Name: "a.test", Kind: KindExact}, {Name: "b.test", Kind: KindSubdomains}, {Name: "z.a.test", Kind: KindExact}},
			want:  []string{"a.test CNAME .", "z.a.test CNAME .", "b.test CNAME .", "*.b.test CNAME .", "a.b.test CNAME ."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := WriteRPZ(&out, "rpz.example", 1, 60, tt.block, tt.allow); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if got := lines[4:]; !slices.Equal(got, tt.want) {
				t.Errorf("records =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestWriteRPZErrors(t *testing.T) {
	errDisk := errors.New("disk full")
	tests := []struct {
		name    string
		origin  string
		block   []Rule
		w       *failWriter
		wantErr string
	}{
		{name: "invalid origin", origin: "", wantErr: "RPZ origin"},
		{name: "invalid name", origin: "rpz.example", block: []Rule{{Name: "a..b", Source: "s", Line: 2}}, wantErr: `"a..b" from s line 2`},
		{name: "contradictory rule", origin: "rpz.example", block: []Rule{{Name: "a.test", Exact: true, Kind: KindSubdomains}}, wantErr: "Exact set"},
		{name: "invalid action", origin: "rpz.example", block: []Rule{{Name: "a.test", Action: 5}}, wantErr: "invalid action"},
		{name: "too long under the origin", origin: strings.Repeat("o", 60) + ".example", block: []Rule{{Name: name252()}}, wantErr: "too long"},
		{name: "name RPZ reads as another trigger", origin: "rpz.example", block: []Rule{{Name: "32.1.2.0.192.rpz-ip"}}, wantErr: "non-QNAME trigger"},
		{name: "write error", origin: "rpz.example", block: []Rule{{Name: "a.test"}}, w: &failWriter{err: errDisk}, wantErr: "disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w io.Writer = &bytes.Buffer{}
			if tt.w != nil {
				w = tt.w
			}
			err := WriteRPZ(w, tt.origin, 1, 60, tt.block, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("WriteRPZ() error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

type failWriter struct{ err error }

func (w *failWriter) Write([]byte) (int, error) { return 0, w.err }

// TestWriteRPZRoundTrip exports a loaded policy and reads it back with the
// RPZ parser: the names, kinds and actions must survive, the suffix rules as
// the exact and "*." pair RPZ needs.
func TestWriteRPZRoundTrip(t *testing.T) {
	blockTrie := buildKindsTrie(t, []Entry{
		suffixEntry("deepseek.com", 1),
		withAction(suffixEntry("nx.test", 2), ActionNXDomain),
		withAction(exactEntry("cmpassport.com", 3), ActionNoData),
		withAction(subEntry("cdn.example", 4), ActionNoData),
		exactEntry("apmplus.ap-southeast-1.volces.com", 5),
		suffixEntry("xn--bcher-kva.example", 6),
		suffixEntry("_dmarc.x.test", 7),
	})
	allowTrie := buildKindsTrie(t, []Entry{suffixEntry("copilot.microsoft.com", 1), exactEntry("ok.deepseek.com", 2), subEntry("open.test", 3)})
	var out bytes.Buffer
	if err := WriteRPZ(&out, "rpz.example", 7, 300, blockTrie.Rules(), allowTrie.Rules()); err != nil {
		t.Fatal(err)
	}
	entries, warnings, err := ParseFormat("export", bytes.NewReader(out.Bytes()), FormatAuto)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("re-reading the export: warnings %v, error %v\n%s", warnings, err, out.String())
	}
	type ruleKey struct {
		name   string
		kind   Kind
		action Action
		allow  bool
	}
	keys := func(rules []Rule, allow bool) []ruleKey {
		var out []ruleKey
		for _, r := range rules {
			if r.Action == ActionDefault && !allow {
				r.Action = ActionNXDomain // RPZ has no "the resolver's sinkhole"
			}
			out = append(out, ruleKey{name: r.Name, kind: r.Kind, action: r.Action, allow: allow})
		}
		return out
	}
	want := append(keys(blockTrie.Rules(), false), keys(allowTrie.Rules(), true)...)
	// Merge each name's exact and "*." pair back into the suffix rule it came from.
	byName := map[ruleKey]bool{}
	for _, e := range entries {
		byName[ruleKey{name: e.Name, kind: e.Kind, action: e.Action, allow: e.Allow}] = true
	}
	var got []ruleKey
	for k := range byName {
		pair := k
		if k.kind == KindExact {
			pair.kind = KindSubdomains
			if byName[pair] {
				k.kind = KindSuffix
			}
		} else if k.kind == KindSubdomains {
			pair.kind = KindExact
			if byName[pair] {
				continue // counted with its exact half
			}
		}
		got = append(got, k)
	}
	cmpKey := func(a, b ruleKey) int {
		return strings.Compare(a.name+a.kind.String()+a.action.String(), b.name+b.kind.String()+b.action.String())
	}
	slices.SortFunc(got, cmpKey)
	slices.SortFunc(want, cmpKey)
	if !slices.Equal(got, want) {
		t.Errorf("round trip =\n%+v\nwant\n%+v\nzone:\n%s", got, want, out.String())
	}
}

func TestWriteRPZDeterministic(t *testing.T) {
	rules := kindsFixture(t).Rules()
	var first bytes.Buffer
	if err := WriteRPZ(&first, "rpz.example", 1, 60, rules, nil); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		r.Shuffle(len(rules), func(i, j int) { rules[i], rules[j] = rules[j], rules[i] })
		var again bytes.Buffer
		if err := WriteRPZ(&again, "rpz.example", 1, 60, rules, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Bytes(), again.Bytes()) {
			t.Fatalf("shuffle %d changed the export:\n%s\nvs\n%s", i, first.String(), again.String())
		}
	}
}

func buildKindsTrie(t *testing.T, entries []Entry) *Trie {
	t.Helper()
	b := NewBuilder()
	for _, e := range entries {
		b.Add("test", e)
	}
	return b.Build()
}
