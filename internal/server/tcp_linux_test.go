//go:build linux

package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
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

// TestTCPStreamWriteWaitsForRoom writes far more than the socket buffers
// hold to a client that reads slowly: the write must wait for room (not
// fail with EAGAIN) and deliver every byte in order.
func TestTCPStreamWriteWaitsForRoom(t *testing.T) {
	server, client := tcpPair(t)
	stream := newTCPStream(server)
	if _, ok := stream.(tcpStream); !ok {
		t.Fatalf("newTCPStream gave %T, want the raw stream", stream)
	}
	payload := make([]byte, 16<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	_ = server.SetWriteDeadline(time.Now().Add(30 * time.Second))
	done := make(chan error, 1)
	go func() {
		n, err := stream.Write(payload)
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

// TestTCPStreamRead checks the three ways a read ends: data, the deadline,
// and the client closing.
func TestTCPStreamRead(t *testing.T) {
	server, client := tcpPair(t)
	stream := newTCPStream(server)
	buf := make([]byte, 16)

	_ = server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := stream.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing sent: %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if _, err := stream.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a net.Error timeout", err)
	}

	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := client.Write([]byte("query")); err != nil {
		t.Fatal(err)
	}
	if n, err := stream.Read(buf); err != nil || string(buf[:n]) != "query" {
		t.Fatalf("read: %q, %v; want \"query\"", buf[:n], err)
	}
	client.Close()
	if n, err := stream.Read(buf); err != io.EOF {
		t.Fatalf("read after the client closed: %d, %v; want io.EOF", n, err)
	}
}
