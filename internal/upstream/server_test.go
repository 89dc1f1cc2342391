package upstream

import (
	"net/netip"
	"testing"
)

func TestParseServer(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Server // Raw is filled in from in
		wantErr bool
	}{
		{name: "bare IPv4", in: "192.0.2.1:53", want: Server{Transport: TransportUDP, Addr: ap("192.0.2.1:53")}},
		{name: "bare IPv6", in: "[2001:db8::1]:5353", want: Server{Transport: TransportUDP, Addr: ap("[2001:db8::1]:5353")}},
		{name: "udp default port", in: "udp://192.0.2.1", want: Server{Transport: TransportUDP, Addr: ap("192.0.2.1:53")}},
		{name: "tcp", in: "tcp://192.0.2.1:5353", want: Server{Transport: TransportTCP, Addr: ap("192.0.2.1:5353")}},
		{name: "scheme case", in: "TCP://192.0.2.1", want: Server{Transport: TransportTCP, Addr: ap("192.0.2.1:53")}},
		{name: "tls IP only", in: "tls://192.0.2.1", want: Server{Transport: TransportTLS, Addr: ap("192.0.2.1:853"), ServerName: "192.0.2.1"}},
		{name: "tls IP and name", in: "tls://192.0.2.1:8853#dns.example", want: Server{Transport: TransportTLS, Addr: ap("192.0.2.1:8853"), ServerName: "dns.example"}},
		{name: "tls name and bootstrap IP", in: "tls://dns.example#192.0.2.1", want: Server{Transport: TransportTLS, Addr: ap("192.0.2.1:853"), ServerName: "dns.example"}},
		{name: "tls name and bracketed IPv6", in: "tls://dns.example:853#[2001:db8::1]", want: Server{Transport: TransportTLS, Addr: ap("[2001:db8::1]:853"), ServerName: "dns.example"}},
		{name: "tls IPv6 only", in: "tls://[2001:db8::1]", want: Server{Transport: TransportTLS, Addr: ap("[2001:db8::1]:853"), ServerName: "2001:db8::1"}},
		{name: "tls trailing dot in name", in: "tls://192.0.2.1#dns.example.", want: Server{Transport: TransportTLS, Addr: ap("192.0.2.1:853"), ServerName: "dns.example"}},
		{name: "https IP", in: "https://192.0.2.1/dns-query", want: Server{Transport: TransportHTTPS, Addr: ap("192.0.2.1:443"), ServerName: "192.0.2.1", URL: "https://192.0.2.1/dns-query"}},
		{name: "https default path", in: "https://192.0.2.1", want: Server{Transport: TransportHTTPS, Addr: ap("192.0.2.1:443"), ServerName: "192.0.2.1", URL: "https://192.0.2.1/dns-query"}},
		{name: "https name, port, path, query", in: "https://dns.example:8443/q/a?x=1#192.0.2.1", want: Server{Transport: TransportHTTPS, Addr: ap("192.0.2.1:8443"), ServerName: "dns.example", URL: "https://dns.example:8443/q/a?x=1"}},
		{name: "https IP with name", in: "https://192.0.2.1/dns-query#dns.example", want: Server{Transport: TransportHTTPS, Addr: ap("192.0.2.1:443"), ServerName: "dns.example", URL: "https://dns.example/dns-query"}},
		{name: "https IPv6", in: "https://[2001:db8::1]:8443/dns-query", want: Server{Transport: TransportHTTPS, Addr: ap("[2001:db8::1]:8443"), ServerName: "2001:db8::1", URL: "https://[2001:db8::1]:8443/dns-query"}},

		{name: "bare without port", in: "192.0.2.1", wantErr: true},
		{name: "bare hostname", in: "dns.example:53", wantErr: true},
		{name: "bare port 0", in: "192.0.2.1:0", wantErr: true},
		{name: "unspecified", in: "tls://0.0.0.0", wantErr: true},
		{name: "unknown scheme", in: "quic://192.0.2.1", wantErr: true},
		{name: "udp hostname", in: "udp://dns.example", wantErr: true},
		{name: "udp with fragment", in: "udp://192.0.2.1#dns.example", wantErr: true},
		{name: "tcp with path", in: "tcp://192.0.2.1/x", wantErr: true},
		{name: "tls name without bootstrap", in: "tls://dns.example", wantErr: true},
		{name: "https name without bootstrap", in: "https://dns.example/dns-query", wantErr: true},
		{name: "tls name with name fragment", in: "tls://dns.example#other.example", wantErr: true},
		{name: "tls two IPs", in: "tls://192.0.2.1#192.0.2.2", wantErr: true},
		{name: "tls with path", in: "tls://192.0.2.1/dns-query", wantErr: true},
		{name: "tls bad name", in: "tls://192.0.2.1#bad name", wantErr: true},
		{name: "tls empty port", in: "tls://192.0.2.1:", wantErr: true},
		{name: "tls port out of range", in: "tls://192.0.2.1:65536", wantErr: true},
		{name: "tls port 0", in: "tls://192.0.2.1:0", wantErr: true},
		{name: "user info", in: "https://user@192.0.2.1/dns-query", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServer(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseServer(%q) = %+v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			tt.want.Raw = tt.in
			if got != tt.want {
				t.Errorf("ParseServer(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
