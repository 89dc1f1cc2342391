package blocklist

import (
	"fmt"
	"net/netip"
	"strings"
)

// adblockParser parses the DNS subset of Adblock syntax as AdGuard Home
// defines it:
//
//	||name^    the name and every name below it (a suffix rule: it is not
//	           exact-only, whatever some importers do)
//	|name^     the name only
//	name       the name only (AdGuard's "domains-only" lines)
//	@@...      any of the above as an exception (Allow)
//	! ...      comment; also "# ..." and "[Adblock Plus 2.0]" headers
//
// Hosts lines are accepted too, as AdGuard Home does. Everything else a
// browser filter list may hold (modifiers, cosmetic, URL and regex rules,
// globs) cannot be expressed as a name rule: it becomes a warning naming
// the construct, and the rest of the list still loads.
type adblockParser struct{}

func (adblockParser) end(*sink) {}

func (adblockParser) line(s *sink, lineNo int, line string) {
	text := strings.TrimSpace(line)
	if text == "" || text[0] == '!' || isAdblockHeader(text) {
		return
	}
	if construct := cosmeticMarker(text); construct != "" {
		s.warnf(lineNo, "unsupported cosmetic rule (%q) in %q: DNS filtering cannot hide page elements", construct, shorten(text))
		return
	}
	if text[0] == '#' {
		return // AdGuard allows '#' comments; "##" rules were caught above
	}
	if i := strings.IndexAny(text, " \t"); i > 0 {
		if _, err := netip.ParseAddr(text[:i]); err == nil {
			hostsParser{}.line(s, lineNo, line) // AdGuard accepts hosts lines in its lists
			return
		}
	}
	e, err := parseAdblockRule(text)
	if err != nil {
		s.warn(lineNo, err)
		return
	}
	s.entry(lineNo, line, e)
}

// parseAdblockRule parses one network rule.
func parseAdblockRule(text string) (Entry, error) {
	rule, allow := strings.CutPrefix(text, "@@")
	if i := strings.IndexByte(rule, '$'); i >= 0 {
		return Entry{}, fmt.Errorf("unsupported modifier %q in %q: a DNS name rule cannot be limited to clients, types or pages", shorten(rule[i:]), shorten(text))
	}
	if len(rule) >= 2 && rule[0] == '/' && rule[len(rule)-1] == '/' {
		return Entry{}, fmt.Errorf("unsupported regular expression rule %q", shorten(text))
	}
	kind, anchored := KindExact, true
	switch {
	case strings.HasPrefix(rule, "||"):
		rule, kind = rule[2:], KindSuffix
	case strings.HasPrefix(rule, "|"):
		rule = rule[1:]
	default:
		anchored = false
	}
	// "^" ends the host name; a trailing "|" anchors the end, which "^" already does.
	name, separated := strings.CutSuffix(strings.TrimSuffix(rule, "|"), "^")
	switch {
	case strings.Contains(name, "://") || strings.ContainsAny(name, "/?="):
		return Entry{}, fmt.Errorf("unsupported URL or path rule %q: DNS sees host names only", shorten(text))
	case strings.IndexByte(name, '*') >= 0:
		return Entry{}, fmt.Errorf("unsupported glob \"*\" in %q: write the name itself (\"||name^\" already covers every name below it)", shorten(text))
	case strings.ContainsAny(name, "^|"):
		return Entry{}, fmt.Errorf("unsupported separator in %q: only a single \"^\" after the name is supported", shorten(text))
	case strings.IndexByte(name, ':') >= 0:
		return Entry{}, fmt.Errorf("unsupported port or address in %q: DNS sees host names only", shorten(text))
	case anchored && !separated:
		// Without "^" the rule is a prefix match ("||ads" matches "adserver.com").
		return Entry{}, fmt.Errorf("rule %q lacks the \"^\" after the name: without it the rule also matches longer names; write %q", shorten(text), shorten(text+"^"))
	case !anchored && separated:
		// An unanchored pattern matches anywhere: "ads.com^" matches "badads.com".
		return Entry{}, fmt.Errorf("rule %q has no \"||\" or \"|\" anchor, so it matches inside other names; write %q", shorten(text), shorten(text[:len(text)-len(rule)]+"||"+name+"^"))
	}
	canonical, err := Normalize(name)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Name: canonical, Exact: kind == KindExact, Kind: kind, Allow: allow}, nil
}

// cosmeticMarker returns the element-hiding or HTML-filtering marker in
// text ("##", "#@#", "#?#", "#$#", "#%#", "$$"...), or "".
func cosmeticMarker(text string) string {
	if strings.IndexByte(text, '#') < 0 && strings.IndexByte(text, '$') < 0 {
		return "" // every marker has one of them: one scan for most lines
	}
	for _, marker := range [...]string{"#@$?#", "#@$#", "#@?#", "#@%#", "#@#", "#$?#", "#$#", "#?#", "#%#", "##", "$@$", "$$"} {
		if strings.Contains(text, marker) {
			return marker
		}
	}
	return ""
}

// isAdblockHeader reports "[Adblock Plus 2.0]"-style first lines.
func isAdblockHeader(text string) bool {
	return len(text) >= 2 && text[0] == '[' && text[len(text)-1] == ']'
}
