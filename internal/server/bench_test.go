package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/cache"
	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
	"github.com/dijk-dns/dijk/internal/policy"
)

type discardHits struct{}

func (discardHits) Log(hitlog.Event) {}

// benchDatagram measures the user-space work of one UDP datagram as a reader
// does it (parse, checks, policy, cache, envelope, truncation, packing)
// without the two system calls, through the real policy and cache. With
// several names it asks for each in turn.
func benchDatagram(b *testing.B, names ...string) {
	benchDatagramSink(b, policy.Sinkhole{TTL: time.Minute}, names...)
}

func benchDatagramSink(b *testing.B, sink policy.Sinkhole, names ...string) {
	bl := blocklist.NewBuilder()
	bl.Add("bench", blocklist.Entry{Name: "deepseek.com", Line: 1})
	if len(names) > 1 {
		for i := range floodRules {
			bl.Add("flood", blocklist.Entry{Name: fmt.Sprintf("r%d.flood.example", i), Line: i + 1})
		}
	}
	up := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		req.Outcome = chain.OutcomeForwarded
		rr, err := dns.NewRR(req.Question.Name + " 3600 IN A 192.0.2.1")
		return &dns.Msg{Answer: []dns.RR{rr}}, err
	})
	c, err := cache.New(cache.Options{Size: 1024}, up)
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.New(policy.Options{Sinkhole: sink, Hits: discardHits{}}, bl.Build(), nil, c)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Options{Listen: []string{"127.0.0.1:0"}, Handler: p, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	u := &udpSocket{s: s}
	batch := newUDPBatch()
	batch.q = newInlineQuery(u, batch)
	batch.q.hook = nil // a miss would move the query off; here the cache is warm
	queries := make([][]byte, len(names))
	for i, name := range names {
		q := new(dns.Msg).SetQuestion(name, dns.TypeA)
		q.SetEdns0(1232, false)
		if queries[i], err = q.Pack(); err != nil {
			b.Fatal(err)
		}
	}
	pkt := &batch.pkts[0]
	pkt.n = copy(pkt.buf, queries[0])
	pkt.client = netip.MustParseAddrPort("192.0.2.7:40000")
	batch.n = 1
	answer := func() {
		if !u.answerInline(batch, 0) || pkt.reply == nil {
			b.Fatal("no inline answer")
		}
	}
	answer() // warms the cache for allowed names
	var r dns.Msg
	if err := r.Unpack(pkt.reply); err != nil || r.Id != binary.BigEndian.Uint16(queries[0]) ||
		len(r.Question) != 1 || r.Question[0].Name != names[0] {
		b.Fatalf("answer %v: %v", &r, err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if len(queries) > 1 {
			i++
			pkt.n = copy(pkt.buf, queries[i%len(queries)])
		}
		answer()
	}
}

// floodRules is the number of list entries BenchmarkDatagramBlockedFlood
// cycles through: four times the policy's shared answer parts.
const floodRules = 16384

func BenchmarkDatagramBlocked(b *testing.B) { benchDatagram(b, "chat.deepseek.com.") }
func BenchmarkDatagramCached(b *testing.B)  { benchDatagram(b, "www.example.org.") }

// BenchmarkDatagramBlockedNull answers a blocked name with 0.0.0.0.
func BenchmarkDatagramBlockedNull(b *testing.B) {
	benchDatagramSink(b, policy.Sinkhole{Action: policy.ActionNull, TTL: time.Minute}, "chat.deepseek.com.")
}

// BenchmarkDatagramBlockedFlood blocks a name under a different list entry
// every time, as a scan across a large list does.
func BenchmarkDatagramBlockedFlood(b *testing.B) {
	names := make([]string, floodRules)
	for i := range names {
		names[i] = fmt.Sprintf("www.r%d.flood.example.", i)
	}
	benchDatagram(b, names...)
}
