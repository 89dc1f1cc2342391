package cache

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
)

func warmCache(b *testing.B) *Cache {
	b.Helper()
	// The real clock, as in production; the entry outlives any benchmark run.
	f := newFixture(b, Options{Size: 1024, Now: time.Now})
	f.next.set(aReply(b, "300"), nil)
	f.query(b, newReq("example.com.", dns.TypeA))
	return f.c
}

func BenchmarkCacheHit(b *testing.B) {
	c := warmCache(b)
	req := newReq("ExAmPlE.com.", dns.TypeA)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ServeDNS(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheHitParallel(b *testing.B) {
	c := warmCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := newReq("ExAmPlE.com.", dns.TypeA)
		for pb.Next() {
			if _, err := c.ServeDNS(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkCacheRebuild is a hit whose answer must be built afresh from the
// entry: the client's spelling differs from the last hit's, as it does for
// every first hit in a new second.
func BenchmarkCacheRebuild(b *testing.B) {
	c := warmCache(b)
	reqs := []*chain.Request{newReq("ExAmPlE.com.", dns.TypeA), newReq("eXaMpLe.com.", dns.TypeA)}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.ServeDNS(ctx, reqs[i&1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCacheMiss asks for more names than the cache holds, in a cycle,
// so every query misses, is answered by next and is stored, evicting one.
func BenchmarkCacheMiss(b *testing.B) {
	const size = 1024
	c, err := New(Options{Size: size, Now: time.Now}, oneAddress())
	if err != nil {
		b.Fatal(err)
	}
	reqs := make([]*chain.Request, 4*size)
	for i := range reqs {
		reqs[i] = newReq(fmt.Sprintf("n%d.miss.example.net.", i), dns.TypeA)
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.ServeDNS(ctx, reqs[i%len(reqs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// oneAddress answers every query with one A record owned by the query name,
// as a fresh message each time, like the upstream.
func oneAddress() chain.Handler {
	return chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: req.Question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A:   net.IPv4(192, 0, 2, 1).To4(),
		}}
		return m, nil
	})
}

// BenchmarkCollectFullCache times one full garbage collection with a full
// cache of 100,000 one-record answers (the bench's cache size): the mark
// phase that, under load, competes with queries for the core.
func BenchmarkCollectFullCache(b *testing.B) {
	const entries = 100_000
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c, err := New(Options{Size: entries, Now: time.Now}, oneAddress())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range entries {
		if _, err := c.ServeDNS(ctx, newReq(fmt.Sprintf("n%d.fill.example.net.", i), dns.TypeA)); err != nil {
			b.Fatal(err)
		}
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(c)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/entries, "B/entry")
	b.ReportMetric(float64(after.HeapObjects-before.HeapObjects)/entries, "objects/entry")
}
