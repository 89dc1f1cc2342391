package blocklist

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Format
	}{
		{name: "empty", input: "", want: FormatPlain},
		{name: "comments only", input: "# nothing yet\n", want: FormatPlain},
		{name: "plain", input: "# Source: test\ndeepseek.com\nexact:cmpassport.com\n*.example.org\n", want: FormatPlain},
		{name: "hosts", input: "# Title: hosts\n127.0.0.1 localhost\n::1 localhost\n0.0.0.0 ads.test\n", want: FormatHosts},
		{name: "hosts with BOM and CRLF", input: "\uFEFF0.0.0.0 ads.test\r\n0.0.0.0 b.test\r\n", want: FormatHosts},
		{name: "one hosts line among plain ones", input: "0.0.0.0 a.test\nb.test\nc.test\n", want: FormatPlain},
		{name: "adblock rules", input: "||deepseek.com^\n", want: FormatAdblock},
		{name: "adblock exception", input: "@@||copilot.microsoft.com^\n", want: FormatAdblock},
		{name: "adblock comment", input: "! Title: list\nexample.org\n", want: FormatAdblock},
		{name: "adblock header", input: "[Adblock Plus 2.0]\nexample.org\n", want: FormatAdblock},
		{name: "adblock after hosts lines", input: "0.0.0.0 a.test\n0.0.0.0 b.test\n||c.test^\n", want: FormatAdblock},
		{name: "rpz origin", input: "$ORIGIN rpz.example.\n", want: FormatRPZ},
		{name: "rpz ttl", input: "$TTL 300\n", want: FormatRPZ},
		{name: "rpz soa", input: "@ IN SOA localhost. hostmaster.localhost. 1 2 3 4 5\n", want: FormatRPZ},
		{name: "rpz nxdomain", input: "; feed\ndeepseek.com CNAME .\n", want: FormatRPZ},
		{name: "rpz nodata", input: "deepseek.com 300 IN CNAME *.\n", want: FormatRPZ},
		{name: "rpz passthru", input: "ok.test CNAME rpz-passthru.\n", want: FormatRPZ},
		{name: "rpz beats adblock comment", input: "! not adblock\n$ORIGIN rpz.example.\n", want: FormatRPZ},
		{name: "hosts name that reads like a type", input: "0.0.0.0 soa cname\n0.0.0.0 x.test\n", want: FormatHosts},
		{name: "comment mentioning CNAME", input: "# write CNAME . in RPZ\ndeepseek.com\n", want: FormatPlain},
		{name: "walled-garden CNAME is not a marker", input: "x CNAME walled.example.\n", want: FormatPlain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DetectFormat([]byte(tt.input)); got != tt.want {
				t.Errorf("DetectFormat(%q) = %s, want %s", tt.input, got, tt.want)
			}
		})
	}
}

func TestParseFormatAuto(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []Entry
	}{
		{name: "hosts", input: "0.0.0.0 ads.test\n", want: []Entry{exactEntry("ads.test", 1)}},
		{name: "adblock", input: "||ads.test^\n", want: []Entry{suffixEntry("ads.test", 1)}},
		{name: "rpz", input: "ads.test CNAME .\n", want: []Entry{withAction(exactEntry("ads.test", 1), ActionNXDomain)}},
		{name: "plain", input: "*.ads.test\n", want: []Entry{subEntry("ads.test", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, warnings, err := ParseFormat("list", strings.NewReader(tt.input), FormatAuto)
			if err != nil || len(warnings) != 0 {
				t.Fatalf("ParseFormat() warnings = %v, error = %v", warnings, err)
			}
			if len(entries) != len(tt.want) || entries[0] != tt.want[0] {
				t.Errorf("ParseFormat() = %+v, want %+v", entries, tt.want)
			}
		})
	}
}

func TestParseFormatAutoReadError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	_, _, err := ParseFormat("broken.txt", io.MultiReader(strings.NewReader("a.test\n"), iotest.ErrReader(errDisk)), FormatAuto)
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "broken.txt") {
		t.Errorf("ParseFormat() error = %v, want %v naming the source", err, errDisk)
	}
}

func TestParseFormatName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Format
		wantErr bool
	}{
		{name: "auto", in: "auto", want: FormatAuto},
		{name: "plain", in: "plain", want: FormatPlain},
		{name: "hosts", in: "hosts", want: FormatHosts},
		{name: "adblock", in: "adblock", want: FormatAdblock},
		{name: "rpz", in: "rpz", want: FormatRPZ},
		{name: "upper case", in: "RPZ", want: FormatRPZ},
		{name: "unknown", in: "dnsmasq", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFormatName(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "auto, plain, hosts, adblock, rpz") {
					t.Errorf("ParseFormatName(%q) error = %v, want one listing the formats", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseFormatName(%q) = %v, %v, want %v", tt.in, got, err, tt.want)
			}
			if again, err := ParseFormatName(got.String()); err != nil || again != got {
				t.Errorf("ParseFormatName(%q.String()) = %v, %v: String and ParseFormatName disagree", tt.in, again, err)
			}
		})
	}
}

func TestKindActionStrings(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "suffix", got: KindSuffix.String(), want: "suffix"},
		{name: "exact", got: KindExact.String(), want: "exact"},
		{name: "subdomains", got: KindSubdomains.String(), want: "subdomains"},
		{name: "bad kind", got: Kind(9).String(), want: "Kind(9)"},
		{name: "default", got: ActionDefault.String(), want: "default"},
		{name: "nxdomain", got: ActionNXDomain.String(), want: "nxdomain"},
		{name: "nodata", got: ActionNoData.String(), want: "nodata"},
		{name: "bad action", got: Action(9).String(), want: "Action(9)"},
		{name: "bad format", got: Format(9).String(), want: "Format(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("String() = %q, want %q", tt.got, tt.want)
			}
		})
	}
}
