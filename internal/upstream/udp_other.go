//go:build !linux

package upstream

import "net"

// udpSockets is empty: elsewhere each exchange opens its socket through net.
type udpSockets struct{}

// openUDP returns a UDP socket connected to u, on a fresh port the kernel
// picks at random (RFC 5452 §9.2).
func (f *Forwarder) openUDP(u *upstream) (upstreamConn, error) {
	return net.DialUDP("udp", nil, u.udpAddr)
}

func (f *Forwarder) closeUDP() {}
