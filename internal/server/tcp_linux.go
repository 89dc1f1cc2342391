//go:build linux

package server

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpStream reads and writes a TCP connection with raw read(2) and
// write(2) inside its RawConn: Go's poller still parks the goroutine when
// there is nothing to read or no room to write, and the connection's
// deadlines still apply, but no call enters the scheduler's system-call
// state, which woke sysmon once per query (see rawRetry).
type tcpStream struct {
	rc syscall.RawConn
}

// newTCPStream returns c's raw stream, or c itself when it has no
// descriptor (a test's net.Pipe).
func newTCPStream(c net.Conn) io.ReadWriter {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return tcpStream{rc: rc}
}

func (s tcpStream) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n     uintptr
		errno syscall.Errno
	)
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, _, errno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			if errno != unix.EINTR {
				return errno != unix.EAGAIN
			}
		}
	})
	switch {
	case err != nil:
		return 0, err // a deadline, or the connection closed
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return int(n), nil
}

func (s tcpStream) Write(b []byte) (int, error) {
	var (
		written int
		errno   syscall.Errno
	)
	err := s.rc.Write(func(fd uintptr) bool {
		for written < len(b) {
			n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[written])), uintptr(len(b)-written))
			switch e {
			case 0:
				written += int(n)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // wait until there is room
			default:
				errno = e
				return true
			}
		}
		return true
	})
	if err == nil && errno != 0 {
		err = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}
	}
	return written, err
}
