package upstream

import (
	"testing"

	"github.com/miekg/dns"
)

func TestMatches(t *testing.T) {
	req := new(dns.Msg).SetQuestion("WwW.Example.", dns.TypeA)
	req.Id = 1234
	tests := []struct {
		name string
		edit func(m *dns.Msg)
		want bool
	}{
		{name: "exact", edit: func(*dns.Msg) {}, want: true},
		{name: "other case", edit: func(m *dns.Msg) { m.Question[0].Name = "www.EXAMPLE." }, want: true},
		{name: "wrong ID", edit: func(m *dns.Msg) { m.Id = 4321 }},
		{name: "QR unset", edit: func(m *dns.Msg) { m.Response = false }},
		{name: "other name", edit: func(m *dns.Msg) { m.Question[0].Name = "www.example.net." }},
		{name: "other type", edit: func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }},
		{name: "other class", edit: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }},
		{name: "no question", edit: func(m *dns.Msg) { m.Question = nil }},
		{name: "two questions", edit: func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := new(dns.Msg).SetReply(req)
			tt.edit(resp)
			if got := matches(req, resp); got != tt.want {
				t.Errorf("matches() = %v, want %v", got, tt.want)
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
		{name: "equal", a: "example.", b: "example.", want: true},
		{name: "case", a: "ExAmPlE.", b: "eXaMpLe.", want: true},
		{name: "length", a: "example.", b: "example.com."},
		{name: "different", a: "example.", b: "exbmple."},
		// A fold by OR-ing 0x20 would wrongly equate these.
		{name: "non-letters are not folded", a: "[@.", b: "{`."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := equalFoldASCII(tt.a, tt.b); got != tt.want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
