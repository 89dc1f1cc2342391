package main

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRespond(t *testing.T) {
	// ID 0x1234, RD, one question www.example.org A IN, one OPT record.
	q := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x03www\x07example\x03org\x00\x00\x01\x00\x01" +
		"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00")
	out, ok := respond(q, nil, [4]byte{192, 0, 2, 1})
	if !ok {
		t.Fatal("query dropped")
	}
	if binary.BigEndian.Uint16(out) != 0x1234 || out[2] != 0x85 || out[3] != 0x80 {
		t.Errorf("header % x", out[:4])
	}
	if an, ar := binary.BigEndian.Uint16(out[6:]), binary.BigEndian.Uint16(out[10:]); an != 1 || ar != 1 {
		t.Errorf("ANCOUNT %d ARCOUNT %d", an, ar)
	}
	qend := 12 + 17 + 4
	ans := out[qend:]
	if ans[0] != 0xC0 || ans[1] != 0x0C || binary.BigEndian.Uint32(ans[6:]) != 3600 || string(ans[12:16]) != "\xc0\x00\x02\x01" {
		t.Errorf("answer % x", ans[:16])
	}
	if _, ok := respond(q[:20], nil, [4]byte{}); ok {
		t.Error("truncated query answered")
	}
	resp := append([]byte{}, out...)
	if _, ok := respond(resp, nil, [4]byte{}); ok {
		t.Error("a response was answered")
	}
}

// TestServeOverLoopback sends queries to serve on a loopback socket, a burst
// at a time so that the batched reader gets several in one call, and checks
// each answer comes back to its sender with its own ID.
func TestServeOverLoopback(t *testing.T) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var answered atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(conn, [4]byte{192, 0, 2, 1}, &answered)
	}()
	stop := sync.OnceFunc(func() {
		conn.Close()
		<-done
	})
	defer stop()
	client, err := net.DialUDP("udp", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const burst = 50
	for id := range uint16(burst) {
		q := []byte("\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03org\x00\x00\x01\x00\x01")
		binary.BigEndian.PutUint16(q, id)
		if _, err := client.Write(q); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint16]bool{}
	buf := make([]byte, 512)
	for range burst {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		if n < 12 || buf[2]&0x80 == 0 || binary.BigEndian.Uint16(buf[6:]) != 1 {
			t.Fatalf("not an answer with one record: % x", buf[:n])
		}
		seen[binary.BigEndian.Uint16(buf)] = true
	}
	if len(seen) != burst {
		t.Errorf("%d distinct IDs answered, want %d", len(seen), burst)
	}
	stop() // the counter is bumped after sendmmsg returns, so maybe after the client read
	if got := answered.Load(); got != burst {
		t.Errorf("answered counter %d, want %d", got, burst)
	}
}
