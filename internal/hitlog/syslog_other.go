//go:build !linux

package hitlog

import "net"

// datagramWriter sends one datagram per call through net.Conn.
type datagramWriter struct {
	c net.Conn
}

func newDatagramWriter(c net.Conn) (datagramWriter, bool) {
	return datagramWriter{c: c}, true
}

func (w datagramWriter) write(b []byte) error {
	_, err := w.c.Write(b)
	return err
}
