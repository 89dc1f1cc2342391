package acl

import (
	"context"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

func TestACL(t *testing.T) {
	next := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		req.Outcome = chain.OutcomeForwarded
		return &dns.Msg{}, nil
	})
	a, err := New(DefaultAllow(), nil, next)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		client string
		edns   bool
		want   bool
	}{
		{"127.0.0.1:5000", false, true},
		{"10.1.2.3:5000", true, true},
		{"172.31.255.1:5000", false, true},
		{"172.32.0.1:5000", true, false},
		{"192.168.1.20:5000", false, true},
		{"[::ffff:192.168.1.20]:5000", false, true},
		{"[::1]:5000", false, true},
		{"[fd00::1]:5000", false, true},
		{"192.0.2.1:5000", true, false},
		{"[2001:db8::1]:5000", false, false},
		{"8.8.8.8:53", true, false},
	}
	refused := 0
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			q := new(dns.Msg).SetQuestion("example.org.", dns.TypeA)
			req := &chain.Request{ID: q.Id, Question: q.Question[0], Name: "example.org.", Client: netip.MustParseAddrPort(tt.client), EDNS: tt.edns}
			resp, err := a.ServeDNS(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Rcode != dns.RcodeRefused; got != tt.want {
				t.Fatalf("allowed = %v, want %v", got, tt.want)
			}
			if tt.want {
				return
			}
			refused++
			if req.Outcome != chain.OutcomeRefused {
				t.Errorf("outcome = %v, want refused", req.Outcome)
			}
			var ede *dns.EDNS0_EDE
			if len(resp.Extra) == 1 {
				ede, _ = resp.Extra[0].(*dns.OPT).Option[0].(*dns.EDNS0_EDE)
			}
			if tt.edns != (ede != nil) || (ede != nil && ede.InfoCode != dns.ExtendedErrorCodeProhibited) {
				t.Errorf("EDE = %v with edns %v, want 18 (Prohibited) exactly when EDNS", ede, tt.edns)
			}
		})
	}
	if got := testutil.ToFloat64(a.refused); got != float64(refused) {
		t.Errorf("refused counter = %v, want %d", got, refused)
	}
}
