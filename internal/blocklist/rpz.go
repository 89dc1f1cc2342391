package blocklist

import (
	"errors"
	"fmt"
	"strings"
)

// rpzParser reads a Response Policy Zone (draft-vixie-dnsop-dns-rpz) in
// master-file format, the subset RPZ feeds use: $ORIGIN, $TTL, ';' comments,
// parenthesised records over several lines, '@', owners relative to $ORIGIN
// or absolute under the zone, records with the owner left blank.
//
// Each owner below the zone apex is a trigger and its CNAME the action:
//
//	name   CNAME .              block name, NXDOMAIN        (KindExact)
//	*.name CNAME *.             block below name, NODATA    (KindSubdomains)
//	name   CNAME rpz-passthru.  exception                   (Allow)
//
// RPZ has no suffix trigger: "name" alone blocks only the name, so a list
// that means "name and below" has both lines (and gives both entries).
// Other triggers (rpz-ip, rpz-nsdname, ...) and actions (rpz-drop., local
// data, walled gardens) are reported by name and skipped.
type rpzParser struct {
	origin string // current $ORIGIN: lower case, absolute; "" while unknown
	// apex is the zone's name, which owners are relative to: the SOA's owner,
	// or until the SOA the first $ORIGIN; "" while unknown.
	apex    string
	seenSOA bool
	// last is the owner of the previous record, for records that leave it blank.
	last    owner
	hasLast bool

	// A record inside parentheses, gathered over several lines.
	depth       int
	pending     []string
	pendingLine int
	pendingText string
	pendingOpen bool // the record's first line left the owner blank
	tokens      []string
}

// owner is an owner name as written, with what it is relative to.
type owner struct {
	name string // lower case
	// origin is the $ORIGIN a relative name was read under; "" for an
	// absolute name, and for a relative one while no origin is known.
	origin   string
	absolute bool
}

// rpzTriggerType names the policy type of a non-QNAME trigger label, or "".
func rpzTriggerType(label string) string {
	switch label {
	case "rpz-ip":
		return "response IP"
	case "rpz-nsdname":
		return "name server name"
	case "rpz-nsip":
		return "name server IP"
	case "rpz-client-ip":
		return "client IP"
	}
	return ""
}

func (p *rpzParser) line(s *sink, lineNo int, text string) {
	if p.depth > 0 && !startsRecord(text) {
		var err error
		p.pending, p.depth, err = scanZoneLine(p.pending, text, p.depth)
		if err != nil {
			s.warnf(lineNo, "%v in %q", err, shorten(strings.TrimSpace(text)))
		}
		if p.depth == 0 {
			p.record(s, p.pendingLine, p.pendingText, p.pendingOpen, p.pending)
			p.pending, p.pendingText = nil, ""
		}
		return
	}
	if p.depth > 0 {
		// A new record while "(" is open: the ")" was forgotten. Dropping
		// everything after it would fail open, so only the open record goes.
		p.unterminated(s)
	}
	var err error
	p.tokens, p.depth, err = scanZoneLine(p.tokens[:0], text, 0)
	if err != nil {
		s.warnf(lineNo, "%v in %q", err, shorten(strings.TrimSpace(text)))
	}
	blankOwner := text != "" && (text[0] == ' ' || text[0] == '\t')
	if p.depth > 0 {
		p.pending = append([]string(nil), p.tokens...)
		p.pendingLine, p.pendingText, p.pendingOpen = lineNo, text, blankOwner
		return
	}
	if len(p.tokens) > 0 {
		p.record(s, lineNo, text, blankOwner, p.tokens)
	}
}

func (p *rpzParser) end(s *sink) {
	if p.depth > 0 {
		p.unterminated(s)
	}
}

func (p *rpzParser) unterminated(s *sink) {
	s.warnf(p.pendingLine, "record skipped: \"(\" is never closed before the next record or the end: %q", shorten(strings.TrimSpace(p.pendingText)))
	p.depth, p.pending, p.pendingText = 0, nil, ""
}

// startsRecord reports whether a line read inside parentheses must be a new
// record: it starts in the first column with a directive or an owner
// followed by a record type. Continuation lines are indented or hold only
// numbers and names, so this is where a missing ")" shows.
func startsRecord(text string) bool {
	if text == "" || text[0] == ' ' || text[0] == '\t' || text[0] == ';' || text[0] == ')' {
		return false
	}
	if text[0] == '$' {
		return true
	}
	fields := strings.Fields(text)
	for i := 1; i < len(fields) && i < 4; i++ {
		if isRecordType(fields[i]) {
			return true
		}
	}
	return false
}

// scanZoneLine appends the tokens of one master-file line to dst. It drops
// the ';' comment, honours quotes and backslash escapes, and tracks
// parentheses: depth is how many are open before the line, and the result
// how many after it.
func scanZoneLine(dst []string, text string, depth int) ([]string, int, error) {
	var err error
	start := -1 // start of the current token
	flush := func(i int) {
		if start >= 0 {
			dst = append(dst, text[start:i])
			start = -1
		}
	}
	inQuote := false
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\\':
			if start < 0 {
				start = i
			}
			i++ // the escaped octet is part of the token, whatever it is
		case inQuote:
			if c == '"' {
				inQuote = false
			}
		case c == '"':
			if start < 0 {
				start = i
			}
			inQuote = true
		case c == ';':
			flush(i)
			return dst, depth, err
		case c == '(':
			flush(i)
			depth++
		case c == ')':
			flush(i)
			if depth == 0 {
				err = errors.New("\")\" without \"(\"")
			} else {
				depth--
			}
		case c == ' ' || c == '\t' || c == '\r':
			flush(i)
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(text))
	return dst, depth, err
}

// record handles one complete record or directive.
func (p *rpzParser) record(s *sink, lineNo int, text string, blankOwner bool, tokens []string) {
	if len(tokens) == 0 {
		return // "( )" around nothing
	}
	if !blankOwner && strings.HasPrefix(tokens[0], "$") {
		p.directive(s, lineNo, tokens)
		return
	}
	var own owner
	rest := tokens
	if blankOwner {
		if !p.hasLast {
			s.warnf(lineNo, "record %q has no owner and follows no record to take it from", shorten(strings.Join(tokens, " ")))
			return
		}
		own = p.last
	} else {
		own = p.resolve(tokens[0])
		rest = tokens[1:]
		p.last, p.hasLast = own, true
	}
	for len(rest) > 0 && (isTTL(rest[0]) || isClass(rest[0])) {
		if isClass(rest[0]) && !strings.EqualFold(rest[0], "IN") {
			s.warnf(lineNo, "record of class %s skipped: policy zones are class IN", rest[0])
			return
		}
		rest = rest[1:]
	}
	if len(rest) == 0 {
		s.warnf(lineNo, "record %q has no type", shorten(strings.Join(tokens, " ")))
		return
	}
	rrType, rdata := strings.ToUpper(rest[0]), rest[1:]
	if rrType == "SOA" {
		p.soa(s, lineNo, own)
		return
	}
	trigger, err := p.trigger(own)
	if err != nil {
		s.warn(lineNo, err)
		return
	}
	if trigger == "" {
		if rrType != "NS" {
			s.warnf(lineNo, "%s record at the zone apex is not a policy: only SOA and NS belong there", rrType)
		}
		return
	}
	e, err := p.rule(trigger, rrType, rdata)
	if err != nil {
		s.warn(lineNo, err)
		return
	}
	s.entry(lineNo, text, e)
}

func (p *rpzParser) directive(s *sink, lineNo int, tokens []string) {
	name := strings.ToUpper(tokens[0])
	switch name {
	case "$ORIGIN":
		if len(tokens) != 2 {
			s.warnf(lineNo, "$ORIGIN takes one name, got %q", shorten(strings.Join(tokens, " ")))
			return
		}
		origin := foldASCII(tokens[1])
		if !isAbsolute(origin) {
			if p.origin == "" {
				s.warnf(lineNo, "$ORIGIN %q is relative and there is no origin to append it to: taken as %q", shorten(origin), shorten(origin+"."))
				origin += "."
			} else {
				origin += "." + p.origin
			}
		}
		if _, err := Normalize(origin); err != nil {
			s.warnf(lineNo, "$ORIGIN ignored: %v", err)
			return
		}
		p.origin = origin
		if p.apex == "" {
			p.apex = origin
		}
	case "$TTL":
		if len(tokens) != 2 || !isTTL(tokens[1]) {
			s.warnf(lineNo, "$TTL takes one time value, got %q", shorten(strings.Join(tokens, " ")))
		}
	default:
		s.warnf(lineNo, "unsupported directive %s: the line is skipped", shorten(name))
	}
}

// soa records the zone apex: the SOA's owner is the zone's name.
func (p *rpzParser) soa(s *sink, lineNo int, own owner) {
	if p.seenSOA {
		s.warnf(lineNo, "second SOA record ignored")
		return
	}
	p.seenSOA = true
	if own.absolute {
		p.apex = own.name
		if p.origin == "" {
			p.origin = own.name
		}
	}
}

// resolve turns an owner as written into an absolute name when the origin
// is known.
func (p *rpzParser) resolve(name string) owner {
	if name == "@" {
		return owner{name: p.origin, absolute: p.origin != ""}
	}
	name = foldASCII(name)
	if isAbsolute(name) {
		return owner{name: name, absolute: true}
	}
	// Joined with the origin only when needed: usually origin is the apex
	// and the name as written is the trigger.
	return owner{name: name, origin: p.origin}
}

// trigger returns the owner relative to the zone apex: "" for the apex itself.
func (p *rpzParser) trigger(own owner) (string, error) {
	if !own.absolute {
		if own.origin == "" || own.origin == p.apex {
			// Relative to the zone: the trigger as written. Without $ORIGIN
			// and SOA the zone's name is unknown, but that changes nothing.
			return own.name, nil
		}
		own = owner{name: own.name + "." + own.origin, absolute: true}
	}
	switch {
	case p.apex == "":
		return "", fmt.Errorf("absolute owner %q but the zone's name is not known yet: start the file with $ORIGIN or the SOA", shorten(own.name))
	case own.name == p.apex:
		return "", nil
	case strings.HasSuffix(own.name, "."+p.apex):
		return own.name[:len(own.name)-len(p.apex)-1], nil
	}
	return "", fmt.Errorf("owner %q is outside the zone %q", shorten(own.name), shorten(p.apex))
}

// rule turns a trigger and its record into an entry.
func (p *rpzParser) rule(trigger, rrType string, rdata []string) (Entry, error) {
	if label := trigger[strings.LastIndexByte(trigger, '.')+1:]; strings.HasPrefix(label, "rpz-") {
		if what := rpzTriggerType(label); what != "" {
			return Entry{}, fmt.Errorf("unsupported %s trigger (%s) %q: Dijk matches query names only", label, what, shorten(trigger))
		}
		return Entry{}, fmt.Errorf("unknown RPZ trigger %q", shorten(trigger))
	}
	name, kind := trigger, KindExact
	if rest, ok := strings.CutPrefix(trigger, wildcardPrefix); ok {
		name, kind = rest, KindSubdomains
	}
	switch {
	case trigger == "*":
		return Entry{}, errors.New("unsupported wildcard owner \"*\" at the zone apex: it would match every name")
	case strings.IndexByte(name, '*') >= 0:
		return Entry{}, fmt.Errorf("unsupported wildcard in owner %q: only a leftmost \"*\" label is a trigger", shorten(trigger))
	}
	if rrType != "CNAME" {
		return Entry{}, fmt.Errorf("unsupported local-data %s record for %q: Dijk answers blocked names with its own sinkhole, not with zone data", shorten(rrType), shorten(trigger))
	}
	if len(rdata) != 1 {
		return Entry{}, fmt.Errorf("CNAME for %q needs exactly one target, got %q", shorten(trigger), shorten(strings.Join(rdata, " ")))
	}
	canonical, err := Normalize(name)
	if err != nil {
		return Entry{}, fmt.Errorf("owner %q: %w", shorten(trigger), err)
	}
	e := Entry{Name: canonical, Exact: kind == KindExact, Kind: kind}
	target := foldASCII(rdata[0])
	switch target {
	case ".":
		e.Action = ActionNXDomain
	case "*.":
		e.Action = ActionNoData
	case "rpz-passthru.", trigger + ".":
		// CNAME to the trigger itself is the PASSTHRU of older RPZ versions.
		e.Allow = true
	case "rpz-drop.":
		return Entry{}, fmt.Errorf("unsupported action rpz-drop. for %q (drop the query unanswered)", shorten(trigger))
	case "rpz-tcp-only.":
		return Entry{}, fmt.Errorf("unsupported action rpz-tcp-only. for %q (force TCP)", shorten(trigger))
	default:
		return Entry{}, p.badTarget(trigger, target)
	}
	return e, nil
}

// badTarget explains an unsupported CNAME target.
func (p *rpzParser) badTarget(trigger, target string) error {
	if !isAbsolute(target) {
		full := target + "." + p.origin
		if p.origin == "" {
			full = target + ".<origin>"
		}
		return fmt.Errorf("unsupported CNAME target %q for %q: relative, so it means %q, a walled-garden rewrite; did you mean %q?", shorten(target), shorten(trigger), shorten(full), shorten(target+"."))
	}
	if strings.HasPrefix(target, "rpz-") {
		return fmt.Errorf("unknown RPZ action %q for %q", shorten(target), shorten(trigger))
	}
	if strings.HasPrefix(target, wildcardPrefix) {
		return fmt.Errorf("unsupported wildcard walled-garden CNAME %q for %q: Dijk answers blocked names with its own sinkhole", shorten(target), shorten(trigger))
	}
	return fmt.Errorf("unsupported walled-garden CNAME %q for %q: Dijk answers blocked names with its own sinkhole", shorten(target), shorten(trigger))
}

// foldASCII is lowerASCII without the copy for names already in lower case.
func foldASCII(s string) string {
	if hasUpper(s) {
		return lowerASCII(s)
	}
	return s
}

// isAbsolute reports a name ending in an unescaped dot.
func isAbsolute(name string) bool {
	return strings.HasSuffix(name, ".") && !isEscaped(name, len(name)-1)
}

// isTTL reports a master-file time value: seconds, or BIND units ("1h30m").
func isTTL(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := range len(s) {
		switch c := s[i] | 0x20; {
		case '0' <= s[i] && s[i] <= '9', c == 's', c == 'm', c == 'h', c == 'd', c == 'w':
		default:
			return false
		}
	}
	return true
}

func isClass(s string) bool {
	switch strings.ToUpper(s) {
	case "IN", "CH", "HS", "CS", "NONE", "ANY":
		return true
	}
	return len(s) > 5 && strings.EqualFold(s[:5], "CLASS") && isAllDigits(s[5:])
}

// isRecordType reports the record types a policy zone may hold, to tell a
// new record from a continuation line.
func isRecordType(s string) bool {
	switch strings.ToUpper(s) {
	case "SOA", "NS", "CNAME", "A", "AAAA", "TXT", "MX", "PTR", "SRV", "DNAME", "HINFO",
		"CAA", "HTTPS", "SVCB", "NAPTR", "DS", "DNSKEY", "RRSIG", "NSEC", "NSEC3", "LOC":
		return true
	}
	return false
}
