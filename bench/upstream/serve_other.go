//go:build !linux

package main

import (
	"errors"
	"net"
	"sync/atomic"
)

// serve answers on conn one datagram at a time.
func serve(conn *net.UDPConn, a4 [4]byte, answered *atomic.Uint64) {
	in := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		resp, ok := respond(in[:n], out[:0], a4)
		if !ok {
			continue
		}
		if _, err := conn.WriteToUDPAddrPort(resp, from); err == nil {
			answered.Add(1)
		}
	}
}

func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }
