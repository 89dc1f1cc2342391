package blocklist

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// wantWarning matches a Warning by line and a fragment of its message, so
// tests pin what matters (where, and the quoted text) without freezing wording.
type wantWarning struct {
	line     int
	contains string
}

func TestParse(t *testing.T) {
	tests := []struct {
		name         string
		input        string
		wantEntries  []Entry
		wantWarnings []wantWarning
	}{
		{
			name:        "suffix and exact entries",
			input:       "deepseek.com\nexact:cmpassport.com\n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 1}, {Name: "cmpassport.com", Exact: true, Kind: KindExact, Line: 2}},
		},
		{
			name:        "comments and blank lines",
			input:       "# header\n\n   \t\ndeepseek.com # the app\nexact:cmpassport.com\t# login\n  # indented comment\n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 4}, {Name: "cmpassport.com", Exact: true, Kind: KindExact, Line: 5}},
		},
		{
			name:         "hash inside a token is not a comment",
			input:        "deepseek.com#chat\n",
			wantWarnings: []wantWarning{{line: 1, contains: `invalid domain "deepseek.com#chat": invalid character "#"`}},
		},
		{
			name:        "CRLF line endings",
			input:       "deepseek.com\r\nexact:cmpassport.com\r\n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 1}, {Name: "cmpassport.com", Exact: true, Kind: KindExact, Line: 2}},
		},
		{
			name:        "UTF-8 BOM at start",
			input:       "\uFEFFdeepseek.com\n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 1}},
		},
		{
			name:        "surrounding whitespace, case and trailing dot",
			input:       "  \tDeepSeek.COM.  \n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 1}},
		},
		{
			name:        "IDN converted to punycode",
			input:       "bücher.example\nexact:www.BÜCHER.example.\n",
			wantEntries: []Entry{{Name: "xn--bcher-kva.example", Line: 1}, {Name: "www.xn--bcher-kva.example", Exact: true, Kind: KindExact, Line: 2}},
		},
		{
			name:        "last line without newline",
			input:       "a.test\nb.test",
			wantEntries: []Entry{{Name: "a.test", Line: 1}, {Name: "b.test", Line: 2}},
		},
		{
			name:        "duplicates are kept for the builder to resolve",
			input:       "a.test\na.test\n",
			wantEntries: []Entry{{Name: "a.test", Line: 1}, {Name: "a.test", Line: 2}},
		},
		{
			name:        "exact prefix in upper case",
			input:       "EXACT:CMPassport.com\n",
			wantEntries: []Entry{{Name: "cmpassport.com", Exact: true, Kind: KindExact, Line: 1}},
		},
		{
			name:         "hosts-file line",
			input:        "0.0.0.0 deepseek.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `more than one token in "0.0.0.0 deepseek.com"`}},
		},
		{
			name:         "space after exact prefix",
			input:        "exact: cmpassport.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `"exact: cmpassport.com"`}},
		},
		{
			name:         "bare exact prefix",
			input:        "exact:\nexact:   # nothing\n",
			wantWarnings: []wantWarning{{line: 1, contains: `missing domain after "exact:"`}, {line: 2, contains: `missing domain after "exact:"`}},
		},
		{
			name:         "exact prefix twice",
			input:        "exact:exact:a.test\n",
			wantWarnings: []wantWarning{{line: 1, contains: `invalid domain "exact:a.test": invalid character ":"`}},
		},
		{
			name:         "URL",
			input:        "https://chat.deepseek.com/\n",
			wantWarnings: []wantWarning{{line: 1, contains: `invalid domain "https://chat.deepseek.com/"`}},
		},
		{
			name:         "wildcard",
			input:        "*.deepseek.com\n",
			wantWarnings: []wantWarning{{line: 1, contains: `invalid domain "*.deepseek.com": invalid character "*"`}},
		},
		{
			name:         "IP address",
			input:        "192.0.2.1\n2001:db8::1\n",
			wantWarnings: []wantWarning{{line: 1, contains: `"192.0.2.1": IP address`}, {line: 2, contains: `"2001:db8::1": IP address`}},
		},
		{
			name:         "empty label",
			input:        "a..b\n",
			wantWarnings: []wantWarning{{line: 1, contains: `invalid domain "a..b": empty label`}},
		},
		{
			name:         "over-long label",
			input:        strings.Repeat("x", 64) + ".test\n",
			wantWarnings: []wantWarning{{line: 1, contains: "label longer than 63 octets"}},
		},
		{
			name:  "bad lines do not drop good ones",
			input: "a.test\n*.b.test\nc.test\n0.0.0.0 d.test\nexact:\ne.test\n",
			wantEntries: []Entry{
				{Name: "a.test", Line: 1},
				{Name: "c.test", Line: 3},
				{Name: "e.test", Line: 6},
			},
			wantWarnings: []wantWarning{{line: 2, contains: `"*.b.test"`}, {line: 4, contains: `"0.0.0.0 d.test"`}, {line: 5, contains: "exact:"}},
		},
		{
			name:  "empty input",
			input: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, warnings, err := Parse("test.txt", strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if !slices.Equal(entries, tt.wantEntries) {
				t.Errorf("Parse() entries = %+v, want %+v", entries, tt.wantEntries)
			}
			checkWarnings(t, warnings, "test.txt", tt.wantWarnings)
		})
	}
}

func checkWarnings(t *testing.T, got []Warning, source string, want []wantWarning) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings = %v, want %d warnings %+v", got, len(want), want)
	}
	for i, w := range got {
		if w.Source != source || w.Line != want[i].line || !strings.Contains(w.Msg, want[i].contains) {
			t.Errorf("warning %d = %q, want %s:%d containing %q", i, w, source, want[i].line, want[i].contains)
		}
	}
}

func TestParseOverlongLine(t *testing.T) {
	tests := []struct {
		name         string
		input        string
		wantEntries  []Entry
		wantWarnings []wantWarning
	}{
		{
			name:         "skipped with a warning, next line kept",
			input:        strings.Repeat("a", maxLineLen+10) + "\ndeepseek.com\n",
			wantEntries:  []Entry{{Name: "deepseek.com", Line: 2}},
			wantWarnings: []wantWarning{{line: 1, contains: "line longer than"}},
		},
		{
			name:         "over-long last line without newline",
			input:        "deepseek.com\n" + strings.Repeat("a", 3*maxLineLen),
			wantEntries:  []Entry{{Name: "deepseek.com", Line: 1}},
			wantWarnings: []wantWarning{{line: 2, contains: "line longer than"}},
		},
		{
			name:        "long comment within the limit",
			input:       "# " + strings.Repeat("c", maxLineLen-10) + "\ndeepseek.com\n",
			wantEntries: []Entry{{Name: "deepseek.com", Line: 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, warnings, err := Parse("long.txt", strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if !slices.Equal(entries, tt.wantEntries) {
				t.Errorf("Parse() entries = %+v, want %+v", entries, tt.wantEntries)
			}
			checkWarnings(t, warnings, "long.txt", tt.wantWarnings)
		})
	}
}

func TestParseReadError(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name   string
		reader io.Reader
	}{
		{name: "error after a line", reader: io.MultiReader(strings.NewReader("deepseek.com\n"), iotest.ErrReader(errDisk))},
		{name: "error mid-line", reader: io.MultiReader(strings.NewReader("deep"), iotest.ErrReader(errDisk))},
		{name: "error at once", reader: iotest.ErrReader(errDisk)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse("broken.txt", tt.reader)
			if !errors.Is(err, errDisk) {
				t.Fatalf("Parse() error = %v, want %v", err, errDisk)
			}
			if !strings.Contains(err.Error(), "broken.txt") {
				t.Errorf("Parse() error %q does not name the source", err)
			}
		})
	}
}

func TestWarningString(t *testing.T) {
	tests := []struct {
		name    string
		warning Warning
		want    string
	}{
		{
			name:    "builtin source",
			warning: Warning{Source: "builtin:deepseek", Line: 12, Msg: `invalid domain "a..b": empty label`},
			want:    `builtin:deepseek:12: invalid domain "a..b": empty label`,
		},
		{
			name:    "file path",
			warning: Warning{Source: "/etc/dijk/extra.txt", Line: 3, Msg: "missing domain"},
			want:    "/etc/dijk/extra.txt:3: missing domain",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.warning.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
