// Package rawio reads and writes sockets with raw read(2) and write(2)
// inside Go's poller.
//
// A read or write through net.Conn enters the scheduler's system-call
// state. When the process's only P was idle just before, that wakes Go's
// sysmon thread from its sleep, and it then polls every 20 µs until it
// finds the P idle again. On a resolver pinned to one core, with one such
// call per query, that was tens of thousands of wake-ups a second and a
// fifth to a third of the CPU per query (see bench/README.md). A socket
// call that cannot block needs none of it: Wrap's connection makes the
// same calls raw, parks on Go's poller when the socket is not ready, and
// keeps the connection's deadlines.
package rawio

import "net"

// Wrap returns c with Read and Write made raw; everything else is c's.
// Where that is not possible (another platform, or a connection without a
// descriptor, such as a tls.Conn or net.Pipe) it returns c itself.
func Wrap(c net.Conn) net.Conn {
	return wrap(c)
}
