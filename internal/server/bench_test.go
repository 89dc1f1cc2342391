package server

import (
	"context"
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
// without the two system calls, through the real policy and cache.
func benchDatagram(b *testing.B, name string) {
	bl := blocklist.NewBuilder()
	bl.Add("bench", blocklist.Entry{Name: "deepseek.com", Line: 1})
	up := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		req.Outcome = chain.OutcomeForwarded
		rr, err := dns.NewRR(req.Question.Name + " 3600 IN A 192.0.2.1")
		return &dns.Msg{Answer: []dns.RR{rr}}, err
	})
	c, err := cache.New(cache.Options{Size: 1024}, up)
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.New(policy.Options{Sinkhole: policy.Sinkhole{TTL: time.Minute}, Hits: discardHits{}}, bl.Build(), nil, c)
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
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	packed, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	pkt := &batch.pkts[0]
	pkt.n = copy(pkt.buf, packed)
	pkt.client = netip.MustParseAddrPort("192.0.2.7:40000")
	batch.n = 1
	answer := func() {
		if !u.answerInline(batch, 0) || pkt.reply == nil {
			b.Fatal("no inline answer")
		}
	}
	answer() // warms the cache for allowed names
	var r dns.Msg
	if err := r.Unpack(pkt.reply); err != nil || r.Id != q.Id {
		b.Fatalf("answer %v: %v", &r, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		answer()
	}
}

func BenchmarkDatagramBlocked(b *testing.B) { benchDatagram(b, "chat.deepseek.com.") }
func BenchmarkDatagramCached(b *testing.B)  { benchDatagram(b, "www.example.org.") }
