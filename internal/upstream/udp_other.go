//go:build !linux

package upstream

import "net"

// openUDP returns a UDP socket connected to u, on a fresh port the kernel
// picks at random (RFC 5452 §9.2).
func openUDP(u *upstream) (upstreamConn, error) {
	return net.DialUDP("udp", nil, u.udpAddr)
}
