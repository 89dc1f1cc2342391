package upstream

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// dnsPort is the port of resolv.conf nameservers, which cannot name another.
const dnsPort = 53

// DefaultServers returns the nameservers of a resolv.conf file as host:port
// (port 53), excluding any that equal one of Dijk's own listen addresses, so
// Dijk never forwards to itself. A listen host of "", 0.0.0.0 or :: matches
// every local address on that port, loopback included. It returns an error
// if the file cannot be read, and an empty list if it names no nameserver:
// the caller decides what that means.
func DefaultServers(resolvConfPath string, listen []string) ([]string, error) {
	data, err := os.ReadFile(resolvConfPath)
	if err != nil {
		return nil, fmt.Errorf("upstream: reading nameservers: %w", err)
	}
	self, err := parseListen(listen)
	if err != nil {
		return nil, err
	}
	var local []netip.Addr
	if self.wildcard {
		if local, err = interfaceAddrs(); err != nil {
			return nil, err
		}
	}
	return defaultServers(data, self, local), nil
}

// defaultServers is DefaultServers on the file's contents, with the local
// interface addresses passed in so tests need not depend on the host.
func defaultServers(resolvConf []byte, self listenSet, local []netip.Addr) []string {
	var out []string
	for _, ns := range nameservers(resolvConf) {
		if self.matches(ns, local) {
			continue
		}
		out = append(out, netip.AddrPortFrom(ns, dnsPort).String())
	}
	return out
}

// nameservers parses the nameserver lines of a resolv.conf. Lines that do
// not hold an IP address are skipped, as the C resolver does.
func nameservers(resolvConf []byte) []netip.Addr {
	var addrs []netip.Addr
	sc := bufio.NewScanner(bytes.NewReader(resolvConf))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(fields[1]); err == nil {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs
}

// listenSet is the set of Dijk's own addresses on port 53.
type listenSet struct {
	wildcard bool // some listen address is "", 0.0.0.0 or :: on port 53
	addrs    []netip.Addr
}

func parseListen(listen []string) (listenSet, error) {
	var s listenSet
	for _, l := range listen {
		host, portStr, err := net.SplitHostPort(l)
		if err != nil {
			return s, fmt.Errorf("upstream: listen address %q: %w", l, err)
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return s, fmt.Errorf("upstream: listen address %q: bad port: %w", l, err)
		}
		if port != dnsPort {
			continue // cannot equal a nameserver, which is always on port 53
		}
		if host == "" {
			s.wildcard = true
			continue
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return s, fmt.Errorf("upstream: listen address %q: host is not an IP: %w", l, err)
		}
		if a.IsUnspecified() {
			s.wildcard = true
			continue
		}
		s.addrs = append(s.addrs, sameHost(a))
	}
	return s, nil
}

// matches reports whether nameserver ns is one of our own addresses.
func (s listenSet) matches(ns netip.Addr, local []netip.Addr) bool {
	ns = sameHost(ns)
	for _, a := range s.addrs {
		if a == ns {
			return true
		}
	}
	if !s.wildcard {
		return false
	}
	// 0.0.0.0 / :: in resolv.conf mean this host, and all of 127/8 is local.
	if ns.IsLoopback() || ns.IsUnspecified() {
		return true
	}
	for _, a := range local {
		if sameHost(a) == ns {
			return true
		}
	}
	return false
}

// sameHost normalises an address for comparison: unmapped, without zone.
func sameHost(a netip.Addr) netip.Addr {
	return a.Unmap().WithZone("")
}

func interfaceAddrs() ([]netip.Addr, error) {
	ifAddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("upstream: listing local addresses: %w", err)
	}
	addrs := make([]netip.Addr, 0, len(ifAddrs))
	for _, ia := range ifAddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	return addrs, nil
}
