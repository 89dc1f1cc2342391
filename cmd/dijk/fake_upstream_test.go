package main

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// fakeUpstream is an in-process authoritative stand-in for Dijk's upstream.
// It answers every name with A 192.0.2.1 (TTL 300), "big.test." with a TXT
// answer too large for UDP (truncated over UDP, complete over TCP), and
// counts what it is asked, per transport.
type fakeUpstream struct {
	addr string
	mu   sync.Mutex
	seen map[string]int // "udp chat.deepseek.com. A" → count
}

func startFakeUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{seen: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: dns.HandlerFunc(f.handle("udp"))},
		{Listener: ln, Handler: dns.HandlerFunc(f.handle("tcp"))},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return f
}

func (f *fakeUpstream) handle(transport string) func(dns.ResponseWriter, *dns.Msg) {
	return func(w dns.ResponseWriter, q *dns.Msg) {
		qq := q.Question[0]
		f.mu.Lock()
		f.seen[transport+" "+strings.ToLower(qq.Name)+" "+dns.TypeToString[qq.Qtype]]++
		f.mu.Unlock()

		r := new(dns.Msg)
		r.SetReply(q)
		switch {
		case strings.EqualFold(qq.Name, "big.test."):
			for i := range 30 {
				rr, _ := dns.NewRR(qq.Name + ` 300 IN TXT "` + strings.Repeat(string(rune('a'+i%26)), 100) + `"`)
				r.Answer = append(r.Answer, rr)
			}
			if transport == "udp" {
				r.Answer, r.Truncated = nil, true
			}
		case strings.EqualFold(qq.Name, "cloaked.test."):
			// CNAME cloaking: an innocent name aliasing a blocked one.
			cname, _ := dns.NewRR(qq.Name + " 300 IN CNAME chat.deepseek.com.")
			a, _ := dns.NewRR("chat.deepseek.com. 300 IN A 192.0.2.66")
			r.Answer = []dns.RR{cname, a}
		case strings.EqualFold(qq.Name, "nx.test."):
			r.Rcode = dns.RcodeNameError
			soa, _ := dns.NewRR("test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60")
			r.Ns = []dns.RR{soa}
		case qq.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(qq.Name + " 300 IN A 192.0.2.1")
			r.Answer = []dns.RR{rr}
		}
		if opt := q.IsEdns0(); opt != nil {
			r.SetEdns0(1232, opt.Do())
		}
		_ = w.WriteMsg(r)
	}
}

// queries returns how often the upstream was asked name/qtype over any transport.
func (f *fakeUpstream) queries(name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, transport := range []string{"udp", "tcp"} {
		n += f.seen[transport+" "+strings.ToLower(name)+" "+dns.TypeToString[qtype]]
	}
	return n
}

func (f *fakeUpstream) queriesOver(transport, name string, qtype uint16) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[transport+" "+strings.ToLower(name)+" "+dns.TypeToString[qtype]]
}

// total is every query the upstream received.
func (f *fakeUpstream) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.seen {
		n += c
	}
	return n
}

// silentUpstream reads UDP queries and never answers: a dead upstream.
func silentUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}
