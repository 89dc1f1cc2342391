package blocklist

import (
	"net/netip"
	"strings"
)

// hostsParser parses hosts(5) lines: "ADDRESS NAME [NAME...]", '#' starting a
// comment anywhere. Only sinkhole addresses block: a line mapping a name to a
// real address is an override, not a block, and is reported.
//
// Entries are exact: a hosts file resolves only the names it lists, which is
// why hosts-format block lists enumerate subdomains, and Pi-hole and
// AdGuard Home read them that way too.
type hostsParser struct{}

func (hostsParser) end(*sink) {}

func (hostsParser) line(s *sink, lineNo int, line string) {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = line[:i]
	}
	var buf [8]string // most lines have one or two names: no allocation
	fields := appendFields(buf[:0], line)
	if len(fields) == 0 {
		return
	}
	names := fields[1:]
	if allHeaderNames(names) {
		return // "127.0.0.1 localhost" and friends: the system's own entries
	}
	addr, err := netip.ParseAddr(fields[0])
	switch {
	case err != nil:
		s.warnf(lineNo, "hosts line %q does not start with an IP address", shorten(strings.TrimSpace(line)))
		return
	case !isSinkhole(addr):
		s.warnf(lineNo, "address %s in %q is not a sinkhole (0.0.0.0, 127.0.0.1, ::, ::1): the line redirects the name rather than blocking it", fields[0], shorten(strings.TrimSpace(line)))
		return
	case len(names) == 0:
		s.warnf(lineNo, "no name after address %s", fields[0])
		return
	}
	for _, name := range names {
		if isHostsHeaderName(name) {
			continue
		}
		canonical, err := Normalize(name)
		if err != nil {
			s.warn(lineNo, err)
			continue
		}
		s.entry(lineNo, line, Entry{Name: canonical, Exact: true, Kind: KindExact})
	}
}

// isSinkhole reports whether a hosts line with addr blocks its names.
func isSinkhole(addr netip.Addr) bool {
	return addr.Zone() == "" && (addr.IsUnspecified() || addr == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || addr == netip.IPv6Loopback())
}

func allHeaderNames(names []string) bool {
	for _, name := range names {
		if !isHostsHeaderName(name) {
			return false
		}
	}
	return len(names) > 0
}

// isHostsHeaderName reports the names of a system hosts file's standard
// header, which block lists copy verbatim: blocking them would break the
// machine, not block anything.
func isHostsHeaderName(name string) bool {
	switch strings.ToLower(strings.TrimSuffix(name, ".")) {
	case "localhost", "localhost.localdomain", "broadcasthost", "local", "0.0.0.0",
		"ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix",
		"ip6-allnodes", "ip6-allrouters", "ip6-allhosts":
		return true
	}
	return false
}

// appendFields appends the fields of s separated by ASCII white space to
// dst: strings.Fields without allocating when dst has room.
func appendFields(dst []string, s string) []string {
	start := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ' ' && (s[i] < '\t' || s[i] > '\r') {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			dst = append(dst, s[start:i])
			start = -1
		}
	}
	return dst
}
