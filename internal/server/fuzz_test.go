package server

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
)

// FuzzServePacket feeds arbitrary bytes through the same steps a UDP datagram
// takes (header check, unpack, protocol rules, chain, envelope, truncation,
// packing) and checks that nothing panics, garbage gets at most a FORMERR
// with its ID, and every parsed query is answered with its ID and within the
// UDP size limit.
func FuzzServePacket(f *testing.F) {
	seeds := []func() *dns.Msg{
		func() *dns.Msg { return new(dns.Msg).SetQuestion("chat.deepseek.com.", dns.TypeA) },
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("example.org.", dns.TypeTXT)
			m.SetEdns0(4096, true)
			return m
		},
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("example.org.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		},
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("example.org.", dns.TypeSOA)
			m.Opcode = dns.OpcodeUpdate
			return m
		},
	}
	for _, seed := range seeds {
		b, err := seed().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c})

	big := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		m := new(dns.Msg)
		for range 40 {
			rr, err := dns.NewRR("x.example. 60 IN TXT \"0123456789012345678901234567890123456789\"")
			if err != nil {
				return nil, err
			}
			m.Answer = append(m.Answer, rr)
		}
		return m, nil
	})
	s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: big})
	if err != nil {
		f.Fatal(err)
	}
	client := netip.MustParseAddrPort("127.0.0.2:40000")
	f.Fuzz(func(t *testing.T, packet []byte) {
		q, formerr := s.readQuery(packet, chain.TransportUDP)
		if q == nil {
			if formerr != nil && (len(formerr) != headerLen || formerr[0] != packet[0] || formerr[1] != packet[1]) {
				t.Fatalf("FORMERR %x does not echo the query ID of %x", formerr, packet)
			}
			return
		}
		resp := s.respond(q, client, chain.TransportUDP, nil)
		if resp == nil {
			t.Fatal("a parsed query got no answer")
		}
		packed := s.pack(resp, make([]byte, udpOutSize))
		if packed == nil {
			t.Fatal("answer does not pack")
		}
		if len(packed) > maxUDPSize {
			t.Fatalf("UDP answer of %d bytes exceeds %d", len(packed), maxUDPSize)
		}
		var got dns.Msg
		if err := got.Unpack(packed); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if got.Id != q.Id || !got.Response {
			t.Fatalf("answer id %d response %v, want id %d response", got.Id, got.Response, q.Id)
		}
	})
}
