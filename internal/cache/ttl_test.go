package cache

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestTTLFor(t *testing.T) {
	truncated := aReply(t, "300")
	truncated.Truncated = true

	tests := []struct {
		name   string
		policy ttlPolicy
		msg    *dns.Msg
		want   time.Duration
		wantOK bool
	}{
		{
			name:   "positive uses the minimum over answer, authority and additional",
			msg:    reply(dns.RcodeSuccess, rrs(t, "example.com. 300 IN A 192.0.2.1"), rrs(t, "example.com. 200 IN NS ns.example.com."), rrs(t, "ns.example.com. 100 IN A 192.0.2.53")),
			want:   100 * time.Second,
			wantOK: true,
		},
		{
			name:   "positive ignores the OPT record whose TTL field is flags",
			msg:    reply(dns.RcodeSuccess, rrs(t, "example.com. 300 IN A 192.0.2.1"), nil, []dns.RR{optWithEDE(3, "")}),
			want:   300 * time.Second,
			wantOK: true,
		},
		{
			name:   "positive is clamped up by MinTTL",
			policy: ttlPolicy{min: 60},
			msg:    aReply(t, "5"),
			want:   60 * time.Second,
			wantOK: true,
		},
		{
			name:   "positive is clamped down by MaxTTL",
			policy: ttlPolicy{max: 3600},
			msg:    aReply(t, "86400"),
			want:   3600 * time.Second,
			wantOK: true,
		},
		{
			name:   "zero TTL is not cached",
			msg:    aReply(t, "0"),
			wantOK: false,
		},
		{
			name:   "zero TTL raised by MinTTL is cached",
			policy: ttlPolicy{min: 10},
			msg:    aReply(t, "0"),
			want:   10 * time.Second,
			wantOK: true,
		},
		{
			name:   "TTL with the top bit set counts as zero (RFC 2181)",
			msg:    aReply(t, "2147483648"),
			wantOK: false,
		},
		{
			name:   "NXDOMAIN with SOA uses SOA MINIMUM when smaller",
			msg:    reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "3600", "300")}, nil),
			want:   300 * time.Second,
			wantOK: true,
		},
		{
			name:   "NXDOMAIN with SOA uses SOA TTL when smaller",
			msg:    reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "120", "300")}, nil),
			want:   120 * time.Second,
			wantOK: true,
		},
		{
			name:   "NXDOMAIN negative TTL is clamped",
			policy: ttlPolicy{min: 30, max: 60},
			msg:    reply(dns.RcodeNameError, nil, []dns.RR{soa(t, "3600", "300")}, nil),
			want:   60 * time.Second,
			wantOK: true,
		},
		{
			name:   "NXDOMAIN after a CNAME is bounded by the CNAME too",
			msg:    reply(dns.RcodeNameError, rrs(t, "a.example.com. 30 IN CNAME b.example.com."), []dns.RR{soa(t, "3600", "300")}, nil),
			want:   30 * time.Second,
			wantOK: true,
		},
		{
			name:   "NXDOMAIN without SOA is not cached",
			msg:    reply(dns.RcodeNameError, nil, nil, nil),
			wantOK: false,
		},
		{
			name:   "NXDOMAIN with SOA only in additional is not cached",
			msg:    reply(dns.RcodeNameError, nil, nil, []dns.RR{soa(t, "3600", "300")}),
			wantOK: false,
		},
		{
			name:   "NODATA with SOA is cached",
			msg:    reply(dns.RcodeSuccess, nil, []dns.RR{soa(t, "600", "900")}, nil),
			want:   600 * time.Second,
			wantOK: true,
		},
		{
			name:   "NODATA without SOA is not cached",
			msg:    reply(dns.RcodeSuccess, nil, rrs(t, "example.com. 300 IN NS ns.example.com."), nil),
			wantOK: false,
		},
		{
			name:   "SERVFAIL uses ServfailTTL and ignores MinTTL",
			policy: ttlPolicy{min: 600, servfail: 3 * time.Second},
			msg:    reply(dns.RcodeServerFailure, nil, nil, nil),
			want:   3 * time.Second,
			wantOK: true,
		},
		{name: "nil message", msg: nil, wantOK: false},
		{name: "truncated", msg: truncated, wantOK: false},
		{name: "REFUSED", msg: reply(dns.RcodeRefused, nil, nil, nil), wantOK: false},
		{name: "FORMERR", msg: reply(dns.RcodeFormatError, nil, nil, nil), wantOK: false},
		{name: "NOTIMP", msg: reply(dns.RcodeNotImplemented, nil, nil, nil), wantOK: false},
		{name: "extended BADVERS", msg: reply(dns.RcodeBadVers, nil, nil, nil), wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.policy.ttlFor(tt.msg)
			if ok != tt.wantOK || got != tt.want {
				t.Errorf("ttlFor = (%v, %v), want (%v, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPolicyFor(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		want    ttlPolicy
		wantErr bool
	}{
		{name: "defaults", opts: Options{}, want: ttlPolicy{servfail: DefaultServfailTTL, staleTTL: 30}},
		{name: "servfail kept", opts: Options{ServfailTTL: 5 * time.Second}, want: ttlPolicy{servfail: 5 * time.Second, staleTTL: 30}},
		{name: "servfail capped", opts: Options{ServfailTTL: time.Hour}, want: ttlPolicy{servfail: MaxServfailTTL, staleTTL: 30}},
		{name: "seconds truncated", opts: Options{MinTTL: 1500 * time.Millisecond, MaxTTL: time.Hour}, want: ttlPolicy{min: 1, max: 3600, servfail: DefaultServfailTTL, staleTTL: 30}},
		{name: "stale options kept", opts: Options{StaleFor: 72 * time.Hour, StaleTTL: 90500 * time.Millisecond}, want: ttlPolicy{servfail: DefaultServfailTTL, staleFor: 72 * time.Hour, staleTTL: 90}},
		{name: "negative size", opts: Options{Size: -1}, wantErr: true},
		{name: "negative min", opts: Options{MinTTL: -time.Second}, wantErr: true},
		{name: "negative servfail", opts: Options{ServfailTTL: -time.Second}, wantErr: true},
		{name: "min above max", opts: Options{MinTTL: time.Hour, MaxTTL: time.Minute}, wantErr: true},
		{name: "negative stale for", opts: Options{StaleFor: -time.Second}, wantErr: true},
		{name: "negative stale TTL", opts: Options{StaleTTL: -time.Second}, wantErr: true},
		{name: "negative stale after", opts: Options{StaleAfter: -time.Second}, wantErr: true},
		{name: "stale TTL rounding to zero", opts: Options{StaleTTL: 500 * time.Millisecond}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := policyFor(tt.opts)
			if (err != nil) != tt.wantErr {
				t.Fatalf("policyFor err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("policyFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCountdown(t *testing.T) {
	tests := []struct {
		name    string
		stored  uint32
		elapsed time.Duration
		want    uint32
	}{
		{name: "fresh", stored: 300, elapsed: 0, want: 300},
		{name: "100s later", stored: 300, elapsed: 100 * time.Second, want: 200},
		{name: "fractions are dropped", stored: 300, elapsed: 100*time.Second + 999*time.Millisecond, want: 200},
		{name: "exactly expired", stored: 300, elapsed: 300 * time.Second, want: 0},
		{name: "never below zero", stored: 300, elapsed: time.Hour, want: 0},
		{name: "clock went backwards", stored: 300, elapsed: -time.Minute, want: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := countdown(tt.stored, wholeSeconds(tt.elapsed)); got != tt.want {
				t.Errorf("countdown = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEqualFoldASCII(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{name: "same", a: "example.com.", b: "example.com.", want: true},
		{name: "mixed case", a: "ExAmPlE.CoM.", b: "example.com.", want: true},
		{name: "different", a: "example.org.", b: "example.com.", want: false},
		{name: "different length", a: "example.com", b: "example.com.", want: false},
		{name: "no unicode folding", a: "\u212a.", b: "k.", want: false},
		{name: "escaped bytes compare exactly", a: `\192.`, b: `\192.`, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := equalFoldASCII(tt.a, tt.b); got != tt.want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
