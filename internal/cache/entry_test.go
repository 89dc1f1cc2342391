package cache

import (
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestStoredRecordsComeBackAsTheyWere stores an answer with every section and
// many record types, packed into bytes by the cache, and checks that a hit
// gives back the same records with the same TTLs.
func TestStoredRecordsComeBackAsTheyWere(t *testing.T) {
	answer := rrs(t,
		"www.example.com. 300 IN CNAME edge.example.net.",
		"edge.example.net. 60 IN A 192.0.2.1",
		"edge.example.net. 60 IN AAAA 2001:db8::1",
		`edge.example.net. 120 IN TXT "v=spf1 -all" "second string" "with \"quotes\" and \\ backslash"`,
		"edge.example.net. 120 IN MX 10 mail.example.net.",
		"edge.example.net. 120 IN SRV 0 5 443 svc.example.net.",
		"edge.example.net. 120 IN CAA 0 issue \"ca.example\"",
		`edge.example.net. 120 IN HTTPS 1 . alpn="h3,h2" ipv4hint=192.0.2.1`,
		"edge.example.net. 120 IN NAPTR 100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.net.",
		"edge.example.net. 120 IN TYPE65280 \\# 3 010203",
		`a\.b\032c.example.net. 120 IN PTR host.example.net.`,
		"edge.example.net. 120 IN RRSIG A 13 3 60 20261231000000 20261201000000 12345 example.net. dGVzdA==",
	)
	ns := rrs(t, "example.net. 3600 IN NS ns1.example.net.", "example.net. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF")
	extra := rrs(t, "ns1.example.net. 3600 IN A 192.0.2.53", "ns1.example.net. 3600 IN AAAA 2001:db8::53")
	// As the forwarder hands them on: unpacked from an upstream's bytes,
	// which is also how the cache reads them back (presentation-format
	// parsing keeps some spellings, such as an upper-case DS digest, that
	// wire form does not).
	wire, err := reply(dns.RcodeSuccess, answer, ns, extra).Pack()
	if err != nil {
		t.Fatal(err)
	}
	upstream := new(dns.Msg)
	if err := upstream.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	answer, ns, extra = upstream.Answer, upstream.Ns, upstream.Extra
	f := newFixture(t, Options{Size: 10})
	f.next.set(upstream, nil)
	f.query(t, newReq("www.example.com.", dns.TypeA))

	hit := f.query(t, newReq("www.example.com.", dns.TypeA))
	if calls := f.next.calls.Load(); calls != 1 {
		t.Fatalf("next called %d times, want 1: the second query is a hit", calls)
	}
	for _, s := range []struct {
		name      string
		got, want []dns.RR
	}{
		{"answer", hit.Answer, answer},
		{"authority", hit.Ns, ns},
		{"additional", hit.Extra, extra},
	} {
		if len(s.got) != len(s.want) {
			t.Errorf("%s: %d records, want %d: %v", s.name, len(s.got), len(s.want), s.got)
			continue
		}
		for i := range s.want {
			if !dns.IsDuplicate(s.got[i], s.want[i]) || s.got[i].Header().Ttl != s.want[i].Header().Ttl {
				t.Errorf("%s[%d] = %v, want %v", s.name, i, s.got[i], s.want[i])
			}
		}
	}
}

// TestUnreadableEntry checks that an entry whose bytes do not unpack (which
// miekg/dns would have to get wrong) never fails a query that next can answer.
func TestUnreadableEntry(t *testing.T) {
	cutShort := func(f *fixture) {
		t.Helper()
		e, ok := f.c.lru.Peek(keyFor(newReq("example.com.", dns.TypeA)))
		if !ok {
			t.Fatal("no entry stored")
		}
		e.records = e.records[:len(e.records)-2]
	}
	t.Run("fresh", func(t *testing.T) {
		f := newFixture(t, Options{Size: 10})
		f.next.set(aReply(t, "300"), nil)
		f.query(t, newReq("example.com.", dns.TypeA))
		cutShort(f)
		if got := aRecord(t, f.query(t, newReq("example.com.", dns.TypeA))); got != "192.0.2.1" {
			t.Errorf("answer %s, want next's 192.0.2.1", got)
		}
		if calls := f.next.calls.Load(); calls != 2 {
			t.Errorf("next called %d times, want 2: the unreadable entry is a miss", calls)
		}
		f.query(t, newReq("example.com.", dns.TypeA))
		if calls := f.next.calls.Load(); calls != 2 {
			t.Errorf("next called %d times, want 2: next's answer replaced the unreadable entry", calls)
		}
	})
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t, Options{Size: 10, StaleFor: time.Hour})
		f.next.set(aReply(t, "60"), nil)
		f.query(t, newReq("example.com.", dns.TypeA))
		cutShort(f)
		f.clock.Advance(61 * time.Second)
		down := errors.New("upstream down")
		f.next.set(nil, down)
		_, err := f.c.ServeDNS(t.Context(), newReq("example.com.", dns.TypeA))
		if !errors.Is(err, down) {
			t.Errorf("error %v, want next's %v: there is no stale answer to give", err, down)
		}
		if got := f.metric(t, "dijk_cache_stale_answers_total"); got != 0 {
			t.Errorf("stale answers counted %v, want 0", got)
		}
	})
}
