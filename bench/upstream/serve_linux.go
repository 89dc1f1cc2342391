//go:build linux

package main

import (
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batchSize is how many datagrams one recvmmsg or sendmmsg call moves.
const batchSize = 32

// serve answers on conn in batches: one recvmmsg takes up to batchSize
// queries and one sendmmsg sends their answers, both through Go's poller
// (non-blocking calls, waiting in epoll when the socket is empty). That makes
// it the floor the benchmark compares resolvers with: the system calls and
// loopback work a query costs with the best batching Go offers, and almost
// nothing else.
func serve(conn *net.UDPConn, a4 [4]byte, answered *atomic.Uint64) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return
	}
	var (
		in     [batchSize][4096]byte
		out    [batchSize][4096]byte
		names  [batchSize]unix.RawSockaddrInet6
		iovIn  [batchSize]unix.Iovec
		hdrs   [batchSize]unix.Mmsghdr
		iovOut [batchSize]unix.Iovec
		sends  [batchSize]unix.Mmsghdr
	)
	for i := range hdrs {
		iovIn[i].Base = &in[i][0]
		iovIn[i].SetLen(len(in[i]))
		hdrs[i].Hdr.Iov = &iovIn[i]
		hdrs[i].Hdr.SetIovlen(1)
		hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
	}
	for {
		for i := range hdrs {
			hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		}
		var (
			n     uintptr
			errno syscall.Errno
		)
		err := rc.Read(func(fd uintptr) bool {
			n, _, errno = unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), batchSize, unix.MSG_DONTWAIT, 0, 0)
			return errno != unix.EAGAIN && errno != unix.EINTR
		})
		if err != nil {
			return // closed
		}
		if errno != 0 {
			continue
		}
		m := 0
		for i := range int(n) {
			resp, ok := respond(in[i][:hdrs[i].Len], out[i][:0], a4)
			if !ok {
				continue
			}
			iovOut[m].Base = &resp[0]
			iovOut[m].SetLen(len(resp))
			sends[m].Hdr = unix.Msghdr{Name: hdrs[i].Hdr.Name, Namelen: hdrs[i].Hdr.Namelen, Iov: &iovOut[m]}
			sends[m].Hdr.SetIovlen(1)
			m++
		}
		for sent := 0; sent < m; {
			var r uintptr
			err := rc.Write(func(fd uintptr) bool {
				r, _, errno = unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&sends[sent])), uintptr(m-sent), unix.MSG_DONTWAIT, 0, 0)
				return errno != unix.EAGAIN && errno != unix.EINTR
			})
			if err != nil {
				return
			}
			if errno != 0 {
				sent++ // sendmmsg fails only on its first datagram: skip it
				continue
			}
			sent += int(r)
			answered.Add(uint64(r))
		}
	}
}
