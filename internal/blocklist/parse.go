package blocklist

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entry is one parsed list entry.
type Entry struct {
	Name string // normalised: lower-case ASCII (punycode A-labels for IDN), no trailing dot
	// Exact is true when the entry covers Name only. It predates Kind and is
	// kept in step with it: parsers set both, and Builder.Add reads Exact
	// with the zero Kind as KindExact.
	Exact bool
	Kind  Kind
	// Allow makes the entry an exception that overrides block entries at
	// the same or a less specific name (Adblock "@@", RPZ rpz-passthru).
	Allow  bool
	Action Action // how a blocked name is answered; ActionDefault for plain, hosts and Adblock lists
	Line   int    // 1-based line number in the source
}

// Warning is a malformed or unsupported line that was reported and skipped.
type Warning struct {
	Source string // list reference, e.g. "builtin:deepseek" or a path
	Line   int
	Msg    string // what is wrong, including the offending text quoted
}

// String formats the warning like a compiler diagnostic, so editors can jump to the line.
func (w Warning) String() string {
	return fmt.Sprintf("%s:%d: %s", w.Source, w.Line, w.Msg)
}

// exactPrefix marks an entry that covers only the name itself. It exists for
// hosts on shared platforms, where blocking the parent would break unrelated services.
const exactPrefix = "exact:"

// wildcardPrefix marks an entry that covers only the names below the name.
const wildcardPrefix = "*."

// maxLineLen bounds the memory one line may take. A longer line cannot hold a
// domain, so it is reported and skipped rather than failing the whole list.
const maxLineLen = 64 << 10

// utf8BOM is tolerated at the start of a list because editors on Windows add it.
const utf8BOM = "\uFEFF"

// lineParser is one list format. It gets every line in order and reports
// entries and problems to the sink; formats with state across lines (RPZ
// $ORIGIN, parentheses) keep it in the parser value, one per parse.
type lineParser interface {
	line(s *sink, lineNo int, text string)
	// end is called once after the last line, for constructs left open.
	end(s *sink)
}

// sink collects what a parser finds in one source.
type sink struct {
	source string
	// emit takes an entry; an error makes it a warning instead (Load uses
	// this for exceptions it has no trie for).
	emit     func(Entry) error
	warnings []Warning
}

// entry hands e, found on line lineNo whose text is text, to emit.
func (s *sink) entry(lineNo int, text string, e Entry) {
	e.Line = lineNo
	// Names are substrings of their line, which saves a copy per entry, but
	// a line with much more on it (an RPZ comment) would be kept alive whole.
	if len(text) > len(e.Name)+32 {
		e.Name = strings.Clone(e.Name)
	}
	if err := s.emit(e); err != nil {
		s.warn(lineNo, err)
	}
}

func (s *sink) warn(lineNo int, err error) {
	s.warnings = append(s.warnings, Warning{Source: s.source, Line: lineNo, Msg: err.Error()})
}

func (s *sink) warnf(lineNo int, format string, args ...any) {
	s.warnings = append(s.warnings, Warning{Source: s.source, Line: lineNo, Msg: fmt.Sprintf(format, args...)})
}

// Parse reads one list in Dijk's plain format as it was before formats
// existed: a "*.name" line is a warning here, as callers of Parse expect.
// ParseFormat with FormatPlain accepts "*.name". The error is only for I/O
// failures; malformed lines become warnings and never drop the rest of the list.
//
// Plain format: one domain per line, "exact:NAME" for an exact entry, '#'
// starting a comment at the start of a line or after whitespace.
func Parse(source string, r io.Reader) ([]Entry, []Warning, error) {
	return parseAll(source, bufio.NewReaderSize(r, maxLineLen), plainParser{})
}

// ParseFormat reads one list in format f; FormatAuto picks the format from
// the list's first 64 KiB (see DetectFormat). The error is only for I/O
// failures and an unknown format; malformed or unsupported lines become
// warnings naming the line and the construct, and never drop the rest of
// the list.
func ParseFormat(source string, r io.Reader, f Format) ([]Entry, []Warning, error) {
	br := bufio.NewReaderSize(r, maxLineLen)
	if f == FormatAuto {
		var err error
		if f, err = detectReader(br); err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", source, err)
		}
	}
	p, err := newParser(f)
	if err != nil {
		return nil, nil, err
	}
	return parseAll(source, br, p)
}

func parseAll(source string, br *bufio.Reader, p lineParser) ([]Entry, []Warning, error) {
	var entries []Entry
	warnings, err := parseLines(source, br, p, func(e Entry) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return entries, warnings, nil
}

// newParser returns a fresh parser for a concrete format.
func newParser(f Format) (lineParser, error) {
	switch f {
	case FormatPlain:
		return plainParser{wildcards: true}, nil
	case FormatHosts:
		return hostsParser{}, nil
	case FormatAdblock:
		return adblockParser{}, nil
	case FormatRPZ:
		return &rpzParser{}, nil
	}
	return nil, fmt.Errorf("no parser for list format %s", f)
}

// parseLines runs p over every line of br, hands each entry to emit and
// returns the warnings. emit lets Load collect entries without the repeated
// copying of one growing slice.
func parseLines(source string, br *bufio.Reader, p lineParser, emit func(Entry) error) ([]Warning, error) {
	s := &sink{source: source, emit: emit}
	for lineNo := 1; ; lineNo++ {
		raw, readErr := br.ReadSlice('\n')
		switch {
		case errors.Is(readErr, bufio.ErrBufferFull):
			if err := skipRestOfLine(br); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading %s line %d: %w", source, lineNo, err)
			}
			s.warnf(lineNo, "line longer than %d octets skipped: %q", maxLineLen, shorten(string(raw)))
			continue
		case readErr != nil && !errors.Is(readErr, io.EOF):
			return nil, fmt.Errorf("reading %s line %d: %w", source, lineNo, readErr)
		}
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte(utf8BOM))
		}
		// One string per line; entries keep substrings of it instead of copies.
		p.line(s, lineNo, string(bytes.TrimRight(raw, "\r\n")))
		if readErr != nil { // io.EOF: the last line had no newline, or there was none
			p.end(s)
			return s.warnings, nil
		}
	}
}

// skipRestOfLine discards input up to and including the next newline.
func skipRestOfLine(br *bufio.Reader) error {
	for {
		_, err := br.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// plainParser parses Dijk's plain format. Without wildcards it is the format
// as Parse and builtin lists have always read it.
type plainParser struct {
	wildcards bool // accept "*.name" as KindSubdomains
}

func (p plainParser) end(*sink) {}

func (p plainParser) line(s *sink, lineNo int, line string) {
	e, ok, err := p.parse(line)
	switch {
	case err != nil:
		s.warn(lineNo, err)
	case ok:
		s.entry(lineNo, line, e)
	}
}

func (p plainParser) parse(line string) (Entry, bool, error) {
	text := strings.TrimSpace(stripComment(line))
	if text == "" {
		return Entry{}, false, nil
	}
	if containsSpace(text) {
		return Entry{}, false, fmt.Errorf("more than one token in %q: this format takes one domain per line", shorten(text))
	}
	name, kind := text, KindSuffix
	// The prefix is matched case-insensitively, like the names after it.
	if len(text) >= len(exactPrefix) && strings.EqualFold(text[:len(exactPrefix)], exactPrefix) {
		name, kind = text[len(exactPrefix):], KindExact
		if name == "" {
			return Entry{}, false, fmt.Errorf("missing domain after %q", exactPrefix)
		}
		if p.wildcards && strings.HasPrefix(name, wildcardPrefix) {
			return Entry{}, false, fmt.Errorf("%q contradicts itself: %q is the name only, %q the names below it", shorten(text), exactPrefix, wildcardPrefix)
		}
	} else if p.wildcards && strings.HasPrefix(text, wildcardPrefix) {
		name, kind = text[len(wildcardPrefix):], KindSubdomains
	}
	if p.wildcards && strings.IndexByte(name, '*') >= 0 {
		return Entry{}, false, fmt.Errorf("unsupported glob \"*\" in %q: only a leading \"*.\" (every name strictly below) is supported", shorten(text))
	}
	canonical, err := Normalize(name)
	if err != nil {
		return Entry{}, false, err
	}
	return Entry{Name: canonical, Exact: kind == KindExact, Kind: kind}, true, nil
}

// stripComment cuts a '#' comment. Only a '#' at the start or after
// whitespace opens one, so "foo#bar" stays visible as a malformed domain
// instead of silently becoming "foo".
func stripComment(line string) string {
	for i := range len(line) {
		if line[i] == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t') {
			return line[:i]
		}
	}
	return line
}

// containsSpace is strings.ContainsFunc(s, unicode.IsSpace) without
// decoding runes while s is ASCII, since it runs on every line.
func containsSpace(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			return strings.ContainsFunc(s[i:], unicode.IsSpace)
		case c == ' ' || '\t' <= c && c <= '\r':
			return true
		}
	}
	return false
}
