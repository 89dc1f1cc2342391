package report

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file is a validating JSON scanner that extracts only the hit-log
// fields a report needs. It exists because encoding/json costs five to ten
// times as much per line and allocates every string it decodes (see
// BenchmarkParse). Its contract is to accept and extract exactly what
// json.Unmarshal into the struct in scan_test.go would, which
// FuzzScanMatchesEncodingJSON checks: strict JSON syntax, nesting depth 10000,
// case-insensitive key matching (bytes.EqualFold), the last duplicate key
// wins, null leaves a field unset, a value of the wrong type is an error, and
// invalid UTF-8 or lone surrogates become U+FFFD.

// field names one extracted string.
type field uint8

const (
	fTimestamp field = iota // @timestamp
	fIP                     // client.ip
	fName                   // dns.question.name
	fGroup                  // dijk.group
	fList                   // dijk.list
	fRuleset                // rule.ruleset
	fKind                   // dijk.kind
	fDataset                // event.dataset
	numFields
)

// path names the object being scanned, so that keys resolve without
// building a dotted path string.
type path uint8

const (
	pSkip path = iota // an object none of whose keys are wanted
	pRoot
	pClient
	pDNS
	pQuestion
	pRule
	pDijk
	pEvent
)

// maxDepth matches encoding/json's nesting limit.
const maxDepth = 10000

// fields holds the extracted values of one line. A value points into the
// line when it needed no unescaping, else into its own reusable buffer, so a
// parse allocates nothing once the buffers have grown. Values are valid
// until the next parse.
type fields struct {
	val [numFields][]byte
	buf [numFields][]byte
}

// Why a line was rejected; the message is built only when it is shown.
type reason uint8

const (
	rOK reason = iota
	rSyntax
	rDepth
	rNotObject
	rType
	rMissing
	rTimestamp
	rTooLong
)

// scanner parses one line at a time; it is reused across lines.
type scanner struct {
	data   []byte
	pos    int
	depth  int
	f      *fields
	keyBuf []byte // unescaped keys that contained escapes or non-ASCII

	// A value of the wrong type was seen; reported once the line is
	// known to be valid JSON.
	typeErr   bool
	typeKind  kind
	typePath  path
	typeField field

	// Set when parse returns false.
	why   reason
	whyAt int // byte offset of a syntax error
}

// parse fills f from line and reports whether the line is one JSON object
// whose wanted fields have the right types. Presence is not checked here.
func (s *scanner) parse(line []byte, f *fields) bool {
	s.data, s.pos, s.depth, s.f = line, 0, 0, f
	s.why, s.typeErr = rOK, false
	f.val = [numFields][]byte{}
	s.skipWS()
	if s.pos >= len(s.data) {
		return s.syntax()
	}
	first := s.data[s.pos]
	if first == '{' {
		if !s.object(pRoot) {
			return false
		}
	} else if !s.skipValue() {
		// Garbage is a syntax error, as in encoding/json.
		return false
	}
	s.skipWS()
	if s.pos != len(s.data) {
		return s.syntax()
	}
	switch {
	case s.typeErr:
		s.why = rType
		return false
	case first == '{', first == 'n':
		// json.Unmarshal accepts null into a struct and sets nothing;
		// the caller reports the missing fields.
		return true
	}
	s.why = rNotObject
	return false
}

func (s *scanner) syntax() bool {
	s.why, s.whyAt = rSyntax, s.pos
	return false
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		// Dijk writes no whitespace: one comparison settles most calls.
		if c := s.data[s.pos]; c > ' ' || (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			return
		}
		s.pos++
	}
}

// kind says what to do with a key's value.
type kind uint8

const (
	kSkip kind = iota
	kObject
	kString
)

// resolve maps a key in object p to what its value means.
func (s *scanner) resolve(p path, key []byte, plain bool) (kind, path, field) {
	if !plain {
		return s.resolveFold(p, key)
	}
	// Keys made of lower-case ASCII match only themselves under
	// EqualFold, so a switch on the bytes (no allocation) suffices.
	switch p {
	case pRoot:
		switch string(key) {
		case "@timestamp":
			return kString, 0, fTimestamp
		case "client":
			return kObject, pClient, 0
		case "dns":
			return kObject, pDNS, 0
		case "rule":
			return kObject, pRule, 0
		case "dijk":
			return kObject, pDijk, 0
		case "event":
			return kObject, pEvent, 0
		}
	case pClient:
		if string(key) == "ip" {
			return kString, 0, fIP
		}
	case pDNS:
		if string(key) == "question" {
			return kObject, pQuestion, 0
		}
	case pQuestion:
		if string(key) == "name" {
			return kString, 0, fName
		}
	case pRule:
		if string(key) == "ruleset" {
			return kString, 0, fRuleset
		}
	case pDijk:
		switch string(key) {
		case "list":
			return kString, 0, fList
		case "group":
			return kString, 0, fGroup
		case "kind":
			return kString, 0, fKind
		}
	case pEvent:
		if string(key) == "dataset" {
			return kString, 0, fDataset
		}
	}
	return kSkip, pSkip, 0
}

// resolveFold is resolve for keys with upper-case or non-ASCII letters,
// matched as encoding/json does.
func (s *scanner) resolveFold(p path, key []byte) (kind, path, field) {
	eq := func(want string) bool { return bytes.EqualFold(key, []byte(want)) }
	switch p {
	case pRoot:
		switch {
		case eq("@timestamp"):
			return kString, 0, fTimestamp
		case eq("client"):
			return kObject, pClient, 0
		case eq("dns"):
			return kObject, pDNS, 0
		case eq("rule"):
			return kObject, pRule, 0
		case eq("dijk"):
			return kObject, pDijk, 0
		case eq("event"):
			return kObject, pEvent, 0
		}
	case pClient:
		if eq("ip") {
			return kString, 0, fIP
		}
	case pDNS:
		if eq("question") {
			return kObject, pQuestion, 0
		}
	case pQuestion:
		if eq("name") {
			return kString, 0, fName
		}
	case pRule:
		if eq("ruleset") {
			return kString, 0, fRuleset
		}
	case pDijk:
		switch {
		case eq("list"):
			return kString, 0, fList
		case eq("group"):
			return kString, 0, fGroup
		case eq("kind"):
			return kString, 0, fKind
		}
	case pEvent:
		if eq("dataset") {
			return kString, 0, fDataset
		}
	}
	return kSkip, pSkip, 0
}

// object scans an object starting at its '{'.
func (s *scanner) object(p path) bool {
	s.pos++
	s.depth++
	if s.depth > maxDepth {
		s.why = rDepth
		return false
	}
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		s.depth--
		return true
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.syntax()
		}
		start, end, esc, high, ok := s.scanString()
		if !ok {
			return false
		}
		k, child, fld := kSkip, pSkip, field(0)
		if p != pSkip {
			key, plain := s.data[start:end], !esc && !high
			if plain {
				for _, c := range key {
					if 'A' <= c && c <= 'Z' {
						plain = false
						break
					}
				}
			}
			if esc || high {
				s.keyBuf = unquote(s.keyBuf[:0], key)
				key = s.keyBuf
			}
			k, child, fld = s.resolve(p, key, plain)
		}
		s.skipWS()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.syntax()
		}
		s.pos++
		s.skipWS()
		if !s.member(k, child, fld) {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.syntax()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			s.depth--
			return true
		default:
			return s.syntax()
		}
	}
}

// member scans one object member's value.
func (s *scanner) member(k kind, child path, fld field) bool {
	if k == kSkip {
		return s.skipValue()
	}
	if s.pos >= len(s.data) {
		return s.syntax()
	}
	c := s.data[s.pos]
	if c == 'n' {
		// null leaves the field as it was, as in encoding/json.
		return s.literal("null")
	}
	switch k {
	case kObject:
		if c == '{' {
			return s.object(child)
		}
	case kString:
		if c == '"' {
			start, end, esc, high, ok := s.scanString()
			if !ok {
				return false
			}
			raw := s.data[start:end]
			if esc || (high && !utf8.Valid(raw)) {
				s.f.buf[fld] = unquote(s.f.buf[fld][:0], raw)
				raw = s.f.buf[fld]
			}
			s.f.val[fld] = raw
			return true
		}
	}
	// A wrong type fails the line, but only once the rest is known to be
	// valid JSON: like encoding/json, a syntax error takes precedence.
	if !s.typeErr {
		s.typeErr, s.typeKind, s.typePath, s.typeField = true, k, child, fld
	}
	return s.skipValue()
}

// skipValue validates one value of any type.
func (s *scanner) skipValue() bool {
	if s.pos >= len(s.data) {
		return s.syntax()
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object(pSkip)
	case c == '[':
		return s.array()
	case c == '"':
		_, _, _, _, ok := s.scanString()
		return ok
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return s.syntax()
}

func (s *scanner) array() bool {
	s.pos++
	s.depth++
	if s.depth > maxDepth {
		s.why = rDepth
		return false
	}
	s.skipWS()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return true
	}
	for {
		if !s.skipValue() {
			return false
		}
		s.skipWS()
		if s.pos >= len(s.data) {
			return s.syntax()
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipWS()
		case ']':
			s.pos++
			s.depth--
			return true
		default:
			return s.syntax()
		}
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		// Point at the first differing byte, as a reader would expect.
		for i := 0; i < len(lit) && s.pos < len(s.data) && s.data[s.pos] == lit[i]; i++ {
			s.pos++
		}
		return s.syntax()
	}
	s.pos += len(lit)
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && isDigit(d[s.pos]):
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	default:
		return s.syntax()
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			return s.syntax()
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.pos >= len(d) || !isDigit(d[s.pos]) {
			return s.syntax()
		}
		for s.pos < len(d) && isDigit(d[s.pos]) {
			s.pos++
		}
	}
	return true
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// scanString validates a string starting at its opening quote and returns
// the bounds of its raw contents, whether it holds escapes, and whether it
// holds non-ASCII bytes.
func (s *scanner) scanString() (start, end int, esc, high, ok bool) {
	d := s.data
	i := s.pos + 1
	start = i
	for i < len(d) {
		c := d[i]
		if plainBytes[c] != 0 {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return start, i, esc, high, true
		case c == '\\':
			esc = true
			if i+1 >= len(d) {
				s.pos = i + 1
				return 0, 0, false, false, s.syntax()
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) || !isHex(d[j]) {
						s.pos = j
						return 0, 0, false, false, s.syntax()
					}
				}
				i += 6
			default:
				s.pos = i + 1
				return 0, 0, false, false, s.syntax()
			}
		case c < 0x20:
			s.pos = i
			return 0, 0, false, false, s.syntax()
		default:
			high = true
			i++
		}
	}
	s.pos = i
	return 0, 0, false, false, s.syntax()
}

// unquote appends the unescaped contents of a validated string to dst, as
// encoding/json does: invalid UTF-8 bytes and unpaired surrogates become
// U+FFFD.
func unquote(dst, raw []byte) []byte {
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			switch raw[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(raw[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(raw[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // " \ /
				dst = append(dst, raw[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// fieldName is a field's dotted path, for messages.
func fieldName(f field) string {
	switch f {
	case fTimestamp:
		return "@timestamp"
	case fIP:
		return "client.ip"
	case fName:
		return "dns.question.name"
	case fGroup:
		return "dijk.group"
	case fList:
		return "dijk.list"
	case fRuleset:
		return "rule.ruleset"
	case fKind:
		return "dijk.kind"
	case fDataset:
		return "event.dataset"
	}
	return "?"
}

// pathName is an object's dotted path, for messages.
func pathName(p path) string {
	switch p {
	case pClient:
		return "client"
	case pDNS:
		return "dns"
	case pQuestion:
		return "dns.question"
	case pRule:
		return "rule"
	case pDijk:
		return "dijk"
	case pEvent:
		return "event"
	}
	return "?"
}

// typeError describes the first wrong-typed value of the last parse.
func (s *scanner) typeError() string {
	if s.typeKind == kObject {
		return pathName(s.typePath) + " is not an object"
	}
	return fieldName(s.typeField) + " is not a string"
}

// plainBytes[c] is 1 for the string bytes that need no attention: printable
// ASCII other than quote and backslash. A lookup beats four comparisons per
// byte; a constant keeps it immutable.
const plainBytes = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // control characters
	"\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // space to ?
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x01\x01\x01" + // @ to _
	"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01" + // ` to DEL
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // non-ASCII
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // non-ASCII
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" + // non-ASCII
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" // non-ASCII
