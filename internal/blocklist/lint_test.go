package blocklist

import (
	"slices"
	"strings"
	"testing"
)

func TestLint(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		input  string
		want   []string // Finding.String(), in order
	}{
		{
			name:   "clean list",
			format: FormatPlain,
			input:  "deepseek.com\nexact:apmplus.ap-southeast-1.volces.com\n*.example.org\nexact:example.org\n",
		},
		{
			name:   "duplicates name both lines",
			format: FormatPlain,
			input:  "deepseek.com\nexact:cmpassport.com\nDeepSeek.com.\nexact:cmpassport.com\n*.x.test\n*.x.test\n",
			want: []string{
				`list:3: duplicate of line 1: entry "deepseek.com"`,
				`list:4: duplicate of line 2: exact entry "cmpassport.com"`,
				`list:6: duplicate of line 5: subdomains entry "*.x.test"`,
			},
		},
		{
			name:   "same name, other kind is no duplicate",
			format: FormatPlain,
			input:  "both.test\nexact:both.test\n",
			want:   []string{`list:2: exact entry "both.test" is redundant: entry "both.test" on line 1 already covers it`},
		},
		{
			name:   "redundant under a parent suffix entry",
			format: FormatPlain,
			input:  "chat.deepseek.com\ndeepseek.com\nexact:api.deepseek.com\n*.deepseek.com\n*.cdn.deepseek.com\n",
			want: []string{
				`list:1: entry "chat.deepseek.com" is redundant: entry "deepseek.com" on line 2 already covers it`,
				`list:3: exact entry "api.deepseek.com" is redundant: entry "deepseek.com" on line 2 already covers it`,
				`list:4: subdomains entry "*.deepseek.com" is redundant: entry "deepseek.com" on line 2 already covers it`,
				// Its nearest cover is line 4, redundant too: the finding names the entry that stays.
				`list:5: subdomains entry "*.cdn.deepseek.com" is redundant: entry "deepseek.com" on line 2 already covers it`,
			},
		},
		{
			name:   "exact parent covers nothing below",
			format: FormatPlain,
			input:  "exact:deepseek.com\nchat.deepseek.com\n",
		},
		{
			// Never all three: removing every entry reported must change nothing.
			name:   "exact and subdomains repeating a suffix",
			format: FormatPlain,
			input:  "exact:x.test\n*.x.test\nx.test\n",
			want: []string{
				`list:1: exact entry "x.test" is redundant: entry "x.test" on line 3 already covers it`,
				`list:2: subdomains entry "*.x.test" is redundant: entry "x.test" on line 3 already covers it`,
			},
		},
		{
			name:   "a different action below is an override",
			format: FormatRPZ,
			input:  "$ORIGIN rpz.example.\n*.x.test CNAME .\na.x.test CNAME *.\nb.x.test CNAME .\nb.x.test CNAME *.\n",
			want: []string{
				`list:4: exact entry "b.x.test" (nxdomain) is redundant: subdomains entry "*.x.test" (nxdomain) on line 2 already covers it`,
				`list:5: duplicate of line 4: exact entry "b.x.test" (nodata); its action nodata is ignored, the first line's nxdomain applies`,
			},
		},
		{
			name:   "override in between keeps a deeper entry",
			format: FormatRPZ,
			input:  "*.x.test CNAME .\n*.a.x.test CNAME *.\n*.b.a.x.test CNAME .\n",
		},
		{
			name:   "exceptions are linted among themselves",
			format: FormatAdblock,
			input:  "||deepseek.com^\n@@||chat.deepseek.com^\n@@||a.chat.deepseek.com^\n@@||lonely.test^\n@@||chat.deepseek.com^\n",
			want: []string{
				`list:3: exception entry "a.chat.deepseek.com" is redundant: exception entry "chat.deepseek.com" on line 2 already covers it`,
				`list:5: duplicate of line 2: exception entry "chat.deepseek.com"`,
			},
		},
		{
			name:   "hosts duplicates on one line",
			format: FormatHosts,
			input:  "0.0.0.0 a.test a.test\n",
			want:   []string{`list:1: duplicate of line 1: exact entry "a.test"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, warnings, err := ParseFormat("list", strings.NewReader(tt.input), tt.format)
			if err != nil || len(warnings) != 0 {
				t.Fatalf("ParseFormat() warnings = %v, error = %v", warnings, err)
			}
			var got []string
			for _, f := range Lint("list", entries) {
				got = append(got, f.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Lint() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLintShadowedSuffix(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		want    []Finding
	}{
		{
			name: "exact and subdomains override a suffix entry at both owners",
			entries: []Entry{
				withAction(exactEntry("x.test", 1), ActionNXDomain),
				withAction(subEntry("x.test", 2), ActionNoData),
				suffixEntry("x.test", 3),
			},
			want: []Finding{{Source: "list", Line: 3, Msg: `entry "x.test" never applies: the exact entry on line 1 and the "*." entry on line 2 cover the name and every name below it`}},
		},
		{
			name: "one of them repeats it",
			entries: []Entry{
				exactEntry("x.test", 1),
				withAction(subEntry("x.test", 2), ActionNoData),
				suffixEntry("x.test", 3),
			},
			want: []Finding{{Source: "list", Line: 1, Msg: `exact entry "x.test" is redundant: entry "x.test" on line 3 already covers it`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lint("list", tt.entries); !slices.Equal(got, tt.want) {
				t.Errorf("Lint() =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestLintInvalidEntries(t *testing.T) {
	findings := Lint("list", []Entry{
		{Name: "a.test", Exact: true, Kind: KindSubdomains, Line: 2},
		{Name: "b.test", Action: 9, Line: 1},
		{Name: "c.test", Exact: true, Line: 3}, // Exact alone is an exact entry
		{Name: "c.test", Kind: KindExact, Line: 4},
	})
	want := []Finding{
		{Source: "list", Line: 1, Msg: `invalid entry "b.test": invalid action 9`},
		{Source: "list", Line: 2, Msg: `invalid entry "a.test": Exact set on a subdomains entry`},
		{Source: "list", Line: 4, Msg: `duplicate of line 3: exact entry "c.test"`},
	}
	if !slices.Equal(findings, want) {
		t.Errorf("Lint() =\n%+v\nwant\n%+v", findings, want)
	}
}
