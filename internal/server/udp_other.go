//go:build !linux

package server

import (
	"net"
	"net/netip"
	"time"
)

// Outside Linux a socket is read one datagram at a time through Go's poller:
// the same serving loop, with batches of one.

func udpSocketsPerAddr() int { return 1 }

type udpConn struct{ conn *net.UDPConn }

type udpPeer = netip.AddrPort

type batchSys struct{ b *udpBatch }

func (s *batchSys) init(b *udpBatch) { s.b = b }

func (s *batchSys) peer(i int) udpPeer { return s.b.pkts[i].client }

func listenUDPSocket(addr string, _ bool) (*udpConn, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	return &udpConn{conn: pc.(*net.UDPConn)}, nil
}

func (c *udpConn) localAddr() string { return c.conn.LocalAddr().String() }

func (c *udpConn) readBatch(b *udpBatch) (int, error) {
	p := &b.pkts[0]
	n, from, err := c.conn.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		return 0, err
	}
	// A full buffer may be a longer datagram cut short: treat it as one.
	p.n, p.cut = n, n == len(p.buf)
	p.client = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	return 1, nil
}

func (c *udpConn) writeBatch(b *udpBatch) int {
	failed := 0
	for i := range b.n {
		if p := &b.pkts[i]; len(p.reply) > 0 {
			if err := c.writeTo(p.reply, &b.pkts[i].client, nil); err != nil {
				failed++
			}
		}
	}
	return failed
}

// sendScratch is what the Linux writeTo keeps per detached query.
type sendScratch struct{}

func (c *udpConn) writeTo(p []byte, to *udpPeer, _ *sendScratch) error {
	_, err := c.conn.WriteToUDPAddrPort(p, *to)
	return err
}

func (c *udpConn) wake() { _ = c.conn.SetReadDeadline(time.Unix(1, 0)) }

func (c *udpConn) close() error { return c.conn.Close() }
