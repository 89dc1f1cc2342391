package blocklist

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
)

// hostsSampleLines is how many entry lines decide between hosts and plain.
const hostsSampleLines = 5

// DetectFormat guesses a list's format from its start (head; ParseFormat
// and LoadPolicy pass the first 64 KiB). In order:
//
//   - RPZ if a line is a $ORIGIN or $TTL directive, an SOA record, or a
//     CNAME to ".", "*." or "rpz-...";
//   - Adblock if a line starts with "||", "@@", "!" or "[Adblock", or is a
//     cosmetic rule ("##");
//   - hosts if most of the first entry lines are "ADDRESS NAME...";
//   - plain otherwise, including an empty list.
//
// A list that mixes formats is parsed as the one detected, and lines of the
// others become warnings rather than being read wrongly.
func DetectFormat(head []byte) Format {
	head = bytes.TrimPrefix(head, []byte(utf8BOM))
	var adblock bool
	entries, hostsLike := 0, 0
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte{'\n'})
		text := strings.TrimSpace(string(line))
		if text == "" {
			continue
		}
		if isRPZLine(text) {
			return FormatRPZ // the most specific markers: no other format has them
		}
		switch {
		case isAdblockLine(text):
			adblock = true
		case text[0] == '#' || text[0] == ';':
			// a comment in the other formats
		case entries < hostsSampleLines:
			entries++
			if fields := strings.Fields(text); len(fields) > 1 {
				if _, err := netip.ParseAddr(fields[0]); err == nil {
					hostsLike++
				}
			}
		}
	}
	switch {
	case adblock:
		return FormatAdblock
	case entries > 0 && 2*hostsLike > entries:
		return FormatHosts
	}
	return FormatPlain
}

// detectReader detects the format of what br holds without consuming it.
func detectReader(br *bufio.Reader) (Format, error) {
	head, err := br.Peek(maxLineLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, err
	}
	return DetectFormat(head), nil
}

func isAdblockLine(text string) bool {
	return strings.HasPrefix(text, "||") || strings.HasPrefix(text, "@@") || text[0] == '!' ||
		hasPrefixFold(text, "[adblock") || cosmeticMarker(text) != ""
}

// isRPZLine reports a line only a zone file has.
func isRPZLine(text string) bool {
	if hasPrefixFold(text, "$ORIGIN") || hasPrefixFold(text, "$TTL") {
		return true
	}
	if text[0] == '#' || text[0] == '!' {
		return false // comments of the other formats may say anything
	}
	if i := strings.IndexByte(text, ';'); i >= 0 {
		text = text[:i]
	}
	fields := strings.Fields(text)
	if len(fields) < 2 {
		return false
	}
	if _, err := netip.ParseAddr(fields[0]); err == nil {
		return false // a hosts line, whatever its names are
	}
	for i := 1; i < len(fields); i++ {
		switch {
		case strings.EqualFold(fields[i], "SOA"):
			return true
		case strings.EqualFold(fields[i], "CNAME") && i+1 < len(fields):
			target := strings.ToLower(fields[i+1])
			return target == "." || target == "*." || strings.HasPrefix(target, "rpz-")
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
