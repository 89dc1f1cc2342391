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
