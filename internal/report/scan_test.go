package report

import (
	"encoding/json"
	"strings"
	"testing"
)

// sampleLine is a line as hitlog writes it, plus the coming dijk.group.
const sampleLine = `{"@timestamp":"2026-11-23T08:30:00.123000000Z","ecs":{"version":"8.11.0"},"event":{"kind":"event","category":["network"],"type":["denied"],"action":"nxdomain","dataset":"dijk.hits","module":"dijk"},"client":{"ip":"192.0.2.7","port":53124},"network":{"transport":"udp","protocol":"dns","type":"ipv4"},"observer":{"product":"dijk","type":"dns","hostname":"dns-1","version":"1.0.0"},"dns":{"id":4660,"type":"query","question":{"name":"chat.deepseek.com","type":"AAAA","class":"IN"},"response_code":"NXDOMAIN"},"rule":{"name":"deepseek.com","ruleset":"builtin:deepseek","id":"builtin:deepseek:31"},"dijk":{"list":"builtin:deepseek","entry":"deepseek.com","match":"suffix","line":31,"group":"staff","kind":"block"}}`

// oracle is what json.Unmarshal extracts; the scanner must agree with it.
type oracle struct {
	Timestamp string `json:"@timestamp"`
	Client    struct {
		IP string `json:"ip"`
	} `json:"client"`
	DNS struct {
		Question struct {
			Name string `json:"name"`
		} `json:"question"`
	} `json:"dns"`
	Rule struct {
		Ruleset string `json:"ruleset"`
	} `json:"rule"`
	Dijk struct {
		List  string `json:"list"`
		Group string `json:"group"`
		Kind  string `json:"kind"`
	} `json:"dijk"`
	Event struct {
		Dataset string `json:"dataset"`
	} `json:"event"`
}

func (o *oracle) values() [numFields]string {
	return [numFields]string{
		fTimestamp: o.Timestamp, fIP: o.Client.IP, fName: o.DNS.Question.Name,
		fGroup: o.Dijk.Group, fList: o.Dijk.List, fRuleset: o.Rule.Ruleset,
		fKind: o.Dijk.Kind, fDataset: o.Event.Dataset,
	}
}

func scanValues(f *fields) [numFields]string {
	var v [numFields]string
	for i := range v {
		v[i] = string(f.val[i])
	}
	return v
}

func TestScan(t *testing.T) {
	full := [numFields]string{
		fTimestamp: "2026-11-23T08:30:00.123000000Z", fIP: "192.0.2.7", fName: "chat.deepseek.com",
		fGroup: "staff", fList: "builtin:deepseek", fRuleset: "builtin:deepseek",
		fKind: "block", fDataset: "dijk.hits",
	}
	tests := []struct {
		name string
		line string
		ok   bool
		why  reason
		want [numFields]string // when ok
	}{
		{name: "hitlog line", line: sampleLine, ok: true, want: full},
		{name: "whitespace everywhere", line: " { \"client\" : { \"ip\" : \"::1\" } , \"dns\":{\"question\":{\"name\":\"a.b\"}} } \t",
			ok: true, want: [numFields]string{fIP: "::1", fName: "a.b"}},
		{name: "escapes are decoded", line: `{"dns":{"question":{"name":"a\u0062\\032c\ud83d\ude00\"d"}}}`,
			ok: true, want: [numFields]string{fName: "ab\\032c😀\"d"}},
		{name: "lone surrogate becomes U+FFFD", line: `{"dns":{"question":{"name":"x\ud800y"}}}`,
			ok: true, want: [numFields]string{fName: "x\uFFFDy"}},
		{name: "invalid UTF-8 becomes U+FFFD", line: "{\"client\":{\"ip\":\"a\xffb\"}}",
			ok: true, want: [numFields]string{fIP: "a\uFFFDb"}},
		{name: "keys match case-insensitively", line: `{"CLIENT":{"Ip":"1.2.3.4"},"Dijk":{"GROUP":"g","Kind":"k"},"EVENT":{"DataSet":"d"}}`,
			ok: true, want: [numFields]string{fIP: "1.2.3.4", fGroup: "g", fKind: "k", fDataset: "d"}},
		{name: "escaped key", line: `{"cli\u0065nt":{"ip":"1.2.3.4"}}`,
			ok: true, want: [numFields]string{fIP: "1.2.3.4"}},
		{name: "last duplicate wins", line: `{"client":{"ip":"1"},"client":{"ip":"2"}}`,
			ok: true, want: [numFields]string{fIP: "2"}},
		{name: "null leaves the field unset", line: `{"client":{"ip":"1"},"client":{"ip":null},"dns":null}`,
			ok: true, want: [numFields]string{fIP: "1"}},
		{name: "wanted names in unwanted objects are ignored", line: `{"observer":{"client":{"ip":"1"}},"x":[{"ip":"2"}]}`, ok: true},
		{name: "all value kinds skipped", line: `{"a":[1,-2.5e+3,0,true,false,null,"s",{"b":[]},{}],"c":-0.0E-1}`, ok: true},
		{name: "top-level null", line: `null`, ok: true},
		{name: "empty", line: ``, why: rSyntax},
		{name: "truncated line", line: sampleLine[:200], why: rSyntax},
		{name: "trailing garbage", line: `{"a":1}x`, why: rSyntax},
		{name: "two objects", line: `{"a":1}{"a":1}`, why: rSyntax},
		{name: "trailing comma", line: `{"a":1,}`, why: rSyntax},
		{name: "single quotes", line: `{'a':1}`, why: rSyntax},
		{name: "bad escape", line: `{"a":"\x"}`, why: rSyntax},
		{name: "short unicode escape", line: `{"a":"\u12"}`, why: rSyntax},
		{name: "control character in string", line: "{\"a\":\"x\ty\"}", why: rSyntax},
		{name: "leading zero", line: `{"a":01}`, why: rSyntax},
		{name: "bare minus", line: `{"a":-}`, why: rSyntax},
		{name: "missing exponent digits", line: `{"a":1e}`, why: rSyntax},
		{name: "bad literal", line: `{"a":nul}`, why: rSyntax},
		{name: "bad literal in wanted field", line: `{"client":nil}`, why: rSyntax},
		{name: "top-level array", line: `[1]`, why: rNotObject},
		{name: "top-level string", line: `"x"`, why: rNotObject},
		{name: "wanted string is a number", line: `{"client":{"ip":5}}`, why: rType},
		{name: "wanted object is a string", line: `{"dns":"x"}`, why: rType},
		{name: "type error then syntax error is a syntax error", line: `{"dns":"x",}`, why: rSyntax},
		{name: "too deep", line: `{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, why: rDepth},
		{name: "deep but allowed", line: `{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, ok: true},
	}
	var s scanner
	var f fields
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := s.parse([]byte(tt.line), &f)
			if ok != tt.ok {
				t.Fatalf("parse = %v (why %d at %d), want %v", ok, s.why, s.whyAt, tt.ok)
			}
			if !ok {
				if s.why != tt.why {
					t.Errorf("why = %d, want %d", s.why, tt.why)
				}
				return
			}
			if got := scanValues(&f); got != tt.want {
				t.Errorf("fields = %q, want %q", got, tt.want)
			}
			// The contract: agree with encoding/json.
			var o oracle
			if err := json.Unmarshal([]byte(tt.line), &o); err != nil {
				t.Fatalf("encoding/json rejects a line the scanner accepts: %v", err)
			}
			if o.values() != tt.want {
				t.Errorf("encoding/json extracts %q, the test wants %q", o.values(), tt.want)
			}
		})
	}
}

func TestScanTypeErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{name: "string field", line: `{"client":{"ip":[]}}`, want: "client.ip is not a string"},
		{name: "object field", line: `{"dns":{"question":1}}`, want: "dns.question is not an object"},
		{name: "first error wins", line: `{"rule":{"ruleset":1},"dijk":2}`, want: "rule.ruleset is not a string"},
	}
	var s scanner
	var f fields
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s.parse([]byte(tt.line), &f) || s.why != rType {
				t.Fatalf("parse accepted or why = %d, want a type error", s.why)
			}
			if got := s.typeError(); got != tt.want {
				t.Errorf("typeError() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScanAllocs(t *testing.T) {
	var s scanner
	var f fields
	escaped := []byte(`{"@timestamp":"2026-11-23T08:30:00Z","client":{"ip":"192.0.2.7"},"dns":{"question":{"name":"a\\032b.example"}}}`)
	s.parse(escaped, &f) // grow the unescape buffer once
	for _, line := range [][]byte{[]byte(sampleLine), escaped} {
		if n := testing.AllocsPerRun(100, func() { s.parse(line, &f) }); n != 0 {
			t.Errorf("parse of %.40s... allocates %v times, want 0", line, n)
		}
	}
}

// FuzzScanMatchesEncodingJSON checks the scanner's contract: it accepts
// exactly the lines json.Unmarshal accepts into oracle, and extracts the
// same values.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		sampleLine, `{}`, `null`, `[]`, `{"client":{"ip":"\u00e9\ud800"}}`, `{"CLIENT":{"IP":"x"}}`,
		`{"client":{"ip":1}}`, `{"dns":{"question":{"name":"a"}},"dns":{"question":null}}`,
		`{"event":{"dataset":"dijk.queries"},"dijk":{"kind":"bypass"}}`,
		"{\"dijk\":{\"group\":\"\xe2\x82\"}}", `{"a":[{"b":-1.5e-3}]}`, `{"ſ":1,"K":2}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		var s scanner
		var fl fields
		ok := s.parse(line, &fl)
		var o oracle
		err := json.Unmarshal(line, &o)
		if ok != (err == nil) {
			t.Fatalf("scanner ok=%v (why %d at %d), encoding/json err=%v", ok, s.why, s.whyAt, err)
		}
		if ok && scanValues(&fl) != o.values() {
			t.Fatalf("scanner %q, encoding/json %q", scanValues(&fl), o.values())
		}
	})
}

func TestPlainBytes(t *testing.T) {
	for c := range 256 {
		want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
		if got := plainBytes[c] == 1; got != want {
			t.Errorf("plainBytes[%#x] = %v, want %v", c, got, want)
		}
	}
}
