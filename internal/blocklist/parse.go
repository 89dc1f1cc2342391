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

// Entry is one parsed list line.
type Entry struct {
	Name  string // normalised: lower-case ASCII (punycode A-labels for IDN), no trailing dot
	Exact bool   // true: Name only; false: Name and every name below it
	Line  int    // 1-based line number in the source
}

// Warning is a malformed line that was reported and skipped.
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

// maxLineLen bounds the memory one line may take. A longer line cannot hold a
// domain, so it is reported and skipped rather than failing the whole list.
const maxLineLen = 64 << 10

// utf8BOM is tolerated at the start of a list because editors on Windows add it.
const utf8BOM = "\uFEFF"

// lineParser extracts at most one entry from one line of a list format. It
// returns ok == false for lines without an entry (blank, comment) and an error
// for malformed lines. Entry.Line is filled in by the caller. Each format
// (plain today; hosts, Adblock, RPZ later) is one lineParser.
type lineParser func(line string) (e Entry, ok bool, err error)

// Parse reads one list in Dijk's plain format. The error is only for I/O failures;
// malformed lines become warnings and never drop the rest of the list.
//
// Plain format: one domain per line, "exact:NAME" for an exact entry, '#'
// starting a comment at the start of a line or after whitespace.
func Parse(source string, r io.Reader) ([]Entry, []Warning, error) {
	var entries []Entry
	warnings, err := parseLines(source, r, parsePlainLine, func(e Entry) { entries = append(entries, e) })
	if err != nil {
		return nil, nil, err
	}
	return entries, warnings, nil
}

// parseLines runs parseLine over every line of r, hands each entry to emit
// and returns the warnings. emit lets Load collect entries without the
// repeated copying of one growing slice.
func parseLines(source string, r io.Reader, parseLine lineParser, emit func(Entry)) ([]Warning, error) {
	var warnings []Warning
	br := bufio.NewReaderSize(r, maxLineLen)
	for lineNo := 1; ; lineNo++ {
		raw, readErr := br.ReadSlice('\n')
		switch {
		case errors.Is(readErr, bufio.ErrBufferFull):
			if err := skipRestOfLine(br); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading %s line %d: %w", source, lineNo, err)
			}
			warnings = append(warnings, Warning{
				Source: source,
				Line:   lineNo,
				Msg:    fmt.Sprintf("line longer than %d octets skipped: %q", maxLineLen, shorten(string(raw))),
			})
			continue
		case readErr != nil && !errors.Is(readErr, io.EOF):
			return nil, fmt.Errorf("reading %s line %d: %w", source, lineNo, readErr)
		}
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte(utf8BOM))
		}
		// One string per line; entries keep substrings of it instead of copies.
		e, ok, err := parseLine(string(bytes.TrimRight(raw, "\r\n")))
		switch {
		case err != nil:
			warnings = append(warnings, Warning{Source: source, Line: lineNo, Msg: err.Error()})
		case ok:
			e.Line = lineNo
			emit(e)
		}
		if readErr != nil { // io.EOF: the last line had no newline, or there was none
			return warnings, nil
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

// parsePlainLine parses one line of the plain format.
func parsePlainLine(line string) (Entry, bool, error) {
	text := strings.TrimSpace(stripComment(line))
	if text == "" {
		return Entry{}, false, nil
	}
	if containsSpace(text) {
		return Entry{}, false, fmt.Errorf("more than one token in %q: this format takes one domain per line", shorten(text))
	}
	name, exact := text, false
	// The prefix is matched case-insensitively, like the names after it.
	if len(text) >= len(exactPrefix) && strings.EqualFold(text[:len(exactPrefix)], exactPrefix) {
		name, exact = text[len(exactPrefix):], true
		if name == "" {
			return Entry{}, false, fmt.Errorf("missing domain after %q", exactPrefix)
		}
	}
	canonical, err := Normalize(name)
	if err != nil {
		return Entry{}, false, err
	}
	return Entry{Name: canonical, Exact: exact}, true, nil
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
