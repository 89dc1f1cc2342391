package cache

import (
	"context"
	"testing"
	"time"

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
