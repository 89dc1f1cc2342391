package hitlog

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
)

// testKey is an HMAC key; the expected hashes below were computed with
// openssl dgst -sha256 -hmac, independently of this package.
const testKey = "0123456789abcdef"

func TestClientIP(t *testing.T) {
	tests := []struct {
		name     string
		mode     ClientIP
		client   string
		wantIP   string
		wantPort bool
	}{
		{name: "full IPv4", mode: ClientIPFull, client: "192.0.2.7:53124", wantIP: "192.0.2.7", wantPort: true},
		{name: "full IPv6", mode: ClientIPFull, client: "[2001:db8::7]:5353", wantIP: "2001:db8::7", wantPort: true},
		{name: "truncate IPv4 to /24", mode: ClientIPTruncate, client: "192.0.2.7:53124", wantIP: "192.0.2.0"},
		{name: "truncate IPv4 keeps a /24 as is", mode: ClientIPTruncate, client: "10.1.255.0:53", wantIP: "10.1.255.0"},
		{name: "truncate IPv6 to /56", mode: ClientIPTruncate, client: "[2001:db8:1234:56ff:aaaa::7]:53", wantIP: "2001:db8:1234:5600::"},
		{name: "truncate IPv4-mapped keeps the IPv4 /24", mode: ClientIPTruncate, client: "[::ffff:192.0.2.7]:53", wantIP: "::ffff:192.0.2.0"},
		{name: "truncate drops the zone", mode: ClientIPTruncate, client: "[fe80::1234:5678%eth0]:53", wantIP: "fe80::"},
		{name: "hash IPv4", mode: ClientIPHash, client: "192.0.2.7:53124", wantIP: "b0e5baeb668bdfd4015a9c5423c903ec"},
		{name: "hash IPv6", mode: ClientIPHash, client: "[2001:db8::7]:5353", wantIP: "71f24142bd2e7219397cf2d50902671a"},
		{name: "hash IPv4-mapped as IPv4", mode: ClientIPHash, client: "[::ffff:192.0.2.7]:1", wantIP: "b0e5baeb668bdfd4015a9c5423c903ec"},
		{name: "hash ignores the zone", mode: ClientIPHash, client: "[2001:db8::7%eth1]:53", wantIP: "71f24142bd2e7219397cf2d50902671a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newAnonymizer(tt.mode, []byte(testKey))
			if err != nil {
				t.Fatal(err)
			}
			// Twice: the reused HMAC state must not leak between calls.
			for range 2 {
				ip, port := a.client(netip.MustParseAddrPort(tt.client))
				if ip != tt.wantIP || port != tt.wantPort {
					t.Fatalf("client(%s) = %q, port %v; want %q, port %v", tt.client, ip, port, tt.wantIP, tt.wantPort)
				}
			}
		})
	}
}

func TestClientIPHashDependsOnKey(t *testing.T) {
	a, err := newAnonymizer(ClientIPHash, []byte(testKey))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newAnonymizer(ClientIPHash, []byte("another key, 16+ bytes"))
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort("192.0.2.7:53")
	ha, _ := a.client(ap)
	hb, _ := b.client(ap)
	if ha == hb {
		t.Errorf("two keys give the same hash %s", ha)
	}
	other, _ := a.client(netip.MustParseAddrPort("192.0.2.8:53"))
	if other == ha {
		t.Errorf("two addresses give the same hash %s", ha)
	}
}

func TestParseClientIP(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ClientIP
		wantErr bool
	}{
		{name: "full", in: "full", want: ClientIPFull},
		{name: "truncate", in: "truncate", want: ClientIPTruncate},
		{name: "hash", in: "hash", want: ClientIPHash},
		{name: "unknown", in: "anonymize", wantErr: true},
		{name: "upper-case", in: "HASH", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientIP(tt.in)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("ParseClientIP(%q) = %v, %v", tt.in, got, err)
			}
			if !tt.wantErr && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestNewRefusesShortHashKey(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantErr bool
	}{
		{name: "no key", key: "", wantErr: true},
		{name: "15 bytes", key: testKey[:15], wantErr: true},
		{name: "16 bytes", key: testKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(Options{ClientIP: ClientIPHash, ClientIPKey: []byte(tt.key)})
			if (err != nil) != tt.wantErr {
				t.Fatalf("New = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				l.Close()
			} else if tt.key != "" && strings.Contains(err.Error(), tt.key) {
				t.Errorf("error %q shows the key", err)
			}
		})
	}
}

// TestClientIPInLines checks the privacy modes end to end: client.ip
// rewritten and client.port gone whenever the address is not in full.
func TestClientIPInLines(t *testing.T) {
	tests := []struct {
		name     string
		mode     ClientIP
		dataset  Dataset
		wantIP   string
		wantPort bool
	}{
		{name: "hits full", mode: ClientIPFull, wantIP: "192.0.2.7", wantPort: true},
		{name: "hits truncate", mode: ClientIPTruncate, wantIP: "192.0.2.0"},
		{name: "hits hash", mode: ClientIPHash, wantIP: "b0e5baeb668bdfd4015a9c5423c903ec"},
		{name: "queries hash", mode: ClientIPHash, dataset: DatasetQueries, wantIP: "b0e5baeb668bdfd4015a9c5423c903ec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := New(Options{Writer: &buf, ClientIP: tt.mode, ClientIPKey: []byte(testKey), Dataset: tt.dataset})
			if err != nil {
				t.Fatal(err)
			}
			l.Log(sampleEvent())
			l.Close()
			var doc map[string]any
			if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if got := lookup(doc, "client.ip"); got != tt.wantIP {
				t.Errorf("client.ip = %v, want %s", got, tt.wantIP)
			}
			port := lookup(doc, "client.port")
			if (port != nil) != tt.wantPort {
				t.Errorf("client.port = %v, want present: %v", port, tt.wantPort)
			}
			if !tt.wantPort && strings.Contains(buf.String(), "53124") {
				t.Errorf("the port still appears in the line: %s", buf.String())
			}
			if tt.mode != ClientIPFull && strings.Contains(buf.String(), "192.0.2.7") {
				t.Errorf("the address still appears in the line: %s", buf.String())
			}
		})
	}
}

func TestPseudonymizer(t *testing.T) {
	key := []byte("0123456789abcdef")
	ap := netip.MustParseAddrPort("192.0.2.77:5353")
	tests := []struct {
		name string
		mode ClientIP
		want func(got netip.AddrPort) bool
	}{
		{"full keeps the address and port", ClientIPFull, func(got netip.AddrPort) bool { return got == ap }},
		{"truncate keeps the /24 and drops the port", ClientIPTruncate, func(got netip.AddrPort) bool {
			return got == netip.MustParseAddrPort("192.0.2.0:0")
		}},
		{"hash gives a ULA pseudonym without port", ClientIPHash, func(got netip.AddrPort) bool {
			return got.Port() == 0 && netip.MustParsePrefix("fd00::/8").Contains(got.Addr()) && got.Addr() != ap.Addr()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPseudonymizer(tt.mode, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Client(ap); !tt.want(got) {
				t.Errorf("Client(%v) = %v", ap, got)
			}
		})
	}
	p, _ := NewPseudonymizer(ClientIPHash, key)
	a1, a2 := p.Client(ap), p.Client(netip.MustParseAddrPort("[::ffff:192.0.2.77]:1"))
	b := p.Client(netip.MustParseAddrPort("192.0.2.78:5353"))
	if a1.Addr() != a2.Addr() || a1.Addr() == b.Addr() {
		t.Errorf("pseudonyms: same device %v/%v, other device %v: want stable and distinct", a1, a2, b)
	}
	if _, err := NewPseudonymizer(ClientIPHash, []byte("short")); err == nil {
		t.Error("short key: want an error")
	}
}
