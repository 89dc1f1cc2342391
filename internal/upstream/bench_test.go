package upstream

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkForward measures one forwarded query over real loopback sockets
// against a fast in-process upstream.
func BenchmarkForward(b *testing.B) {
	fake := startFake(b, "127.0.0.1", false, answerA("192.0.2.9"))
	f := newTestForwarder(b, 2*time.Second, fake.addr)
	req := newRequest("bench.example.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := serve(b, f.Forwarder, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardDoT measures one query over a pooled, pipelined DoT
// connection to an in-process server (the handshake happens once).
func BenchmarkForwardDoT(b *testing.B) {
	pki := newTestPKI(b)
	dot := startDoT(b, pki, serveDoT(answerA("192.0.2.9")))
	f := newTestForwarderWith(b, Options{Servers: []string{dotURL("127.0.0.1", dot.port)}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	req := newRequest("bench.example.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := serve(b, f.Forwarder, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardDoH measures one query over a kept-alive HTTP/2
// connection to an in-process DoH server.
func BenchmarkForwardDoH(b *testing.B) {
	pki := newTestPKI(b)
	doh := startDoH(b, pki, answerA("192.0.2.9"), nil)
	f := newTestForwarderWith(b, Options{Servers: []string{doh.url("127.0.0.1")}, Timeout: 2 * time.Second, RootCAs: pki.pool})
	req := newRequest("bench.example.", dns.TypeA)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := serve(b, f.Forwarder, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendQuery packs one upstream query into a reused buffer, as a
// UDP or TCP exchange does.
func BenchmarkAppendQuery(b *testing.B) {
	q := query{question: dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, do: true}
	buf := make([]byte, 0, maxUDPAnswer)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendQuery(buf, 1, q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewQueryPack is what BenchmarkAppendQuery replaced on UDP and
// TCP; DoT and DoH still build their queries this way.
func BenchmarkNewQueryPack(b *testing.B) {
	q := query{question: dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}, do: true}
	buf := make([]byte, maxUDPAnswer)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := newQuery(q).PackBuffer(buf); err != nil {
			b.Fatal(err)
		}
	}
}
