package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Transport is how queries reach an upstream.
type Transport string

// The transports of an upstream server string; see ParseServer.
const (
	// TransportUDP sends over UDP and retries a truncated answer over TCP.
	TransportUDP Transport = "udp"
	// TransportTCP sends over TCP only, one connection per query.
	TransportTCP Transport = "tcp"
	// TransportTLS is DNS over TLS (RFC 7858) on pooled, pipelined connections.
	TransportTLS Transport = "tls"
	// TransportHTTPS is DNS over HTTPS (RFC 8484), POST, on a keep-alive client.
	TransportHTTPS Transport = "https"
)

// defaultPort is the port of each transport when the server string has
// none; 0 for an unknown transport.
func defaultPort(tr Transport) uint16 {
	switch tr {
	case TransportUDP, TransportTCP:
		return 53
	case TransportTLS:
		return 853
	case TransportHTTPS:
		return 443
	}
	return 0
}

// defaultDoHPath is used when a DoH URL has no path: the path RFC 8484's
// examples and most public servers use.
const defaultDoHPath = "/dns-query"

// Server is one parsed upstream server string.
type Server struct {
	// Raw is the string as configured; it is the metrics label.
	Raw       string
	Transport Transport
	// Addr is the address dialled: always an IP literal, so Dijk never
	// needs a resolver (itself) to reach its upstreams.
	Addr netip.AddrPort
	// ServerName is what the certificate must show (TLS and HTTPS only): a
	// DNS name, or the IP of Addr (then it must be an IP SAN).
	ServerName string
	// URL is the DoH request URL (HTTPS only). Its host is ServerName; the
	// connection goes to Addr whatever the host says.
	URL string
}

// ParseServer parses an upstream server string:
//
//	IP:port, udp://IP[:port]      UDP, TCP when truncated (port 53)
//	tcp://IP[:port]               TCP only (port 53)
//	tls://IP[:port][#name]        DNS over TLS (port 853)
//	tls://name[:port]#IP          DNS over TLS, name with a bootstrap IP
//	https://IP[:port][/path][#name]   DNS over HTTPS (port 443, path /dns-query)
//	https://name[:port][/path]#IP     DNS over HTTPS, name with a bootstrap IP
//
// For tls and https, one of the host and the #fragment is the IP literal
// that is dialled; the other, if given, is the name the certificate must
// show. Without a name the certificate must hold the IP as a SAN. A host
// name without an IP fragment is refused: resolving it would need Dijk.
// IPv6 hosts are bracketed ([2001:db8::1]:853); in a fragment either form works.
func ParseServer(s string) (Server, error) {
	srv, err := parseServer(s)
	if err != nil {
		return Server{}, fmt.Errorf("upstream: server %q: %w", s, err)
	}
	srv.Raw = s
	return srv, nil
}

func parseServer(s string) (Server, error) {
	if !strings.Contains(s, "://") {
		// Today's syntax: a bare IP:port means UDP, and the port is required.
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return Server{}, fmt.Errorf("not an IP:port or a udp://, tcp://, tls:// or https:// URL: %w", err)
		}
		return plainServer(TransportUDP, ap)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Server{}, err
	}
	tr := Transport(strings.ToLower(u.Scheme))
	if defaultPort(tr) == 0 {
		return Server{}, fmt.Errorf("unknown scheme %q; want udp, tcp, tls or https", u.Scheme)
	}
	if u.User != nil || u.Opaque != "" {
		return Server{}, errors.New("user info and opaque URLs are not supported")
	}
	host, port, err := hostPort(u, defaultPort(tr))
	if err != nil {
		return Server{}, err
	}
	if tr == TransportUDP || tr == TransportTCP {
		return parsePlainURL(tr, u, host, port)
	}
	return parseEncrypted(tr, u, host, port)
}

// parsePlainURL handles udp:// and tcp://, which take an IP and nothing else.
func parsePlainURL(tr Transport, u *url.URL, host string, port uint16) (Server, error) {
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return Server{}, fmt.Errorf("%s:// takes only IP[:port]", tr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return Server{}, fmt.Errorf("%q is not an IP address; %s:// needs one (Dijk cannot resolve its own upstreams)", host, tr)
	}
	return plainServer(tr, netip.AddrPortFrom(ip, port))
}

func plainServer(tr Transport, ap netip.AddrPort) (Server, error) {
	if err := checkAddr(ap); err != nil {
		return Server{}, err
	}
	return Server{Transport: tr, Addr: ap}, nil
}

func checkAddr(ap netip.AddrPort) error {
	if ap.Port() == 0 {
		return errors.New("port 0")
	}
	if ap.Addr().IsUnspecified() {
		return errors.New("the unspecified address is not a server")
	}
	return nil
}

// parseEncrypted handles tls:// and https://: it splits host and fragment
// into the IP to dial and the name to verify.
func parseEncrypted(tr Transport, u *url.URL, host string, port uint16) (Server, error) {
	ip, name, err := addrAndName(host, u.Fragment)
	if err != nil {
		return Server{}, err
	}
	srv := Server{Transport: tr, Addr: netip.AddrPortFrom(ip, port), ServerName: name}
	if err := checkAddr(srv.Addr); err != nil {
		return Server{}, err
	}
	if tr == TransportTLS {
		if u.Path != "" || u.RawQuery != "" {
			return Server{}, errors.New("tls:// takes no path or query")
		}
		return srv, nil
	}
	srv.URL = dohURL(u, name, port)
	return srv, nil
}

// addrAndName returns the IP to dial and the name to verify from a URL's
// host and fragment: one must be an IP; the name defaults to the IP.
func addrAndName(host, fragment string) (netip.Addr, string, error) {
	hostIP, hostErr := netip.ParseAddr(host)
	fragIP, fragErr := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(fragment, "["), "]"))
	switch {
	case hostErr == nil && fragment == "":
		return hostIP, hostIP.WithZone("").String(), nil
	case hostErr == nil && fragErr == nil:
		return netip.Addr{}, "", fmt.Errorf("host and #fragment are both IPs; the fragment is the name to verify (or the bootstrap IP when the host is a name)")
	case hostErr == nil:
		if err := checkName(fragment); err != nil {
			return netip.Addr{}, "", err
		}
		return hostIP, strings.TrimSuffix(fragment, "."), nil
	case fragment == "":
		return netip.Addr{}, "", fmt.Errorf("host %q is a name: add its IP as #IP (e.g. #192.0.2.1); Dijk does not resolve its own upstreams", host)
	case fragErr != nil:
		return netip.Addr{}, "", fmt.Errorf("host %q is a name, so #%s must be its IP address", host, fragment)
	}
	if err := checkName(host); err != nil {
		return netip.Addr{}, "", err
	}
	return fragIP, strings.TrimSuffix(host, "."), nil
}

// checkName accepts a host name to verify a certificate against: labels of
// letters, digits, '-' and '_' (RFC 952/1123, plus '_' seen in the wild).
func checkName(name string) error {
	bad := fmt.Errorf("%q is not a valid server name", name)
	trimmed := strings.TrimSuffix(name, ".")
	if trimmed == "" || len(trimmed) > 253 {
		return bad
	}
	for label := range strings.SplitSeq(trimmed, ".") {
		if !validLabel(label) {
			return bad
		}
	}
	return nil
}

func validLabel(label string) bool {
	if label == "" || len(label) > 63 {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hostPort returns the URL's host (brackets removed) and port, or def.
func hostPort(u *url.URL, def uint16) (string, uint16, error) {
	host := u.Hostname()
	if host == "" {
		return "", 0, errors.New("missing host")
	}
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return "", 0, errors.New("empty port")
		}
		return host, def, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, uint16(n), nil
}

// dohURL is the request URL: the configured path and query, with the
// verified name as host (so the Host header and SNI carry it).
func dohURL(u *url.URL, name string, port uint16) string {
	out := url.URL{Scheme: "https", Host: name, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	if strings.Contains(name, ":") {
		out.Host = "[" + name + "]"
	}
	if port != defaultPort(TransportHTTPS) {
		out.Host = net.JoinHostPort(name, strconv.Itoa(int(port)))
	}
	if out.Path == "" {
		out.Path = defaultDoHPath
	}
	return out.String()
}

// key identifies an upstream regardless of spelling, to refuse duplicates.
func (s Server) key() string {
	return string(s.Transport) + " " + s.Addr.String() + " " + s.ServerName + " " + s.URL
}

// parseServers validates the server list.
func parseServers(servers []string) ([]Server, error) {
	if len(servers) == 0 {
		return nil, ErrNoUpstream
	}
	out := make([]Server, 0, len(servers))
	seen := make(map[string]bool, len(servers))
	for _, s := range servers {
		srv, err := ParseServer(s)
		if err != nil {
			return nil, err
		}
		if seen[srv.key()] {
			// Duplicates would only repeat a failing attempt.
			return nil, fmt.Errorf("upstream: server %q listed twice", s)
		}
		seen[srv.key()] = true
		out = append(out, srv)
	}
	return out, nil
}
