//go:build !linux

package server

import (
	"io"
	"net"
)

// newTCPStream returns c: elsewhere a connection is read and written
// through net.
func newTCPStream(c net.Conn) io.ReadWriter { return c }
