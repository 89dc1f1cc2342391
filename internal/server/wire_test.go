package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
)

// TestParseWireQuery pins which datagrams take the fast path: only plain
// queries, everything else goes to miekg's parser and the protocol checks.
func TestParseWireQuery(t *testing.T) {
	pack := func(m *dns.Msg) []byte {
		t.Helper()
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	query := func(name string, qtype uint16) *dns.Msg { return new(dns.Msg).SetQuestion(name, qtype) }
	withEDNS := func(m *dns.Msg, do bool, opts ...dns.EDNS0) *dns.Msg {
		m.SetEdns0(1400, do)
		m.IsEdns0().Option = opts
		return m
	}
	tests := []struct {
		name     string
		packet   []byte
		wantFast bool
		wantName string
		check    func(*testing.T, *wireQuery)
	}{
		{name: "plain", packet: pack(query("chat.deepseek.com.", dns.TypeA)), wantFast: true, wantName: "chat.deepseek.com."},
		{name: "upper case folded", packet: pack(query("ChAt.DeepSeek.COM.", dns.TypeAAAA)), wantFast: true, wantName: "chat.deepseek.com.",
			check: func(t *testing.T, q *wireQuery) {
				if !q.upper || q.qtype != dns.TypeAAAA {
					t.Errorf("upper %v qtype %d", q.upper, q.qtype)
				}
				if got := string(appendSpelling(nil, q.question)); got != "ChAt.DeepSeek.COM." {
					t.Errorf("spelling %q", got)
				}
			}},
		{name: "root", packet: pack(query(".", dns.TypeNS)), wantFast: true, wantName: "."},
		{name: "EDNS with DO and a cookie", packet: pack(withEDNS(query("example.org.", dns.TypeA), true,
			&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})), wantFast: true, wantName: "example.org.",
			check: func(t *testing.T, q *wireQuery) {
				if !q.edns || !q.do || q.udpSize != 1400 {
					t.Errorf("edns %v do %v size %d", q.edns, q.do, q.udpSize)
				}
			}},
		{name: "EDNS version 1", packet: func() []byte {
			m := withEDNS(query("example.org.", dns.TypeA), false)
			m.IsEdns0().SetVersion(1)
			return pack(m)
		}()},
		{name: "opcode NOTIFY", packet: func() []byte {
			m := query("example.org.", dns.TypeSOA)
			m.Opcode = dns.OpcodeNotify
			return pack(m)
		}()},
		{name: "a response", packet: func() []byte {
			m := query("example.org.", dns.TypeA)
			m.Response = true
			return pack(m)
		}()},
		{name: "two questions", packet: func() []byte {
			m := query("example.org.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return pack(m)
		}()},
		{name: "TSIG instead of OPT", packet: func() []byte {
			m := query("example.org.", dns.TypeA)
			m.SetTsig("key.", dns.HmacSHA256, 300, 0)
			return pack(m)
		}()},
		{name: "a byte miekg escapes", packet: pack(query(`a\@b.example.`, dns.TypeA))},
		{name: "compressed question name", packet: []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, 0, 1, 0, 1}},
		{name: "trailing bytes", packet: append(pack(query("example.org.", dns.TypeA)), 0)},
		{name: "cut short", packet: pack(query("example.org.", dns.TypeA))[:20]},
		{name: "option longer than the OPT", packet: func() []byte {
			b := pack(withEDNS(query("example.org.", dns.TypeA), false, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "ab"}))
			b[len(b)-3] = 9 // the option's length, beyond the record
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q wireQuery
			name, fast := parseWireQuery(tt.packet, &q, nil)
			if fast != tt.wantFast {
				t.Fatalf("fast path %v, want %v", fast, tt.wantFast)
			}
			if !fast {
				return
			}
			if string(name) != tt.wantName {
				t.Errorf("name %q, want %q", name, tt.wantName)
			}
			if tt.check != nil {
				tt.check(t, &q)
			}
		})
	}
}

// TestAuthenticatedDataOnlyWhenAsked checks RFC 6840 §5.8 on both paths:
// upstream's AD bit reaches only clients that set DO or AD.
func TestAuthenticatedDataOnlyWhenAsked(t *testing.T) {
	s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: variedAnswers()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		do, ad bool
		want   bool
	}{
		{name: "neither", want: false},
		{name: "DO", do: true, want: true},
		{name: "AD", ad: true, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion("ad.example.", dns.TypeA)
			q.SetEdns0(1232, tt.do)
			q.AuthenticatedData = tt.ad
			packet, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			general, fast, tookFast := answerBothWays(t, s, packet, nil)
			if !tookFast {
				t.Fatal("a plain query missed the fast path")
			}
			for path, b := range map[string][]byte{"general": general, "fast": fast} {
				if got := checkAnswer(t, b, q.Id).AuthenticatedData; got != tt.want {
					t.Errorf("%s path: AD %v, want %v", path, got, tt.want)
				}
			}
		})
	}
}

// TestRecordCacheWritesWhatPackingWrites answers the same queries again and
// again as one reader, with records shared between answers as the policy
// and the cache share them: from the third answer on they come from the
// reader's record cache, and every answer must be byte for byte the one a
// query without the cache gets.
func TestRecordCacheWritesWhatPackingWrites(t *testing.T) {
	s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: sharedRecords(variedAnswers())})
	if err != nil {
		t.Fatal(err)
	}
	batch := newUDPBatch()
	tests := []struct {
		name string
		q    func() *dns.Msg
	}{
		{"blocked, EDNS with DO", func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("nx.deepseek.com.", dns.TypeA)
			m.SetEdns0(1232, true)
			return m
		}},
		{"blocked, no EDNS", func() *dns.Msg { return new(dns.Msg).SetQuestion("nx.deepseek.com.", dns.TypeAAAA) }},
		{"address, owner spelled as the query", func() *dns.Msg { return new(dns.Msg).SetQuestion("www.example.org.", dns.TypeAAAA) }},
		{"address, query in upper case", func() *dns.Msg { return new(dns.Msg).SetQuestion("WWW.Example.ORG.", dns.TypeAAAA) }},
		{"alias and glue, CD and no RD", func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("alias.example.", dns.TypeA)
			m.RecursionDesired, m.CheckingDisabled = false, true
			m.SetEdns0(1232, false)
			return m
		}},
		{"AD passed to a DO client", func() *dns.Msg {
			m := new(dns.Msg).SetQuestion("ad.example.", dns.TypeA)
			m.SetEdns0(1232, true)
			return m
		}},
		{"too big for UDP", func() *dns.Msg { return new(dns.Msg).SetQuestion("big.example.org.", dns.TypeTXT) }},
		{"refused", func() *dns.Msg { return new(dns.Msg).SetQuestion("refused.example.", dns.TypeA) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := range 4 {
				q := tt.q()
				q.Id = uint16(1000 + round)
				packet, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				_, uncached, tookFast := answerBothWays(t, s, packet, nil)
				if !tookFast {
					t.Fatal("the query missed the fast path")
				}
				_, cached, _ := answerBothWays(t, s, packet, batch)
				if !bytes.Equal(cached, uncached) {
					t.Fatalf("round %d: the reader with a record cache wrote\n%x\nwithout it\n%x", round, cached, uncached)
				}
			}
		})
	}
	stored := 0
	for _, sp := range batch.records.at {
		if sp.end != 0 {
			stored++
		}
	}
	if stored == 0 {
		t.Error("the record cache stored nothing: the test did not reach it")
	}
}

// TestRecordCacheStartsOver checks the cache's bound: past maxCachedRecords
// records it forgets them all and learns afresh.
func TestRecordCacheStartsOver(t *testing.T) {
	c := recordCache{at: map[dns.RR]span{}}
	msg := func(rr dns.RR) []byte {
		m := new(dns.Msg).SetQuestion("q.example.", dns.TypeA)
		m.Answer = []dns.RR{rr}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	qnameLen := len("q.example.") + 1
	first, err := dns.NewRR("a.example. 60 IN A 192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	c.learn(msg(first), qnameLen, []dns.RR{first})
	c.learn(msg(first), qnameLen, []dns.RR{first})
	if sp := c.at[first]; sp.end == 0 {
		t.Fatal("a record seen twice was not stored")
	}
	for i := 0; len(c.at) < maxCachedRecords; i++ {
		rr, err := dns.NewRR(fmt.Sprintf("r%d.example. 60 IN A 192.0.2.2", i))
		if err != nil {
			t.Fatal(err)
		}
		c.learn(msg(rr), qnameLen, []dns.RR{rr})
	}
	c.learn(msg(first), qnameLen, []dns.RR{first})
	if len(c.at) != 1 || c.at[first].end != 0 || len(c.bytes) != 0 {
		t.Errorf("after filling up: %d records, first stored %v, %d bytes; want a fresh start", len(c.at), c.at[first].end != 0, len(c.bytes))
	}

	// Large records fill the byte bound long before the record bound.
	clear(c.at)
	c.bytes = c.bytes[:0]
	text := `"` + strings.Repeat("x", 250) + `"`
	stored := 0
	for i := 0; stored < 2*maxCachedBytes; i++ {
		rr, err := dns.NewRR(fmt.Sprintf("t%d.example. 60 IN TXT %s %s %s %s", i, text, text, text, text))
		if err != nil {
			t.Fatal(err)
		}
		c.learn(msg(rr), qnameLen, []dns.RR{rr})
		c.learn(msg(rr), qnameLen, []dns.RR{rr})
		stored += 1000
		if len(c.bytes) > maxCachedBytes+2000 {
			t.Fatalf("the cache holds %d bytes, past its bound of %d", len(c.bytes), maxCachedBytes)
		}
	}
}

// TestAddressRecordsWrittenDirectly: A and AAAA records owned by the query
// name, built afresh for every answer as a null sinkhole's and upstream
// answers are, are written by the fast path without miekg and without
// entering the reader's record cache; the answer says exactly what the
// general path's says. Records the direct writer must not write still get
// a correct answer.
func TestAddressRecordsWrittenDirectly(t *testing.T) {
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		answer func(qname string) []dns.RR
		direct bool // no record reaches the record cache
	}{
		{"A", "chat.deepseek.com.", dns.TypeA, func(n string) []dns.RR {
			return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4zero.To4()}}
		}, true},
		{"A held in 16 octets", "a.example.", dns.TypeA, func(n string) []dns.RR {
			return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")}}
		}, true},
		{"AAAA, query in mixed case", "WWW.Example.org.", dns.TypeAAAA, func(n string) []dns.RR {
			return []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 300}, AAAA: net.ParseIP("2001:db8::1")}}
		}, true},
		{"two addresses", "two.example.", dns.TypeA, func(n string) []dns.RR {
			return []dns.RR{
				&dns.A{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1).To4()},
				&dns.A{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 2).To4()},
			}
		}, true},
		{"owner in another case", "WWW.Example.org.", dns.TypeA, func(n string) []dns.RR {
			return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: strings.ToLower(n), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1).To4()}}
		}, false},
		{"another owner", "alias.example.", dns.TypeA, func(string) []dns.RR {
			return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "target.example.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1).To4()}}
		}, false},
		{"IPv6 address in an A record", "bad.example.", dns.TypeA, func(n string) []dns.RR {
			return []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP("2001:db8::1")}}
		}, false},
		// miekg refuses to pack it, so neither path answers and the
		// record cache learns nothing.
		{"short AAAA", "bad.example.", dns.TypeAAAA, func(n string) []dns.RR {
			return []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: n, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60}, AAAA: net.IPv4(192, 0, 2, 1).To4()}}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
				return &dns.Msg{Answer: tt.answer(req.Question.Name)}, nil
			})
			s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: h})
			if err != nil {
				t.Fatal(err)
			}
			batch := newUDPBatch()
			for round := range 3 {
				q := new(dns.Msg).SetQuestion(tt.qname, tt.qtype)
				q.SetEdns0(1232, false)
				q.Id = uint16(round + 1)
				packet, err := q.Pack()
				if err != nil {
					t.Fatal(err)
				}
				general, fast, tookFast := answerBothWays(t, s, packet, batch)
				if !tookFast {
					t.Fatal("the query missed the fast path")
				}
				if general == nil { // a record miekg cannot pack: no answer either way
					if fast != nil {
						t.Fatalf("the fast path answered %x where the general path could not", fast)
					}
					continue
				}
				if got, want := checkAnswer(t, fast, q.Id), checkAnswer(t, general, q.Id); got.String() != want.String() {
					t.Fatalf("the fast path's answer\n%s\nthe general path's\n%s", got, want)
				}
			}
			if direct := len(batch.records.at) == 0; direct != tt.direct {
				t.Errorf("written directly = %v (%d records seen by the record cache), want %v", direct, len(batch.records.at), tt.direct)
			}
		})
	}
}
