package server

import (
	"context"
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
)

// recordingWriter is a dns.ResponseWriter that keeps what was written.
type recordingWriter struct {
	local, remote net.Addr
	written       *dns.Msg
}

func (w *recordingWriter) LocalAddr() net.Addr         { return w.local }
func (w *recordingWriter) RemoteAddr() net.Addr        { return w.remote }
func (w *recordingWriter) WriteMsg(m *dns.Msg) error   { w.written = m; _, err := m.Pack(); return err }
func (w *recordingWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *recordingWriter) Close() error                { return nil }
func (w *recordingWriter) TsigStatus() error           { return nil }
func (w *recordingWriter) TsigTimersOnly(bool)         {}
func (w *recordingWriter) Hijack()                     {}

// FuzzServePacket feeds arbitrary bytes through the same steps a UDP packet
// takes (header check, unpack, protocol rules, chain, envelope, truncation,
// packing) and checks that nothing panics and every parsed query is answered
// with its ID and within the UDP size limit.
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
	f.Fuzz(func(t *testing.T, packet []byte) {
		if len(packet) < 12 {
			return // miekg drops these before any handler: no answer to garbage
		}
		var q dns.Msg
		if err := q.Unpack(packet); err != nil {
			return // miekg answers these FORMERR from the header alone
		}
		if q.Response {
			return // ignored by acceptQueries
		}
		w := &recordingWriter{
			local:  &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53},
			remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 40000},
		}
		s.serve(w, &q, chain.TransportUDP)
		if w.written == nil {
			t.Fatal("a parsed query got no answer")
		}
		if w.written.Id != q.Id || !w.written.Response {
			t.Fatalf("answer id %d response %v, want id %d response", w.written.Id, w.written.Response, q.Id)
		}
		packed, err := w.written.Pack()
		if err != nil {
			t.Fatalf("answer does not pack: %v", err)
		}
		if len(packed) > maxUDPSize {
			t.Fatalf("UDP answer of %d bytes exceeds %d", len(packed), maxUDPSize)
		}
	})
}
