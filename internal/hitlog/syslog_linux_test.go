//go:build linux

package hitlog

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestDatagramWriter sends through the raw writer: the collector gets each
// datagram whole, and once it is gone the ICMP error comes back as the
// error of a later write, as with net.Conn.Write.
func TestDatagramWriter(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, ok := newDatagramWriter(conn)
	if !ok {
		t.Fatal("no raw writer for a UDP connection")
	}
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, msg := range []string{"<133>1 first", "<133>1 second"} {
		if err := w.write([]byte(msg)); err != nil {
			t.Fatalf("write %q: %v", msg, err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 64)
		n, _, err := pc.ReadFrom(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("collector got %q, %v; want %q", buf[:n], err, msg)
		}
	}
	pc.Close()
	var refused error
	for i := 0; i < 100 && refused == nil; i++ {
		refused = w.write([]byte("<133>1 into the void"))
		time.Sleep(time.Millisecond) // for the ICMP error to arrive
	}
	if !errors.Is(refused, syscall.ECONNREFUSED) {
		t.Errorf("writes to a closed port: %v, want ECONNREFUSED", refused)
	}
}
