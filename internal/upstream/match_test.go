package upstream

import (
	"bytes"
	"strings"
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

// TestAppendQuery: the hand-packed query is byte for byte what miekg packs
// from newQuery's message, so UDP and TCP upstreams see the same query as
// DoT and DoH ones.
func TestAppendQuery(t *testing.T) {
	tests := []struct {
		name string
		q    query
	}{
		{"plain", query{question: dns.Question{Name: "www.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}}},
		{"client spelling kept", query{question: dns.Question{Name: "WwW.Example.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}}},
		{"DO", query{question: dns.Question{Name: "example.", Qtype: dns.TypeDNSKEY, Qclass: dns.ClassINET}, do: true}},
		{"CD", query{question: dns.Question{Name: "example.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, cd: true}},
		{"DO and CD", query{question: dns.Question{Name: "a.b.example.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS}, do: true, cd: true}},
		{"root", query{question: dns.Question{Name: ".", Qtype: dns.TypeNS, Qclass: dns.ClassINET}}},
		{"escaped bytes", query{question: dns.Question{Name: `a\.b\032c\255.example.`, Qtype: dns.TypeA, Qclass: dns.ClassINET}}},
		{"longest name", query{question: dns.Question{Name: strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61) + ".", Qtype: dns.TypeA, Qclass: dns.ClassINET}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := newQuery(tt.q)
			want.Id = 0xBEEF
			wantWire, err := want.Pack()
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendQuery(make([]byte, 0, maxUDPAnswer), 0xBEEF, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantWire) {
				t.Errorf("appendQuery\n got %x\nwant %x", got, wantWire)
			}
		})
	}
	t.Run("buffer too small", func(t *testing.T) {
		if _, err := appendQuery(make([]byte, 0, 20), 1, tests[0].q); err == nil {
			t.Error("packed into a buffer without room")
		}
	})
}
