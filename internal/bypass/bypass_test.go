package bypass

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

type recorder struct {
	mu     sync.Mutex
	events []hitlog.Event
}

func (r *recorder) Log(e hitlog.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func TestSignals(t *testing.T) {
	all := Options{FirefoxCanary: true, PrivateRelay: true, DDR: true, TTL: time.Minute}
	tests := []struct {
		name      string
		opts      Options
		qname     string
		qtype     uint16
		wantLocal bool
		wantRcode int
		wantZone  string
	}{
		{"firefox canary A", all, "use-application-dns.net.", dns.TypeA, true, dns.RcodeNameError, "use-application-dns.net."},
		{"firefox canary AAAA, any case", all, "Use-Application-DNS.net.", dns.TypeAAAA, true, dns.RcodeNameError, "use-application-dns.net."},
		{"private relay", all, "mask.icloud.com.", dns.TypeA, true, dns.RcodeNameError, "mask.icloud.com."},
		{"private relay h2", all, "mask-h2.icloud.com.", dns.TypeHTTPS, true, dns.RcodeNameError, "mask-h2.icloud.com."},
		{"DDR SVCB is NODATA", all, "_dns.resolver.arpa.", dns.TypeSVCB, true, dns.RcodeSuccess, "resolver.arpa."},
		{"other resolver.arpa names do not exist", all, "x.resolver.arpa.", dns.TypeA, true, dns.RcodeNameError, "resolver.arpa."},
		{"icloud itself is forwarded", all, "icloud.com.", dns.TypeA, false, 0, ""},
		{"lookalike canary is forwarded", all, "xuse-application-dns.net.", dns.TypeA, false, 0, ""},
		{"canary switched off", Options{PrivateRelay: true, DDR: true}, "use-application-dns.net.", dns.TypeA, false, 0, ""},
		{"private relay switched off", Options{FirefoxCanary: true}, "mask.icloud.com.", dns.TypeA, false, 0, ""},
		{"DDR switched off", Options{FirefoxCanary: true}, "_dns.resolver.arpa.", dns.TypeSVCB, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forwarded := false
			hits := &recorder{}
			tt.opts.Hits = hits
			h, err := New(tt.opts, chain.HandlerFunc(func(context.Context, *chain.Request) (*dns.Msg, error) {
				forwarded = true
				return &dns.Msg{}, nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			q := new(dns.Msg).SetQuestion(tt.qname, tt.qtype)
			req := &chain.Request{ID: q.Id, Question: q.Question[0], Name: strings.ToLower(tt.qname),
				Client: netip.MustParseAddrPort("192.0.2.5:999"), Transport: "udp"}
			resp, err := h.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if forwarded == tt.wantLocal {
				t.Fatalf("forwarded = %v, want %v", forwarded, !tt.wantLocal)
			}
			if !tt.wantLocal {
				return
			}
			if resp.Rcode != tt.wantRcode || len(resp.Answer) != 0 {
				t.Errorf("rcode %s answer %v, want %s with no answer", dns.RcodeToString[resp.Rcode], resp.Answer, dns.RcodeToString[tt.wantRcode])
			}
			if len(resp.Ns) != 1 || resp.Ns[0].Header().Name != tt.wantZone || resp.Ns[0].(*dns.SOA).Minttl != 60 {
				t.Errorf("authority %v, want SOA %s with MINIMUM 60", resp.Ns, tt.wantZone)
			}
			if len(hits.events) != 1 || hits.events[0].Kind != hitlog.KindBypass || hits.events[0].Source != Source {
				t.Errorf("events %+v, want one bypass event", hits.events)
			}
		})
	}
}
