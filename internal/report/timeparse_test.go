package report

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		in      string
		want    time.Time
		wantErr bool
	}{
		{name: "RFC 3339 UTC", in: "2026-11-20T08:00:00Z", want: time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)},
		{name: "RFC 3339 with offset and fraction", in: "2026-11-20T09:00:00.5+01:00", want: time.Date(2026, 11, 20, 8, 0, 0, 5e8, time.UTC)},
		{name: "date", in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{name: "hours", in: "24h", want: now.Add(-24 * time.Hour)},
		{name: "days", in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{name: "days and hours", in: "1d12h", want: now.Add(-36 * time.Hour)},
		{name: "fractional days", in: "1.5d", want: now.Add(-36 * time.Hour)},
		{name: "minutes", in: "90m", want: now.Add(-90 * time.Minute)},
		{name: "zero", in: "0s", want: now},
		{name: "surrounding spaces", in: " 2h ", want: now.Add(-2 * time.Hour)},
		{name: "empty", in: "", wantErr: true},
		{name: "negative", in: "-1h", wantErr: true},
		{name: "negative days", in: "-1d", wantErr: true},
		{name: "days without count", in: "d", wantErr: true},
		{name: "words", in: "yesterday", wantErr: true},
		{name: "days spelt out", in: "7days", wantErr: true},
		{name: "infinite days", in: "infd", wantErr: true},
		{name: "hex days", in: "0x10d", wantErr: true},
		{name: "bad date", in: "2026-02-30", wantErr: true},
		{name: "too many days", in: "999999999d", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTime(tt.in, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTime(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !got.Equal(tt.want) {
				t.Errorf("ParseTime(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{name: "dijk layout", in: "2026-11-23T08:30:00.123000000Z", ok: true},
		{name: "no fraction", in: "2026-11-23T08:30:00Z", ok: true},
		{name: "short fraction", in: "2026-11-23T08:30:00.5Z", ok: true},
		{name: "leap day", in: "2028-02-29T00:00:00Z", ok: true},
		{name: "offset goes through time.Parse", in: "2026-11-23T09:30:00+01:00", ok: true},
		{name: "epoch", in: "1970-01-01T00:00:00Z", ok: true},
		{name: "before the epoch", in: "1969-12-31T23:59:59.999Z", ok: true},
		{name: "not a leap year", in: "2026-02-29T00:00:00Z"},
		{name: "month 13", in: "2026-13-01T00:00:00Z"},
		{name: "hour 24", in: "2026-11-23T24:00:00Z"},
		{name: "second 60", in: "2026-11-23T23:59:60Z"},
		{name: "empty fraction", in: "2026-11-23T08:30:00.Z"},
		{name: "ten-digit fraction", in: "2026-11-23T08:30:00.1234567891Z", ok: true},
		{name: "no zone", in: "2026-11-23T08:30:00"},
		{name: "space separator", in: "2026-11-23 08:30:00Z"},
		{name: "beyond int64 nanoseconds", in: "2300-01-01T00:00:00Z"},
		{name: "garbage", in: "yesterday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseTimestamp([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("parseTimestamp(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if !ok {
				return
			}
			want, err := time.Parse(time.RFC3339Nano, tt.in)
			if err != nil {
				t.Fatalf("time.Parse rejects %q: %v", tt.in, err)
			}
			if got != want.UnixNano() {
				t.Errorf("parseTimestamp(%q) = %v, want %v", tt.in, time.Unix(0, got).UTC(), want.UTC())
			}
		})
	}
}

func TestParseTimestampAllocs(t *testing.T) {
	b := []byte("2026-11-23T08:30:00.123000000Z")
	if n := testing.AllocsPerRun(100, func() { parseTimestamp(b) }); n != 0 {
		t.Errorf("parseTimestamp allocates %v times, want 0", n)
	}
}

// FuzzParseFixedUTC checks the hand-written fast path against time.Parse.
func FuzzParseFixedUTC(f *testing.F) {
	for _, s := range []string{"2026-11-23T08:30:00.123000000Z", "2000-02-29T23:59:59Z", "2100-02-29T00:00:00Z", "1970-01-01T00:00:00.000000001Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseFixedUTC([]byte(s))
		if !ok {
			return // time.Parse decides these
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("fast path accepts %q, time.Parse: %v", s, err)
		}
		if got != want.UnixNano() {
			t.Fatalf("fast path %q = %d, time.Parse %d", s, got, want.UnixNano())
		}
	})
}
