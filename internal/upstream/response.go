package upstream

import "github.com/miekg/dns"

// cleanAnswer removes the upstream's OPT record, which describes the
// upstream hop, not ours (the server builds the client-facing OPT). Extended
// DNS Errors are kept in a fresh OPT so the server can relay them. All other
// records, DNSSEC and unknown types included, are left as they are.
func cleanAnswer(m *dns.Msg) *dns.Msg {
	var ede []dns.EDNS0
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			extra = append(extra, rr)
			continue
		}
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				ede = append(ede, e)
			}
		}
	}
	if len(ede) > 0 {
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: ede}
		opt.SetUDPSize(udpSize)
		extra = append(extra, opt)
	}
	clear(m.Extra[len(extra):]) // drop references to the removed records
	m.Extra = extra
	return m
}
