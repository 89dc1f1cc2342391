//go:build linux

package upstream

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a forwarded UDP query still gets a fresh connected socket, so a
// fresh random source port (RFC 5452 §9.2), but every system call on it is
// made raw, and its answer is awaited on an epoll instance of the
// Forwarder's own that Go's poller watches as one descriptor.
//
// Why raw: a call through syscall.Syscall (or os.File, or net) enters the
// scheduler's system-call state, and the first such call after the
// process's only P was idle wakes sysmon, which then polls every 20 µs
// until it finds the P idle again. Under a cache-miss load that was 10,000
// sysmon wake-ups a second, a tenth of the resolver's core, plus the
// thread switches of the Ps it took back. The bench's miss workload at
// 8,500 qps, resolver pinned to one core: 82-93 µs of CPU per query with
// the old socket path, 63-68 with every call made raw; one call left
// through Syscall (close) took all of the gain back.
//
// Why one epoll instance: Go's poller can only take in a descriptor through
// os.NewFile or net, and an os.File closes through Syscall. Our own epoll
// also saves the registration's fcntl and EPOLL_CTL_DEL, and the read that
// finds nothing because it came before the answer: a query costs socket,
// connect, epoll_ctl, write, read and close, plus a share of one
// epoll_pwait.

// openUDP returns a UDP socket connected to u on a fresh port the kernel
// picks at random.
func (f *Forwarder) openUDP(u *upstream) (upstreamConn, error) {
	if u.ip.Zone() == "" {
		if p := f.udpPoller(); p != nil {
			c, err := p.open(u)
			if !errors.Is(err, errPollerClosed) {
				return c, err
			}
		}
	}
	// A link-local address needs its zone turned into an interface index,
	// which net does; and once the Forwarder is closed, its poller is gone.
	return net.DialUDP("udp", nil, u.udpAddr)
}

// udpPoller returns f's poller, starting it on first use; nil when it
// cannot run or f is closed.
func (f *Forwarder) udpPoller() *udpPoller {
	s := &f.udp
	if p := s.poller.Load(); p != nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.poller.Load(); p != nil || s.done {
		return p
	}
	p, err := newUDPPoller()
	if err != nil {
		// Everything still works through net, one socket at a time.
		f.log.Warn("upstream: no epoll for UDP queries, using plain sockets", "error", err)
		s.done = true
		return nil
	}
	s.poller.Store(p)
	// A Forwarder that is dropped without Close must not leave the
	// poller's goroutine and descriptor behind.
	runtime.AddCleanup(f, (*udpPoller).close, p)
	return p
}

// closeUDP stops f's poller: queries waiting on it time out, later ones use
// plain sockets.
func (f *Forwarder) closeUDP() {
	s := &f.udp
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	if p := s.poller.Swap(nil); p != nil {
		p.close()
	}
}

// udpSockets is the Forwarder's poller, started on first use.
type udpSockets struct {
	poller atomic.Pointer[udpPoller]
	mu     sync.Mutex // guards starting and stopping it
	done   bool       // no poller any more (closed, or epoll failed)
}

// errPollerClosed makes openUDP fall back to a plain socket.
var errPollerClosed = errors.New("udp poller closed")

// udpPoller tells waiting UDP exchanges that their socket is readable.
type udpPoller struct {
	epfd int
	file *os.File // epfd, as Go's poller watches it
	rc   syscall.RawConn
	// conns holds closed polledUDPs, timer and channel included, for reuse.
	conns sync.Pool

	mu      sync.Mutex
	waiting []*polledUDP // by slot; nil when free
	free    []int32      // free slots
	gen     int32        // tells a slot's users apart in epoll events
	closed  bool
}

func newUDPPoller() (*udpPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// os.NewFile hands only a non-blocking descriptor to Go's poller;
	// epoll_wait itself ignores the flag.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	file := os.NewFile(uintptr(epfd), "upstream udp poller")
	// A descriptor Go's poller refused has no deadlines: reading it would
	// block a thread.
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		_ = file.Close()
		return nil, fmt.Errorf("epoll descriptor not pollable: %w", err)
	}
	rc, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	p := &udpPoller{epfd: epfd, file: file, rc: rc}
	p.conns.New = func() any {
		t := time.NewTimer(time.Hour)
		t.Stop()
		return &polledUDP{p: p, fd: -1, ready: make(chan struct{}, 1), timer: t, deadline: noDeadline}
	}
	go p.run()
	return p, nil
}

// run wakes the exchanges whose socket became readable (or failed), until
// the poller closes.
func (p *udpPoller) run() {
	events := make([]unix.EpollEvent, 128)
	_ = p.rc.Read(func(uintptr) bool {
		for {
			n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd),
				uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
			switch e {
			case 0:
			case unix.EINTR:
				continue
			default:
				return true // only a closed descriptor fails here
			}
			p.wake(events[:n])
			if int(n) < len(events) {
				return false // drained: wait for Go's poller
			}
		}
	})
	// Closed: stop taking sockets; the ones waiting run into their
	// deadlines.
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func (p *udpPoller) wake(events []unix.EpollEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range events {
		slot, gen := ev.Fd, ev.Pad
		if slot < 0 || int(slot) >= len(p.waiting) {
			continue
		}
		// The slot may have been freed, or taken by the next socket, since
		// epoll reported the event.
		if c := p.waiting[slot]; c != nil && c.gen == gen {
			select {
			case c.ready <- struct{}{}:
			default:
			}
		}
	}
}

func (p *udpPoller) close() {
	_ = p.file.Close() // ends run's Read
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// open returns a fresh UDP socket connected to u and watched by p.
func (p *udpPoller) open(u *upstream) (*polledUDP, error) {
	var (
		family = unix.AF_INET6
		sa4    unix.RawSockaddrInet4
		sa6    unix.RawSockaddrInet6
		sa     unsafe.Pointer
		saLen  uintptr
	)
	// The port goes in network byte order.
	port := [2]byte{byte(u.udpAddr.Port >> 8), byte(u.udpAddr.Port)}
	if u.ip.Is4() {
		family = unix.AF_INET
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: u.ip.As4()}
		*(*[2]byte)(unsafe.Pointer(&sa4.Port)) = port
		sa, saLen = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: u.ip.As16()}
		*(*[2]byte)(unsafe.Pointer(&sa6.Port)) = port
		sa, saLen = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// Connecting a UDP socket sends nothing and does not block.
	for {
		_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), saLen)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			_ = closeRaw(fd)
			return nil, os.NewSyscallError("connect", e)
		}
		break
	}
	c := p.conns.Get().(*polledUDP)
	c.fd = fd
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = closeRaw(fd)
		c.fd = -1
		p.conns.Put(c)
		return nil, errPollerClosed
	}
	if n := len(p.free); n > 0 {
		c.slot, p.free = p.free[n-1], p.free[:n-1]
	} else {
		c.slot = int32(len(p.waiting))
		p.waiting = append(p.waiting, nil)
	}
	p.gen++
	c.gen = p.gen
	p.waiting[c.slot] = c
	p.mu.Unlock()
	if err := c.arm(unix.EPOLL_CTL_ADD); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// polledUDP is one exchange's socket. Its methods are for one goroutine.
type polledUDP struct {
	p        *udpPoller
	fd       int
	slot     int32
	gen      int32
	ready    chan struct{} // the poller saw the socket readable
	deadline time.Time
	timer    *time.Timer // fires at the deadline, for reads that wait
	// unread is set after a read that returned a datagram: more may be
	// queued, which the one-shot registration will not report again.
	unread bool
}

// arm asks for one readiness event: one-shot, so that a socket the
// exchange has not read yet does not make every epoll_pwait report it.
func (c *polledUDP) arm(op int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: c.slot, Pad: c.gen}
	if err := unix.EpollCtl(c.p.epfd, op, c.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// SetDeadline sets when Read gives up; the zero time means never, as for
// any net.Conn.
func (c *polledUDP) SetDeadline(t time.Time) error {
	if t.IsZero() {
		c.timer.Stop()
		c.deadline = noDeadline
		return nil
	}
	c.deadline = t
	c.timer.Reset(time.Until(t))
	return nil
}

// noDeadline is later than any deadline a query is given.
var noDeadline = time.Unix(1<<62, 0)

// Write sends one datagram.
func (c *polledUDP) Write(b []byte) (int, error) {
	for {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("write", e)
	}
}

// Read waits until the deadline for the next datagram and reads it, cut to
// len(b). An ICMP error for the socket (port unreachable) is returned as
// the read's error, as on any connected UDP socket.
func (c *polledUDP) Read(b []byte) (int, error) {
	for {
		if c.unread {
			// Do not keep reading a stream of junk past the deadline. The
			// clock, not the timer: a timer that is due only fires once
			// the scheduler runs, and this loop may not give it the chance.
			if !time.Now().Before(c.deadline) {
				return 0, os.ErrDeadlineExceeded
			}
		} else {
			select {
			case <-c.ready:
			case <-c.timer.C:
				return 0, os.ErrDeadlineExceeded
			}
		}
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
		switch e {
		case 0:
			c.unread = true
			return int(n), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.unread = false
			if err := c.arm(unix.EPOLL_CTL_MOD); err != nil {
				return 0, err
			}
			continue
		}
		return 0, os.NewSyscallError("read", e)
	}
}

// Close closes the socket, which also takes it off the epoll instance,
// and keeps c for the next exchange.
func (c *polledUDP) Close() error {
	p := c.p
	p.mu.Lock()
	p.waiting[c.slot] = nil
	p.free = append(p.free, c.slot)
	p.mu.Unlock()
	err := closeRaw(c.fd)
	// No more wake-ups can come: the slot is free. Clear what is left.
	c.timer.Stop()
	select {
	case <-c.ready:
	default:
	}
	c.fd, c.unread, c.deadline = -1, false, noDeadline
	p.conns.Put(c)
	return err
}

func closeRaw(fd int) error {
	if _, _, e := unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0); e != 0 {
		return os.NewSyscallError("close", e)
	}
	return nil
}
