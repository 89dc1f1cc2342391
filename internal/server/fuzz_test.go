package server

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
)

// variedAnswers answers by the query name's first label, so the fuzzer and
// the tests reach every kind of answer the handlers give: a sinkhole
// NXDOMAIN with SOA and EDE, aliases, answers too big for UDP, the AD bit,
// and plain addresses with the owner spelled differently from the query.
func variedAnswers() chain.Handler {
	return chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		label, _, _ := strings.Cut(req.Name, ".")
		m := new(dns.Msg)
		add := func(section *[]dns.RR, s string) error {
			rr, err := dns.NewRR(s)
			if err == nil {
				*section = append(*section, rr)
			}
			return err
		}
		var err error
		switch label {
		case "nx":
			m.Rcode = dns.RcodeNameError
			err = add(&m.Ns, "deepseek.com. 300 IN SOA sinkhole.dijk.invalid. soc.dijk.invalid. 1 3600 600 86400 300")
			m.Extra = []dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: []dns.EDNS0{
				&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: "blocked: list=x rule=deepseek.com"},
			}}}
		case "big":
			for i := 0; i < 40 && err == nil; i++ {
				err = add(&m.Answer, fmt.Sprintf("x%d.example. 60 IN TXT \"0123456789012345678901234567890123456789\"", i))
			}
		case "alias":
			err = add(&m.Answer, strings.ToUpper(req.Question.Name)+" 60 IN CNAME target.example.")
			if err == nil {
				err = add(&m.Answer, "target.example. 60 IN A 192.0.2.2")
			}
			if err == nil {
				err = add(&m.Extra, "glue.example. 60 IN A 192.0.2.3")
			}
		case "ad":
			m.AuthenticatedData = true
			err = add(&m.Answer, req.Question.Name+" 60 IN A 192.0.2.4")
		case "refused":
			m.Rcode = dns.RcodeRefused
		default:
			if req.Question.Qclass == dns.ClassINET {
				err = add(&m.Answer, strings.ToLower(req.Question.Name)+" 60 IN AAAA 2001:db8::1")
			}
		}
		return m, err
	})
}

// sharedRecords makes next's answers reuse one record object for each
// distinct record, as the policy's and the cache's answers do, so that a
// reader's record cache gets to serve them.
func sharedRecords(next chain.Handler) chain.Handler {
	var (
		mu   sync.Mutex
		seen = map[string]dns.RR{}
	)
	share := func(rrs []dns.RR) {
		for i, rr := range rrs {
			if _, isOPT := rr.(*dns.OPT); isOPT {
				continue
			}
			k := rr.String()
			if old, ok := seen[k]; ok {
				rrs[i] = old
				continue
			}
			if len(seen) > 10000 {
				clear(seen)
			}
			seen[k] = rr
		}
	}
	return chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		m, err := next.ServeDNS(ctx, req)
		if m != nil {
			mu.Lock()
			share(m.Answer)
			share(m.Ns)
			share(m.Extra)
			mu.Unlock()
		}
		return m, err
	})
}

// answerBothWays answers packet through the general path and, when the fast
// parser takes it, through the wire fast path too, as the reader of batch
// (nil: a query with no record cache).
func answerBothWays(t *testing.T, s *Server, packet []byte, batch *udpBatch) (general, fast []byte, tookFast bool) {
	t.Helper()
	client := netip.MustParseAddrPort("127.0.0.2:40000")
	q, formerr := s.readQuery(packet, chain.TransportUDP)
	if q == nil {
		return formerr, nil, false
	}
	if resp := s.respond(q, client, chain.TransportUDP, nil); resp != nil {
		general = s.pack(resp, make([]byte, udpOutSize))
	}
	iq := newInlineQuery(&udpSocket{s: s}, batch)
	iq.hook, iq.pkt = nil, packet
	if iq.name, tookFast = parseWireQuery(packet, &iq.wq, nil); tookFast {
		fast = s.respondWire(iq, client, make([]byte, udpOutSize))
	}
	return general, fast, tookFast
}

// FuzzServePacket feeds arbitrary bytes through the steps a UDP datagram
// takes (header check, parsing, protocol rules, chain, envelope, truncation,
// packing). Nothing may panic; garbage gets at most a FORMERR with its ID;
// every parsed query gets an answer with its ID within the UDP size limit;
// and where the wire fast path takes a datagram, its answer must say exactly
// what the general path's says, whether it was packed or written from the
// reader's record cache.
func FuzzServePacket(f *testing.F) {
	seeds := []func() *dns.Msg{
		func() *dns.Msg { return new(dns.Msg).SetQuestion("chat.deepseek.com.", dns.TypeA) },
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("nx.DeepSeek.com.", dns.TypeA)
			m.SetEdns0(4096, true)
			return m
		},
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("big.example.org.", dns.TypeTXT)
			m.SetEdns0(1232, false)
			return m
		},
		func() *dns.Msg { return new(dns.Msg).SetQuestion("big.example.org.", dns.TypeTXT) },
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("Alias.example.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.CheckingDisabled = true
			return m
		},
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("ad.example.", dns.TypeA)
			m.SetEdns0(1232, true)
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
		func() *dns.Msg {
			m := new(dns.Msg).SetQuestion(".", dns.TypeNS)
			m.SetEdns0(512, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
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

	s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: sharedRecords(variedAnswers())})
	if err != nil {
		f.Fatal(err)
	}
	// One reader's batch for every input, so answers repeat records the
	// reader has sent before and its record cache writes them.
	batch := newUDPBatch()
	f.Fuzz(func(t *testing.T, packet []byte) {
		general, fast, tookFast := answerBothWays(t, s, packet, batch)
		var q dns.Msg
		if err := q.Unpack(packet); err != nil || q.Response {
			if tookFast {
				t.Fatalf("the fast path took %x, which the general path rejects", packet)
			}
			if general != nil && (len(general) != headerLen || general[0] != packet[0] || general[1] != packet[1]) {
				t.Fatalf("FORMERR %x does not echo the query ID of %x", general, packet)
			}
			return
		}
		if general == nil {
			t.Fatal("a parsed query got no answer")
		}
		want := checkAnswer(t, general, q.Id)
		if !tookFast {
			return
		}
		if fast == nil {
			t.Fatal("the fast path gave no answer")
		}
		if got := checkAnswer(t, fast, q.Id); got.String() != want.String() {
			t.Fatalf("the fast path's answer differs:\n%s\nthe general path's:\n%s", got, want)
		}
	})
}

func checkAnswer(t *testing.T, packed []byte, id uint16) *dns.Msg {
	t.Helper()
	if len(packed) > maxUDPSize {
		t.Fatalf("UDP answer of %d bytes exceeds %d", len(packed), maxUDPSize)
	}
	var m dns.Msg
	if err := m.Unpack(packed); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if m.Id != id || !m.Response {
		t.Fatalf("answer id %d response %v, want id %d response", m.Id, m.Response, id)
	}
	return &m
}
