package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// keyError is one problem with one key. Load uses the key to avoid
// reporting a value that failed to decode a second time in validation.
type keyError struct {
	key string
	msg string
}

func (e *keyError) Error() string { return e.key + ": " + e.msg }

// decodeHook turns the strings of YAML, environment and flags into typed
// values. It replaces viper's default hooks, so it covers durations and
// lists as well.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		durationHook,
		listHook,
		addrHook,
		prefixHook,
		levelHook,
		byteSizeHook,
	)
}

// prefixHook reads a CIDR, or a single IP as a one-address prefix.
func prefixHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[netip.Prefix]() || from.Kind() != reflect.String {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if p, err := netip.ParsePrefix(s); err == nil {
		if p != p.Masked() {
			return nil, fmt.Errorf("%q has host bits set; the network is %s", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("%q is neither a CIDR nor an IP address", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// durationHook parses "2s", "5m". A bare number other than 0 is refused:
// YAML "ttl: 300" would otherwise mean 300 nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	if from == reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		s := strings.TrimSpace(reflect.ValueOf(data).String())
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("invalid duration %q; write a number with a unit, e.g. \"30s\" or \"5m\"", s)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit; write e.g. \"%vs\"", data, data)
	default:
		return nil, fmt.Errorf("expected a duration such as \"30s\", got %s", describe(data))
	}
}

// listHook splits "a, b" into ["a", "b"], for environment variables and
// for a single YAML string where a list is expected.
func listHook(from, to reflect.Type, data any) (any, error) {
	// Any list key: its elements are decoded from the parts by the other hooks.
	if to.Kind() != reflect.Slice || from.Kind() != reflect.String {
		return data, nil
	}
	var out []string
	for part := range strings.SplitSeq(reflect.ValueOf(data).String(), ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	if out == nil {
		out = []string{} // "" clears the list
	}
	return out, nil
}

// addrHook parses an IP address; "" is the zero Addr (unset).
func addrHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[netip.Addr]() || from == reflect.TypeFor[netip.Addr]() {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("expected an IP address, got %s", describe(data))
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("invalid IP address %q", s)
	}
	return a, nil
}

// levelHook parses a log level name, case-insensitively.
func levelHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[slog.Level]() || from == reflect.TypeFor[slog.Level]() {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("expected one of debug, info, warn, error, got %s", describe(data))
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return nil, fmt.Errorf("%q is not one of debug, info, warn, error", s)
}

// describe names a value's shape for messages without dumping it whole.
func describe(data any) string {
	switch data := data.(type) {
	case map[string]any, map[any]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		if len(data) > 60 { // a stray paste should not flood the message
			data = data[:60] + "..."
		}
		return fmt.Sprintf("%q", data)
	}
	return fmt.Sprintf("%v", data)
}

// decodeErrors turns mapstructure's wrapped and joined errors into one
// keyError per failing key, so the messages read "cache.size: ..." like
// validation's.
func decodeErrors(err error) []error {
	if err == nil {
		return nil
	}
	if de, ok := err.(*mapstructure.DecodeError); ok && de.Name() != "" {
		key, _, _ := strings.Cut(de.Name(), "[") // "listen.dns[0]" → "listen.dns"
		msg := decodeMessage(de.Unwrap())
		if key != de.Name() {
			msg = "item " + strings.TrimSuffix(de.Name()[len(key)+1:], "]") + ": " + msg
		}
		return []error{&keyError{key: key, msg: msg}}
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, decodeErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return decodeErrors(inner)
		}
	}
	return []error{fmt.Errorf("config: %w", err)}
}

// decodeMessage words mapstructure's type errors for operators: the value
// they wrote and what was expected, not Go type names.
func decodeMessage(err error) string {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot read %s as %s", describe(pe.Value), typeName(pe.Expected.Type()))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Sprintf("expected %s, got %s", typeName(ue.Expected.Type()), describe(ue.Value))
	}
	return err.Error()
}

// typeName names a target type in operator terms.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s,
// or "" when none is close enough to be a typo.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 3 // up to two edits
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
