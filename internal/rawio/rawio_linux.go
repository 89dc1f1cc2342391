//go:build linux

package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

type conn struct {
	net.Conn
	rc   syscall.RawConn
	r, w op
}

// op is one direction's call: its arguments and results live here, and its
// poller callback is bound once, so that a call allocates nothing (a
// closure passed to RawConn.Read escapes). The lock keeps concurrent
// callers of one direction apart; the poller serialises them anyway.
type op struct {
	mu    sync.Mutex
	b     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func wrap(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	w := &conn{Conn: c, rc: rc}
	w.r.fn, w.w.fn = w.r.read, w.w.write
	return w
}

// read is the poller callback of Read: one read(2), again after EINTR;
// false to wait for data.
func (o *op) read(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&o.b[0])), uintptr(len(o.b)))
		if e != unix.EINTR {
			o.n, o.errno = int(n), e
			return e != unix.EAGAIN
		}
	}
}

// write is the poller callback of Write: write(2) until all of o.b is
// written; false to wait for room.
func (o *op) write(fd uintptr) bool {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(o.b[o.n:]))), uintptr(len(o.b)-o.n))
		switch e {
		case 0:
			o.n += int(n)
			if o.n >= len(o.b) {
				return true
			}
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
}

// Read reads once, waiting for data until the read deadline. A stream
// socket's end reads as io.EOF; an empty datagram as (0, nil).
func (c *conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	o := &c.r
	o.mu.Lock()
	o.b, o.n, o.errno = b, 0, 0
	err := c.rc.Read(o.fn)
	n, errno := o.n, o.errno
	o.b = nil
	o.mu.Unlock()
	switch {
	case err != nil:
		return 0, err // a deadline, or the connection closed
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0 && c.stream():
		return 0, io.EOF
	}
	return n, nil
}

// Write writes all of b, waiting for room until the write deadline. On a
// datagram socket one write sends b as one datagram.
func (c *conn) Write(b []byte) (int, error) {
	o := &c.w
	o.mu.Lock()
	o.b, o.n, o.errno = b, 0, 0
	err := c.rc.Write(o.fn)
	n, errno := o.n, o.errno
	o.b = nil
	o.mu.Unlock()
	if err == nil && errno != 0 {
		err = c.opError("write", errno)
	}
	return n, err
}

func (c *conn) stream() bool {
	_, udp := c.Conn.(*net.UDPConn)
	return !udp
}

func (c *conn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
