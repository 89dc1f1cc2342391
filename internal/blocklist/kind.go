package blocklist

import (
	"fmt"
	"strings"
)

// Kind says which names an entry covers.
type Kind uint8

const (
	// KindSuffix covers the name and every name below it: Dijk's default,
	// Adblock "||name^".
	KindSuffix Kind = iota
	// KindExact covers the name only: "exact:name", hosts lines, RPZ "name".
	KindExact
	// KindSubdomains covers the names strictly below the name, not the name
	// itself: "*.name" lines and RPZ "*.name" owners.
	KindSubdomains
)

// String returns the kind's name as logs and lint findings show it.
func (k Kind) String() string {
	switch k {
	case KindSuffix:
		return "suffix"
	case KindExact:
		return "exact"
	case KindSubdomains:
		return "subdomains"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Action says how a blocked name is answered.
type Action uint8

const (
	// ActionDefault answers with the policy's configured sinkhole.
	ActionDefault Action = iota
	// ActionNXDomain answers NXDOMAIN (RPZ "CNAME .").
	ActionNXDomain
	// ActionNoData answers NOERROR with no records (RPZ "CNAME *.").
	ActionNoData
)

// String returns the action's name as logs and lint findings show it.
func (a Action) String() string {
	switch a {
	case ActionDefault:
		return "default"
	case ActionNXDomain:
		return "nxdomain"
	case ActionNoData:
		return "nodata"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Format is a list syntax.
type Format uint8

const (
	// FormatAuto picks one of the others from the list's content (see DetectFormat).
	FormatAuto Format = iota
	// FormatPlain is Dijk's own format: one name per line (suffix),
	// "exact:name" and "*.name"; '#' comments.
	FormatPlain
	// FormatHosts is the hosts(5) format of blocking lists: "0.0.0.0 name...".
	// Entries are exact, as hosts files resolve only the names they list.
	FormatHosts
	// FormatAdblock is the DNS subset of Adblock syntax: "||name^", "@@||name^".
	FormatAdblock
	// FormatRPZ is a Response Policy Zone in master-file format.
	FormatRPZ
)

// String returns the name ParseFormatName accepts.
func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatPlain:
		return "plain"
	case FormatHosts:
		return "hosts"
	case FormatAdblock:
		return "adblock"
	case FormatRPZ:
		return "rpz"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormatName returns the format called s: "auto", "plain", "hosts",
// "adblock" or "rpz", in any letter case.
func ParseFormatName(s string) (Format, error) {
	names := make([]string, 0, FormatRPZ+1)
	for f := FormatAuto; f <= FormatRPZ; f++ {
		if strings.EqualFold(s, f.String()) {
			return f, nil
		}
		names = append(names, f.String())
	}
	return 0, fmt.Errorf("unknown list format %q (want one of: %s)", shorten(s), strings.Join(names, ", "))
}

// entryKind returns the kind an entry stands for. Exact predates Kind, so
// Exact with the zero Kind means KindExact; Exact on a subdomains entry
// contradicts itself.
func entryKind(exact bool, kind Kind) (Kind, error) {
	switch {
	case kind > KindSubdomains:
		return 0, fmt.Errorf("invalid kind %d", uint8(kind))
	case exact && kind == KindSubdomains:
		return 0, fmt.Errorf("Exact set on a %s entry", kind)
	case exact:
		return KindExact, nil
	}
	return kind, nil
}

func validAction(a Action) error {
	if a > ActionNoData {
		return fmt.Errorf("invalid action %d", uint8(a))
	}
	return nil
}
