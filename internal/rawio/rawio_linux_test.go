//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestWrap(t *testing.T) {
	server, _ := tcpPair(t)
	if _, ok := Wrap(server).(*conn); !ok {
		t.Errorf("Wrap(TCP) = %T, want the raw connection", Wrap(server))
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := Wrap(a); got != a {
		t.Errorf("Wrap(net.Pipe) = %T, want the pipe itself", got)
	}
}

// TestWriteWaitsForRoom writes far more than the socket buffers hold to a
// client that reads slowly: the write must wait for room (not fail with
// EAGAIN) and deliver every byte in order.
func TestWriteWaitsForRoom(t *testing.T) {
	server, client := tcpPair(t)
	c := Wrap(server)
	payload := make([]byte, 16<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	done := make(chan error, 1)
	go func() {
		n, err := c.Write(payload)
		if err == nil && n != len(payload) {
			err = io.ErrShortWrite
		}
		done <- err
	}()
	got := make([]byte, 0, len(payload))
	buf := make([]byte, 64<<10)
	_ = client.SetReadDeadline(time.Now().Add(30 * time.Second))
	written := false
	for len(got) < len(payload) {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Write after the client read %d bytes: %v", len(got), err)
			}
			written = true
		default:
		}
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("client read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if !written {
		if err := <-done; err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("client got different bytes than were written")
	}
}

// TestRead checks the ways a read ends: data, the deadline, and the peer
// closing.
func TestRead(t *testing.T) {
	server, client := tcpPair(t)
	c := Wrap(server)
	buf := make([]byte, 16)

	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if _, err := c.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a net.Error timeout", err)
	}

	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "query" {
		t.Fatalf("read: %q, %v; want \"query\"", buf[:n], err)
	}
	client.Close()
	if n, err := c.Read(buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want io.EOF", n, err)
	}
	server.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
}

// TestDatagrams sends on a connected UDP socket: each write is one whole
// datagram, an empty datagram reads as (0, nil), and once the peer is gone
// the ICMP error comes back as the error of a later write.
func TestDatagrams(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	c := Wrap(udp)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	for _, msg := range []string{"<133>1 first", "<133>1 second"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		n, _, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("peer got %q, %v; want %q", buf[:n], err, msg)
		}
	}
	if _, err := pc.WriteTo(nil, udp.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || err != nil {
		t.Fatalf("empty datagram read as %d, %v; want 0, nil", n, err)
	}
	pc.Close()
	var refused error
	for i := 0; i < 100 && refused == nil; i++ {
		_, refused = c.Write([]byte("<133>1 into the void"))
		time.Sleep(time.Millisecond) // for the ICMP error to arrive
	}
	if !errors.Is(refused, syscall.ECONNREFUSED) {
		t.Errorf("writes to a closed port: %v, want ECONNREFUSED", refused)
	}
}

// TestNoAllocations: a read and a write allocate nothing, so wrapping a
// connection costs the query path no garbage.
func TestNoAllocations(t *testing.T) {
	server, client := tcpPair(t)
	c := Wrap(server)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_ = client.SetDeadline(time.Now().Add(30 * time.Second))
	msg, buf := []byte("0123456789"), make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write and read, want 0", allocs)
	}
}
