package hitlog

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// appendLine appends e's JSON line and a newline to b. It writes exactly
// what encoding/json (HTML escaping off) writes for the ECS record the
// line stands for; TestLineMatchesJSON and FuzzLine hold it to that.
// encoding/json took a quarter of a hit's cost in the logger, in
// reflection, a record built per event and a formatted time.
func (l *Logger) appendLine(b []byte, e Event) []byte {
	ecsKind := "event"
	if e.Kind == KindBypass {
		ecsKind = "alert" // ECS: a policy violation someone should look at
	}
	dataset, action, types := "dijk.hits", e.Action, `["denied"]`
	if l.dataset == DatasetQueries {
		dataset, action, types = "dijk.queries", e.Outcome, eventType(e.Outcome)
	}
	b = append(b, `{"@timestamp":"`...)
	b = appendTimestamp(b, e.Time)
	b = append(b, `","ecs":{"version":"`+ecsVersion+`"},"event":{"kind":`...)
	b = appendString(b, ecsKind)
	b = append(b, `,"category":["network"],"type":`...)
	b = append(b, types...)
	b = append(b, `,"action":`...)
	b = appendString(b, action)
	b = append(b, `,"dataset":`...)
	b = appendString(b, dataset)
	b = append(b, `,"module":"dijk"},"client":{"ip":`...)
	ip, withPort := l.anon.client(e.Client)
	b = appendString(b, ip)
	if withPort {
		b = append(b, `,"port":`...)
		b = strconv.AppendUint(b, uint64(e.Client.Port()), 10)
	}
	b = append(b, `},"network":{"transport":`...)
	b = appendString(b, e.Transport)
	b = append(b, `,"protocol":"dns","type":`...)
	if e.Client.Addr().Is6() {
		b = append(b, `"ipv6"`...)
	} else {
		b = append(b, `"ipv4"`...)
	}
	b = append(b, `},"observer":{"product":"dijk","type":"dns"`...)
	if l.hostname != "" {
		b = append(b, `,"hostname":`...)
		b = appendString(b, l.hostname)
	}
	if l.version != "" {
		b = append(b, `,"version":`...)
		b = appendString(b, l.version)
	}
	b = append(b, `},"dns":{"id":`...)
	b = strconv.AppendUint(b, uint64(e.QueryID), 10)
	b = append(b, `,"type":"query","question":{"name":`...)
	b = appendString(b, strings.TrimSuffix(e.Name, "."))
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"class":`...)
	b = appendString(b, e.Class)
	b = append(b, `},"response_code":`...)
	b = appendString(b, e.Rcode)
	b = append(b, '}')

	matched := l.dataset == DatasetHits || e.Rule != ""
	if matched {
		b = append(b, `,"rule":{"name":`...)
		b = appendString(b, e.Rule)
		b = append(b, `,"ruleset":`...)
		b = appendString(b, e.Source)
		b = append(b, `,"id":`...)
		b = appendString(b, e.Source)
		// The ID is "source:line": reopen the string to add ":line".
		b = append(b[:len(b)-1], ':')
		b = strconv.AppendInt(b, int64(e.Line), 10)
		b = append(b, `"}`...)
	}
	b = append(b, `,"dijk":{`...)
	if matched {
		kind := e.Kind
		if kind == "" {
			kind = KindBlock
		}
		b = append(b, `"kind":`...)
		b = appendString(b, kind)
		b = append(b, ',')
	}
	group := e.Group
	if group == "" {
		group = "default"
	}
	b = append(b, `"group":`...)
	b = appendString(b, group)
	if l.dataset == DatasetQueries {
		b = appendOptional(b, "action", e.Action) // the sinkhole answer, when blocked
	}
	if matched {
		b = appendOptional(b, "list", e.Source)
		b = appendOptional(b, "list_version", e.ListVersion)
		if !e.ListLoaded.IsZero() {
			b = append(b, `,"list_loaded":"`...)
			b = e.ListLoaded.UTC().AppendFormat(b, time.RFC3339)
			b = append(b, '"')
		}
		b = appendOptional(b, "entry", e.Rule)
		if e.Exact {
			b = append(b, `,"match":"exact"`...)
		} else {
			b = append(b, `,"match":"suffix"`...)
		}
		if e.Line != 0 {
			b = append(b, `,"line":`...)
			b = strconv.AppendInt(b, int64(e.Line), 10)
		}
		b = appendOptional(b, "via", e.Via)
	}
	return append(b, "}}\n"...)
}

// eventType is ECS event.type for a query log line, as JSON: denied for
// queries the policy or access control refused, allowed otherwise, plus
// error when the answer was a failure.
func eventType(outcome string) string {
	switch outcome {
	case OutcomeBlocked, OutcomeRefused:
		return `["denied"]`
	case OutcomeError:
		return `["allowed","error"]`
	}
	return `["allowed"]`
}

// appendOptional appends `,"key":value` unless value is empty, like a
// field tagged omitempty.
func appendOptional(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

// appendString appends s as a JSON string. Printable ASCII without quote
// or backslash, which is nearly every name, is copied; anything else goes
// through encoding/json, so the escaping of control characters, invalid
// UTF-8 and U+2028/U+2029 is exactly its own.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return appendStringSlow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStringSlow(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		// A string always encodes; keep the line well-formed regardless.
		return append(b, `""`...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})...)
}

// appendTimestamp appends t in UTC as timeFormat does
// ("2006-01-02T15:04:05.000000000Z": nine fraction digits, so lines sort
// as text), without parsing the layout for every line.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeFormat)
	}
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// appendDigits appends n (non-negative) zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, so lines
// sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"
