package main

import (
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchQuery measures one query answered end to end by an in-process Dijk
// over a real loopback UDP socket: server, policy, cache, envelope, packing.
func benchQuery(b *testing.B, name string) {
	up := startFakeUpstream(&testing.T{})
	// Rate limiting off: one client sends the whole benchmark.
	cfg := testConfig(&testing.T{}, "--upstream.servers", up.addr, "--log.hits", "off", "--ratelimit.qps", "0")
	inst, err := start(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inst.shutdown(b.Context()) })
	conn, err := dns.Dial("udp", inst.dnsAddrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	exchange := func() *dns.Msg {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if err := conn.WriteMsg(q); err != nil {
			b.Fatal(err)
		}
		r, err := conn.ReadMsg()
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	exchange() // warm the cache for allowed names
	b.ReportAllocs()
	for b.Loop() {
		exchange()
	}
}

func BenchmarkBlockedQueryUDP(b *testing.B) { benchQuery(b, "chat.deepseek.com.") }
func BenchmarkCachedQueryUDP(b *testing.B)  { benchQuery(b, "www.example.org.") }
