//go:build linux

package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// socketsTo counts the IPv4 UDP sockets connected to addr (in this network
// namespace), from /proc/net/udp.
func socketsTo(t *testing.T, addr netip.AddrPort) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	// rem_address as the kernel writes it: the address in host byte
	// order (little-endian here), then the port.
	ip := addr.Addr().As4()
	want := fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], addr.Port())
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 2 && f[2] == want {
			n++
		}
	}
	return n
}

// TestUDPPollerConcurrent sends many different queries at once to an
// upstream that answers them in reverse order: every exchange must get its
// own answer, and every socket must be closed once it has.
func TestUDPPollerConcurrent(t *testing.T) {
	const n = 200
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		type pending struct {
			q    *dns.Msg
			from net.Addr
		}
		var held []pending
		buf := make([]byte, dns.MaxMsgSize)
		for len(held) < n {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:k]) == nil {
				held = append(held, pending{q, from})
			}
		}
		for i := len(held) - 1; i >= 0; i-- {
			q := held[i].q
			m := new(dns.Msg).SetReply(q)
			// The answer's address is the query's number, from its name.
			var num int
			_, _ = fmt.Sscanf(q.Question[0].Name, "q%d.", &num)
			m.Answer = []dns.RR{rr(fmt.Sprintf("%s 60 IN A 10.0.%d.%d", q.Question[0].Name, num/256, num%256))}
			b, _ := m.Pack()
			_, _ = pc.WriteTo(b, held[i].from)
		}
	}()

	f := newTestForwarder(t, hangGuard, pc.LocalAddr().String())

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("q%d.example.", i)
			m, err := serve(t, f.Forwarder, newRequest(name, dns.TypeA))
			want := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
			if err != nil || firstA(m) != want {
				errs <- fmt.Errorf("%s: got %q, %v; want %s", name, firstA(m), err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := socketsTo(t, netip.MustParseAddrPort(pc.LocalAddr().String())); n != 0 {
		t.Errorf("%d sockets to the upstream still open after every query was answered, want 0", n)
	}
}

// TestUDPPollerDeadlineWithQueuedJunk fills the socket's queue with junk
// and lets the deadline pass after the first read: later reads must stop
// at the deadline, not drain the queue, or an upstream (or a forger)
// sending without pause would hold the exchange forever.
func TestUDPPollerDeadlineWithQueuedJunk(t *testing.T) {
	c, pc, from := openPolled(t, time.Now().Add(hangGuard))
	buf := make([]byte, 64)
	const junk = 100 // fits the default receive buffer
	for range junk {
		if _, err := pc.WriteTo([]byte("junk"), from); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	if err := c.SetDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read %d after the deadline: %q, %v; want os.ErrDeadlineExceeded", i, buf[:n], err)
		}
	}
}

// TestUDPPollerClose closes the Forwarder while a query waits: that query
// times out, and later ones are still answered, on plain sockets.
func TestUDPPollerClose(t *testing.T) {
	fake, release := gatedFake(t)
	f := newTestForwarder(t, 500*time.Millisecond, fake.addr)
	if f.udpPoller() == nil {
		t.Fatal("no poller on Linux")
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := serve(t, f.Forwarder, newRequest("held.example.", dns.TypeA))
		waiting <- err
	}()
	// The query is in flight once the fake has it.
	for end := time.Now().Add(hangGuard); fake.udp.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the fake upstream never got the query")
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-waiting; !isTimeout(err) {
		t.Errorf("query waiting during Close: %v, want a timeout", err)
	}
	if f.udp.poller.Load() != nil {
		t.Error("the poller is still there after Close")
	}
	release()
	m, err := serve(t, f.Forwarder, newRequest("after.example.", dns.TypeA))
	if err != nil || firstA(m) != "192.0.2.6" {
		t.Errorf("query after Close: %v, %v; want 192.0.2.6", m, err)
	}
	if f.udpPoller() != nil {
		t.Error("a closed Forwarder started a new poller")
	}
}

// TestUDPPollerStaleEvent checks that an event epoll reported for a socket
// already closed wakes nobody, not even the next socket in its slot.
func TestUDPPollerStaleEvent(t *testing.T) {
	fake := startFake(t, "127.0.0.1", false, answerA("192.0.2.7"))
	f := newTestForwarder(t, hangGuard, fake.addr)
	p := f.udpPoller()
	u := f.upstreams[0]

	first, err := p.open(u)
	if err != nil {
		t.Fatal(err)
	}
	stale := unix.EpollEvent{Events: unix.EPOLLIN, Fd: first.slot, Pad: first.gen}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	p.wake([]unix.EpollEvent{stale}) // slot free
	next, err := p.open(u)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	if next.slot != stale.Fd || next.gen == stale.Pad {
		t.Fatalf("next socket: slot %d gen %d; want slot %d reused under a new generation than %d", next.slot, next.gen, stale.Fd, stale.Pad)
	}
	p.wake([]unix.EpollEvent{stale}) // slot taken by next
	select {
	case <-next.ready:
		t.Fatal("a stale event woke the socket that took its slot")
	default:
	}
	p.wake([]unix.EpollEvent{{Events: unix.EPOLLIN, Fd: next.slot, Pad: next.gen}})
	select {
	case <-next.ready:
	default:
		t.Fatal("an event for the socket in the slot did not wake it")
	}
}

// TestUDPPollerReadAfterEmptyQueue reads twice on one socket without a
// deadline: the second read finds the queue empty, re-arms the one-shot
// registration and waits for the next datagram.
func TestUDPPollerReadAfterEmptyQueue(t *testing.T) {
	// No deadline (the zero time), as for a net.Conn: reads wait.
	c, pc, from := openPolled(t, time.Time{})
	buf := make([]byte, 16)
	got := make(chan string, 2)
	go func() {
		for range 2 {
			n, err := c.Read(buf)
			if err != nil {
				got <- err.Error()
				return
			}
			got <- string(buf[:n])
		}
	}()
	for _, want := range []string{"one", "two"} {
		if _, err := pc.WriteTo([]byte(want), from); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("read %q, want %q", s, want)
			}
		case <-time.After(hangGuard):
			t.Fatalf("no read returned %q", want)
		}
	}
}

// openPolled opens a polled socket to a fake upstream, with deadline, and
// sends one datagram on it so the fake learns its address (from).
func openPolled(t *testing.T, deadline time.Time) (c *polledUDP, pc net.PacketConn, from net.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	f := newTestForwarder(t, hangGuard, pc.LocalAddr().String())
	if c, err = f.udpPoller().open(f.upstreams[0]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(hangGuard))
	if _, from, err = pc.ReadFrom(make([]byte, 64)); err != nil {
		t.Fatal(err)
	}
	return c, pc, from
}
