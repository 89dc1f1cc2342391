// Command upstream is the benchmark's fake authoritative server: it answers
// every A query with one fixed address and TTL 3600, and every other type with
// an empty NOERROR answer. It works on raw UDP datagrams (no DNS library) and,
// on Linux, reads and writes them in batches (recvmmsg/sendmmsg), so it costs
// a few microseconds a query and never becomes the bottleneck of a resolver's
// miss workload; on the resolver's core it is the benchmark's floor.
// Loopback only; it stops on SIGINT/SIGTERM.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
)

var ttl uint32 = 3600

func main() {
	listen := flag.String("listen", "127.0.0.2:5390", "UDP address to answer on (loopback only)")
	answer := flag.String("answer", "192.0.2.1", "IPv4 address in every A answer")
	workers := flag.Int("workers", 0, "goroutines reading the socket (0: GOMAXPROCS)")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		fmt.Fprintf(os.Stderr, "upstream: -listen must be a loopback address:port, got %q\n", *listen)
		os.Exit(2)
	}
	ip, err := netip.ParseAddr(*answer)
	if err != nil || !ip.Is4() {
		fmt.Fprintf(os.Stderr, "upstream: -answer must be an IPv4 address\n")
		os.Exit(2)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		fmt.Fprintf(os.Stderr, "upstream: %v\n", err)
		os.Exit(1)
	}
	_ = conn.SetReadBuffer(8 << 20)
	_ = conn.SetWriteBuffer(8 << 20)
	n := *workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	var answered atomic.Uint64
	a4 := ip.As4()
	for range n {
		go serve(conn, a4, &answered)
	}
	fmt.Fprintf(os.Stderr, "upstream: answering on %s\n", conn.LocalAddr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Fprintf(os.Stderr, "upstream: answered %d queries\n", answered.Load())
}

// respond builds the answer to query q in out. It returns false for anything
// that is not a well-formed single-question query, which is dropped.
func respond(q, out []byte, a4 [4]byte) ([]byte, bool) {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, false
	}
	// Walk the question name: uncompressed labels up to the root.
	i := 12
	for {
		if i >= len(q) {
			return nil, false
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l&0xC0 != 0 {
			return nil, false
		}
		i += 1 + l
	}
	if i+4 > len(q) {
		return nil, false
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	qend := i + 4
	hasOPT := binary.BigEndian.Uint16(q[10:]) > 0

	out = append(out, q[:qend]...)
	out[2] = 0x84 | (q[2] & 0x01) // QR, AA, keep RD
	out[3] = 0x80                 // RA, RCODE NOERROR
	var an uint16
	if qtype == 1 { // A
		an = 1
		out = append(out,
			0xC0, 0x0C, // name: pointer to the question
			0x00, 0x01, 0x00, 0x01, // A IN
			byte(ttl>>24), byte(ttl>>16), byte(ttl>>8), byte(ttl),
			0x00, 0x04, a4[0], a4[1], a4[2], a4[3])
	}
	var ar uint16
	if hasOPT {
		ar = 1
		out = append(out, 0x00, 0x00, 0x29, 0x04, 0xD0, 0, 0, 0, 0, 0, 0) // OPT, 1232 bytes, no options
	}
	binary.BigEndian.PutUint16(out[6:], an)
	binary.BigEndian.PutUint16(out[8:], 0)
	binary.BigEndian.PutUint16(out[10:], ar)
	return out, true
}
