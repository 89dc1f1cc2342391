package blocklist

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// DNS limits in octets (RFC 1035 §2.3.4). The name limit excludes the root
// label and its dot, which is how names are written in lists.
const (
	maxLabelLen = 63
	maxNameLen  = 253
)

// Normalize validates one domain as written in a list and returns its canonical form.
//
// The canonical form is lower-case ASCII without a trailing dot; labels with
// non-ASCII characters become punycode A-labels (IDNA Lookup profile). Only
// [a-z0-9-_] are accepted after conversion: anything else cannot be a name a
// resolver is asked for, so it signals a list in the wrong format (URLs,
// wildcards, hosts-file lines, IP addresses).
func Normalize(name string) (string, error) {
	canonical, err := normalize(name)
	if err != nil {
		return "", fmt.Errorf("invalid domain %q: %w", shorten(name), err)
	}
	return canonical, nil
}

func normalize(name string) (string, error) {
	s := name
	ascii, upper := scanASCII(s)
	if !ascii {
		var err error
		if s, err = labelsToASCII(s); err != nil {
			return "", err
		}
		_, upper = scanASCII(s) // ASCII labels were left as they were
	}
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", ErrEmptyName
	}
	if looksLikeIP(s) {
		if _, err := netip.ParseAddr(s); err == nil {
			return "", ErrIPAddress
		}
	}
	if upper {
		s = lowerASCII(s)
	}
	if err := checkName(s); err != nil {
		return "", err
	}
	return s, nil
}

// scanASCII reports in one pass whether s is all ASCII and whether it has
// upper-case letters; most list lines are neither, and are kept as they are.
func scanASCII(s string) (ascii, upper bool) {
	for i := range len(s) {
		switch c := s[i]; {
		case c >= 0x80:
			return false, upper
		case 'A' <= c && c <= 'Z':
			upper = true
		}
	}
	return true, upper
}

// looksLikeIP spares the IP parser the names that cannot be addresses: this
// runs for every line of million-entry lists. It runs after IDNA mapping,
// which turns full-width digits into ASCII ones.
func looksLikeIP(name string) bool {
	return strings.IndexByte(name, ':') >= 0 || isAllDigits(name[strings.LastIndexByte(name, '.')+1:])
}

// labelsToASCII converts only the labels that need it: the IDNA profile
// rejects '_' (STD3 rules), which ASCII labels such as "_dmarc" legitimately
// contain.
func labelsToASCII(name string) (string, error) {
	// The IDNA package turns invalid UTF-8 into U+FFFD and carries on, which
	// would make line noise look like a valid punycode name.
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrIDNA)
	}
	labels := strings.Split(name, ".")
	for i, label := range labels {
		if ascii, _ := scanASCII(label); ascii {
			continue
		}
		converted, err := idna.Lookup.ToASCII(label)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrIDNA, err)
		}
		labels[i] = converted
	}
	return strings.Join(labels, "."), nil
}

// checkName validates a lower-case ASCII name without trailing dot, in one
// pass since it runs for every line of million-entry lists.
func checkName(name string) error {
	if len(name) > maxNameLen {
		return fmt.Errorf("%w (%d octets)", ErrNameTooLong, len(name))
	}
	labelStart := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			if c := name[i]; !isLabelChar(c) {
				return fmt.Errorf("%w %q%s", ErrInvalidChar, name[i:i+1], charHint(c))
			}
			continue
		}
		label := name[labelStart:i]
		switch {
		case label == "":
			return ErrEmptyLabel
		case len(label) > maxLabelLen:
			return fmt.Errorf("%w (%q is %d octets)", ErrLabelTooLong, shorten(label), len(label))
		}
		labelStart = i + 1
	}
	if tld := name[strings.LastIndexByte(name, '.')+1:]; isAllDigits(tld) {
		// No top-level domain is numeric (RFC 3696 §2); such names are IP
		// addresses in some shorthand ("10.1", "127.1").
		return fmt.Errorf("%w (numeric top-level label %q)", ErrIPAddress, tld)
	}
	return nil
}

// charHint names the list format the operator probably pasted from.
func charHint(c byte) string {
	switch c {
	case '*':
		return " (no wildcards needed: an entry already covers every name below it)"
	case '/', ':':
		return " (write the host name, not a URL)"
	}
	return ""
}

func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func isAllDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// lowerASCII folds A-Z only.
func lowerASCII(s string) string {
	b := []byte(s)
	for i := range b {
		b[i] = lowerByte(b[i])
	}
	return string(b)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// shorten keeps quoted text in messages readable when a line is huge.
func shorten(s string) string {
	const maxQuoted = 80
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}
