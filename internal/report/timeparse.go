package report

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a --since or --until value: an RFC 3339 timestamp, a date
// (YYYY-MM-DD, midnight UTC), or a duration meaning that long before now.
// Durations take Go's units plus d for 24-hour days: 24h, 7d, 1d12h, 1.5d.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-11-23T08:00:00Z), a date (2026-11-23) nor a duration (24h, 7d)", s)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("%q: a duration means that long before now and must not be negative", s)
	}
	return now.Add(-d), nil
}

// parseDuration is time.ParseDuration with a leading day count allowed.
func parseDuration(s string) (time.Duration, error) {
	i := strings.IndexByte(s, 'd')
	if i < 0 {
		return time.ParseDuration(s)
	}
	days, err := strconv.ParseFloat(s[:i], 64)
	// ParseFloat also takes "inf", "nan" and hex; a day count is plain.
	if err != nil || strings.ContainsAny(s[:i], "xXpPiInN_") || days < 0 {
		return 0, fmt.Errorf("bad day count in %q", s)
	}
	d := days * float64(24*time.Hour)
	if d > math.MaxInt64/2 {
		return 0, fmt.Errorf("duration %q too long", s)
	}
	total := time.Duration(d)
	if rest := s[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("bad duration after the days in %q", s)
		}
		total += r
	}
	return total, nil
}

// parseTimestamp reads a line's @timestamp as Unix nanoseconds. The layout
// Dijk writes (UTC, nine-digit fraction) is parsed by hand because
// time.Parse needs a string, which would allocate per line; anything else
// goes through time.Parse.
func parseTimestamp(b []byte) (int64, bool) {
	if ns, ok := parseFixedUTC(b); ok {
		return ns, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	// Times that do not fit in int64 nanoseconds are rejected.
	if err != nil || t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		return 0, false
	}
	return t.UnixNano(), true
}

// parseFixedUTC parses YYYY-MM-DDTHH:MM:SS[.fraction]Z for years
// 1970-2199, rejecting what time.Parse would reject.
func parseFixedUTC(b []byte) (int64, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return 0, false
	}
	num := func(i, n int) (int, bool) {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, false
	}
	if year < 1970 || year > 2199 || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return 0, false
		}
		v, ok := num(20, len(frac)-1)
		if !ok {
			return 0, false
		}
		for range 10 - len(frac) {
			v *= 10
		}
		nsec = v
	}
	days := daysSinceEpoch(year, month, day)
	return ((days*24+int64(hour))*60+int64(minute))*60*1e9 + int64(sec)*1e9 + int64(nsec), true
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(month, year int) int {
	switch month {
	case 2:
		if isLeap(year) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts days from 1970-01-01 (civil-from-days inverse,
// after Howard Hinnant), valid for years from 1970.
func daysSinceEpoch(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468
}
