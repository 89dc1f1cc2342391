package blocklist

import (
	"slices"
	"strings"
	"testing"
)

// Entry constructors keep the tables readable.
func suffixEntry(name string, line int) Entry {
	return Entry{Name: name, Kind: KindSuffix, Line: line}
}

func exactEntry(name string, line int) Entry {
	return Entry{Name: name, Exact: true, Kind: KindExact, Line: line}
}

func subEntry(name string, line int) Entry {
	return Entry{Name: name, Kind: KindSubdomains, Line: line}
}

func allowEntry(e Entry) Entry {
	e.Allow = true
	return e
}

func withAction(e Entry, a Action) Entry {
	e.Action = a
	return e
}

type formatCase struct {
	name         string
	input        string
	wantEntries  []Entry
	wantWarnings []wantWarning
}

func runFormatCases(t *testing.T, f Format, tests []formatCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, warnings, err := ParseFormat("list", strings.NewReader(tt.input), f)
			if err != nil {
				t.Fatalf("ParseFormat(%s) error = %v", f, err)
			}
			if !slices.Equal(entries, tt.wantEntries) {
				t.Errorf("ParseFormat(%s) entries =\n%+v\nwant\n%+v", f, entries, tt.wantEntries)
			}
			checkWarnings(t, warnings, "list", tt.wantWarnings)
		})
	}
}

func TestParseFormatPlain(t *testing.T) {
	runFormatCases(t, FormatPlain, []formatCase{
		{
			name:        "suffix, exact and subdomains",
			input:       "deepseek.com\nexact:cmpassport.com\n*.Example.ORG.\n",
			wantEntries: []Entry{suffixEntry("deepseek.com", 1), exactEntry("cmpassport.com", 2), subEntry("example.org", 3)},
		},
		{
			name:         "wildcard and exact contradict",
			input:        "exact:*.deepseek.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `"exact:*.deepseek.com" contradicts itself`}},
		},
		{
			name:         "globs other than a leading label",
			input:        "*.*.deepseek.com\nads*.example.org\n*deepseek.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `glob "*" in "*.*.deepseek.com"`}, {line: 2, contains: `glob "*" in "ads*.example.org"`}, {line: 3, contains: `glob "*" in "*deepseek.com"`}},
		},
		{
			name:         "wildcard without a name",
			input:        "*.\n",
			wantWarnings: []wantWarning{{line: 1, contains: "empty name"}},
		},
		{
			name:         "hosts line is still a warning",
			input:        "0.0.0.0 deepseek.com\nok.test\n",
			wantEntries:  []Entry{suffixEntry("ok.test", 2)},
			wantWarnings: []wantWarning{{line: 1, contains: "more than one token"}},
		},
	})
}

func TestParseLegacyPlainRejectsWildcards(t *testing.T) {
	// Parse keeps its old contract: callers rely on "*.name" being reported.
	entries, warnings, err := Parse("list", strings.NewReader("*.deepseek.com\n"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("Parse() = %+v, %v", entries, err)
	}
	checkWarnings(t, warnings, "list", []wantWarning{{line: 1, contains: `invalid character "*"`}})
}

func TestParseFormatHosts(t *testing.T) {
	runFormatCases(t, FormatHosts, []formatCase{
		{
			name: "standard header is skipped silently",
			input: "# Title: StevenBlack/hosts\n127.0.0.1 localhost\n127.0.0.1 localhost.localdomain\n127.0.0.1 local\n" +
				"255.255.255.255 broadcasthost\n::1 localhost\n::1 ip6-localhost\n::1 ip6-loopback\nfe80::1%lo0 localhost\n" +
				"ff00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n0.0.0.0 0.0.0.0\n",
		},
		{
			name:  "sinkhole addresses, several names, comments",
			input: "0.0.0.0 a.test b.test # two names\n127.0.0.1\tc.test\n:: d.test\n::1 E.TEST.\n0.0.0.0 f.test#no space\n",
			wantEntries: []Entry{
				exactEntry("a.test", 1), exactEntry("b.test", 1), exactEntry("c.test", 2),
				exactEntry("d.test", 3), exactEntry("e.test", 4), exactEntry("f.test", 5),
			},
		},
		{
			name:         "header name next to a real one",
			input:        "127.0.0.1 localhost tracker.test\n",
			wantEntries:  []Entry{exactEntry("tracker.test", 1)},
			wantWarnings: nil,
		},
		{
			name:         "real address redirects rather than blocks",
			input:        "192.168.1.1 router.test\n0.0.0.0 ok.test\n",
			wantEntries:  []Entry{exactEntry("ok.test", 2)},
			wantWarnings: []wantWarning{{line: 1, contains: "address 192.168.1.1"}},
		},
		{
			name:         "address without name",
			input:        "0.0.0.0\n",
			wantWarnings: []wantWarning{{line: 1, contains: "no name after address 0.0.0.0"}},
		},
		{
			name:         "line without address",
			input:        "deepseek.com\nchat.deepseek.com www.deepseek.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `"deepseek.com" does not start with an IP address`}, {line: 2, contains: "does not start with an IP address"}},
		},
		{
			name:         "one bad name keeps the others",
			input:        "0.0.0.0 bad..test good.test *.wild.test\n",
			wantEntries:  []Entry{exactEntry("good.test", 1)},
			wantWarnings: []wantWarning{{line: 1, contains: `"bad..test": empty label`}, {line: 1, contains: `"*.wild.test"`}},
		},
	})
}

func TestParseFormatAdblock(t *testing.T) {
	runFormatCases(t, FormatAdblock, []formatCase{
		{
			name:  "comments and headers",
			input: "[Adblock Plus 2.0]\n! Title: test\n# also a comment\n\n",
		},
		{
			name: "rules",
			input: "||deepseek.com^\n@@||copilot.microsoft.com^\n|exact.test^\n@@|ok.test^\nbare.test\n" +
				"||CHAT.Example.ORG^|\n0.0.0.0 hosts.test\n@@bare-allow.test\n",
			wantEntries: []Entry{
				// "||" is a suffix rule: the name and every name below it.
				suffixEntry("deepseek.com", 1),
				allowEntry(suffixEntry("copilot.microsoft.com", 2)),
				exactEntry("exact.test", 3),
				allowEntry(exactEntry("ok.test", 4)),
				exactEntry("bare.test", 5),
				suffixEntry("chat.example.org", 6),
				exactEntry("hosts.test", 7),
				allowEntry(exactEntry("bare-allow.test", 8)),
			},
		},
		{
			name: "unsupported constructs are named with their line",
			input: "||ads.test^$important\n||ads.test^$client=192.168.1.1\n@@||ads.test^$dnstype=AAAA\n" +
				"example.com##.banner\n##.ad\nexample.com#@#.ad\n||example.com/ads/*\nhttps://example.com/\n" +
				"||ads*.example.com^\n||*.example.com^\n/ads[0-9]+\\.example/\n||example.com\nexample.com^\n" +
				"||example.com:8080^\n||bad..test^\nexample.com$$script\n||kept.test^\n",
			wantEntries: []Entry{suffixEntry("kept.test", 17)},
			wantWarnings: []wantWarning{
				{line: 1, contains: `modifier "$important"`},
				{line: 2, contains: `modifier "$client=192.168.1.1"`},
				{line: 3, contains: `modifier "$dnstype=AAAA"`},
				{line: 4, contains: `cosmetic rule ("##")`},
				{line: 5, contains: `cosmetic rule ("##")`},
				{line: 6, contains: `cosmetic rule ("#@#")`},
				{line: 7, contains: "URL or path rule"},
				{line: 8, contains: "URL or path rule"},
				{line: 9, contains: `glob "*"`},
				{line: 10, contains: `glob "*"`},
				{line: 11, contains: "regular expression rule"},
				{line: 12, contains: `lacks the "^"`},
				{line: 13, contains: "no \"||\" or \"|\" anchor"},
				{line: 14, contains: "port"},
				{line: 15, contains: "empty label"},
				{line: 16, contains: `cosmetic rule ("$$")`},
			},
		},
	})
}

func TestParseFormatRPZ(t *testing.T) {
	runFormatCases(t, FormatRPZ, []formatCase{
		{
			name: "policy zone",
			input: `$TTL 300
$ORIGIN rpz.agency.example.
@   SOA sinkhole.agency.example. soc.agency.example. (
        2026112301 ; serial
        3600 600 86400 300 )
@   NS  localhost.
deepseek.com            CNAME .        ; source: v2fly data/deepseek
*.deepseek.com          CNAME .
exact.test              CNAME *.
*.sub.test              CNAME *.
copilot.microsoft.com   CNAME rpz-passthru.
abs.test.rpz.agency.example. CNAME .
Upper.TEST 300 IN CNAME .
        IN 60 CNAME .
legacy.test CNAME legacy.test.
`,
			wantEntries: []Entry{
				withAction(exactEntry("deepseek.com", 7), ActionNXDomain),
				withAction(subEntry("deepseek.com", 8), ActionNXDomain),
				withAction(exactEntry("exact.test", 9), ActionNoData),
				withAction(subEntry("sub.test", 10), ActionNoData),
				allowEntry(exactEntry("copilot.microsoft.com", 11)),
				withAction(exactEntry("abs.test", 12), ActionNXDomain),
				withAction(exactEntry("upper.test", 13), ActionNXDomain),
				withAction(exactEntry("upper.test", 14), ActionNXDomain), // blank owner: the previous one
				allowEntry(exactEntry("legacy.test", 15)),                // CNAME to itself: old passthru
			},
		},
		{
			name: "unsupported triggers and actions are named with their line",
			input: `$ORIGIN rpz.example.
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300
32.1.2.0.192.rpz-ip     CNAME .
ns1.example.rpz-nsdname CNAME .
24.0.2.0.192.rpz-nsip   CNAME .
24.0.2.0.192.rpz-client-ip CNAME .
drop.test    CNAME rpz-drop.
tcp.test     CNAME rpz-tcp-only.
local.test   A     192.0.2.10
local6.test  AAAA  2001:db8::1
txt.test     TXT   "walled; garden"
garden.test  CNAME walled.example.
wild.test    CNAME *.walled.example.
rel.test     CNAME rpz-passthru
other.example. CNAME .
$INCLUDE other.zone
future.test  CNAME rpz-future.
x.rpz-what   CNAME .
*            CNAME .
a.*.test     CNAME .
kept.test    CNAME .
`,
			wantEntries: []Entry{withAction(exactEntry("kept.test", 21), ActionNXDomain)},
			wantWarnings: []wantWarning{
				{line: 3, contains: "unsupported rpz-ip trigger"},
				{line: 4, contains: "unsupported rpz-nsdname trigger"},
				{line: 5, contains: "unsupported rpz-nsip trigger"},
				{line: 6, contains: "unsupported rpz-client-ip trigger"},
				{line: 7, contains: "unsupported action rpz-drop."},
				{line: 8, contains: "unsupported action rpz-tcp-only."},
				{line: 9, contains: "unsupported local-data A record"},
				{line: 10, contains: "unsupported local-data AAAA record"},
				{line: 11, contains: "unsupported local-data TXT record"},
				{line: 12, contains: `walled-garden CNAME "walled.example."`},
				{line: 13, contains: `wildcard walled-garden CNAME "*.walled.example."`},
				{line: 14, contains: `did you mean "rpz-passthru."`},
				{line: 15, contains: `owner "other.example." is outside the zone "rpz.example."`},
				{line: 16, contains: "unsupported directive $INCLUDE"},
				{line: 17, contains: `unknown RPZ action "rpz-future."`},
				{line: 18, contains: `unknown RPZ trigger "x.rpz-what"`},
				{line: 19, contains: `wildcard owner "*"`},
				{line: 20, contains: "only a leftmost \"*\" label"},
			},
		},
		{
			name:        "no $ORIGIN: the SOA names the zone",
			input:       "rpz.example. 300 IN SOA localhost. hostmaster.localhost. 1 2 3 4 5\nrpz.example. NS localhost.\nabs.test.rpz.example. CNAME .\nrel.test CNAME *.\n",
			wantEntries: []Entry{withAction(exactEntry("abs.test", 3), ActionNXDomain), withAction(exactEntry("rel.test", 4), ActionNoData)},
		},
		{
			name:         "no $ORIGIN and no SOA: relative owners are triggers, absolute ones ambiguous",
			input:        "deepseek.com CNAME .\ndeepseek.com.rpz.example. CNAME .\n",
			wantEntries:  []Entry{withAction(exactEntry("deepseek.com", 1), ActionNXDomain)},
			wantWarnings: []wantWarning{{line: 2, contains: "zone's name is not known yet"}},
		},
		{
			name:        "$ORIGIN moving below the apex and out of it",
			input:       "$ORIGIN rpz.example.\n@ SOA a. b. 1 2 3 4 5\n$ORIGIN deepseek.com.rpz.example.\nchat CNAME .\n@ CNAME *.\n$ORIGIN other.example.\nx CNAME .\n$ORIGIN sub\ny CNAME .\n",
			wantEntries: []Entry{withAction(exactEntry("chat.deepseek.com", 4), ActionNXDomain), withAction(exactEntry("deepseek.com", 5), ActionNoData)},
			wantWarnings: []wantWarning{
				{line: 7, contains: `owner "x.other.example." is outside the zone "rpz.example."`},
				{line: 9, contains: `owner "y.sub.other.example." is outside the zone`},
			},
		},
		{
			name:         "relative $ORIGIN with no origin before it",
			input:        "$ORIGIN rpz.example\nx.test CNAME .\n",
			wantEntries:  []Entry{withAction(exactEntry("x.test", 2), ActionNXDomain)},
			wantWarnings: []wantWarning{{line: 1, contains: `$ORIGIN "rpz.example" is relative`}},
		},
		{
			name:         "unclosed parenthesis costs only its record",
			input:        "$ORIGIN rpz.example.\n@ SOA localhost. hostmaster.localhost. ( 1 3600\n600 86400\nx.test CNAME .\ny.test CNAME . (\n",
			wantEntries:  []Entry{withAction(exactEntry("x.test", 4), ActionNXDomain)},
			wantWarnings: []wantWarning{{line: 2, contains: `"(" is never closed`}, {line: 5, contains: `"(" is never closed`}},
		},
		{
			name:         "stray closing parenthesis",
			input:        "x.test CNAME . )\n",
			wantEntries:  []Entry{withAction(exactEntry("x.test", 1), ActionNXDomain)},
			wantWarnings: []wantWarning{{line: 1, contains: `")" without "("`}},
		},
		{
			name:         "records that are not policies",
			input:        "$ORIGIN rpz.example.\n@ SOA a. b. 1 2 3 4 5\n@ SOA a. b. 1 2 3 4 5\n@ CNAME .\nx.test CH CNAME .\nx.test\nx.test CNAME . extra.\n  CNAME .\n",
			wantEntries:  []Entry{withAction(exactEntry("x.test", 8), ActionNXDomain)},
			wantWarnings: []wantWarning{{line: 3, contains: "second SOA"}, {line: 4, contains: "CNAME record at the zone apex"}, {line: 5, contains: "class CH"}, {line: 6, contains: "has no type"}, {line: 7, contains: "exactly one target"}},
		},
		{
			name:         "blank owner with nothing before it",
			input:        "  CNAME .\n",
			wantWarnings: []wantWarning{{line: 1, contains: "no owner"}},
		},
		{
			name:         "bad names",
			input:        "$ORIGIN rpz.example.\nbad..test CNAME .\n*.x\\.y CNAME .\n",
			wantWarnings: []wantWarning{{line: 2, contains: "empty label"}, {line: 3, contains: "invalid character"}},
		},
	})
}

func TestParseFormatErrors(t *testing.T) {
	tests := []struct {
		name   string
		format Format
	}{
		{name: "unknown format", format: Format(42)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParseFormat("list", strings.NewReader("a.test\n"), tt.format); err == nil {
				t.Errorf("ParseFormat(%v) error = nil, want one", tt.format)
			}
		})
	}
}
