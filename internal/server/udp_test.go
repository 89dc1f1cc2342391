package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

// waitsFor answers "slow." only after release is closed, announcing the wait
// with Blocking as every waiting handler must; other names are answered at
// once.
func waitsFor(release <-chan struct{}) chain.Handler {
	fast := answerA(nil)
	return chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		if req.Name == "slow." {
			req.Blocking()
			<-release
		}
		return fast.ServeDNS(ctx, req)
	})
}

// TestUDPWaitingQueryDoesNotHoldUpOthers sends a query that waits and, right
// behind it on the same socket, queries that need no waiting: those are read
// in the same batch and must be answered while the first still waits.
func TestUDPWaitingQueryDoesNotHoldUpOthers(t *testing.T) {
	release := make(chan struct{})
	addr, srv, _ := startServer(t, waitsFor(release))
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(id uint16, name string) {
		q := query(name, dns.TypeA)
		q.Id = id
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	const fast = 20
	send(1000, "slow.")
	for i := range fast {
		send(uint16(i+1), fmt.Sprintf("fast%d.example.", i))
	}
	read := func() *dns.Msg {
		t.Helper()
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for an answer: %v", err)
		}
		var m dns.Msg
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return &m
	}
	seen := map[uint16]bool{}
	for range fast {
		m := read()
		if m.Id == 1000 {
			t.Fatal("the waiting query was answered before it was released")
		}
		if want := fmt.Sprintf("fast%d.example.", m.Id-1); len(m.Question) != 1 || m.Question[0].Name != want {
			t.Errorf("answer %d is for %v, want %s", m.Id, m.Question, want)
		}
		seen[m.Id] = true
	}
	if len(seen) != fast {
		t.Errorf("%d distinct fast answers, want %d", len(seen), fast)
	}
	if n := waitingQueries(srv); n != 1 {
		t.Errorf("%d queries counted as waiting, want the one", n)
	}
	close(release)
	if m := read(); m.Id != 1000 || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Errorf("released query: id %d rcode %s answers %d, want id 1000 NOERROR 1", m.Id, dns.RcodeToString[m.Rcode], len(m.Answer))
	}
	// The count drops once the answer is written, which is just before the
	// client can read it.
	deadline := time.Now().Add(5 * time.Second)
	for waitingQueries(srv) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := waitingQueries(srv); n != 0 {
		t.Errorf("%d queries still counted as waiting after every answer", n)
	}
}

func waitingQueries(s *Server) int32 {
	var n int32
	for _, u := range s.udp {
		n += u.waiting.Load()
	}
	return n
}

// TestYieldToNetworkAtMostEvery checks the reader's yield is rate-limited:
// a yield returns its time, and a second within yieldEvery is skipped.
func TestYieldToNetworkAtMostEvery(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		last, now time.Time
		want      time.Time
	}{
		{"first yield", time.Time{}, start, start},
		{"right after the last", start, start.Add(time.Microsecond), start},
		{"just inside the period", start, start.Add(yieldEvery - time.Nanosecond), start},
		{"one period after the last", start, start.Add(yieldEvery), start.Add(yieldEvery)},
		{"long after the last", start, start.Add(time.Second), start.Add(time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := yieldToNetwork(tt.last, tt.now); !got.Equal(tt.want) {
				t.Errorf("yieldToNetwork(%v, %v) = %v, want %v", tt.last, tt.now, got, tt.want)
			}
		})
	}
}

// TestUDPMixedWaitingAndImmediateQueries has many clients send queries of
// which every third waits (and so moves its reader on to a new goroutine),
// and checks that each one gets its own answer.
func TestUDPMixedWaitingAndImmediateQueries(t *testing.T) {
	var waited atomic.Int64
	inner := answerA(nil)
	h := chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		if req.Question.Qtype == dns.TypeAAAA {
			req.Blocking()
			waited.Add(1)
			time.Sleep(time.Millisecond) // a short wait, like an upstream round trip
		}
		return inner.ServeDNS(ctx, req)
	})
	addr, _, _ := startServer(t, h)
	const clients, perClient = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
			for i := range perClient {
				qtype := dns.TypeA
				if i%3 == 0 {
					qtype = dns.TypeAAAA
				}
				name := fmt.Sprintf("c%d-q%d.example.", c, i)
				r, _, err := cl.Exchange(query(name, qtype), addr)
				switch {
				case err != nil:
					errs <- fmt.Errorf("%s: %w", name, err)
				case r.Question[0].Name != name || r.Rcode != dns.RcodeSuccess:
					errs <- fmt.Errorf("%s: got %s for %s", name, dns.RcodeToString[r.Rcode], r.Question[0].Name)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := waited.Load(), int64(clients*perClient/3); got != want {
		t.Errorf("%d queries waited, want %d", got, want)
	}
}

func TestUDPOversizedDatagramIsDroppedAsMalformed(t *testing.T) {
	addr, s, _ := startServer(t, answerA(nil))
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q, err := query("big.example.", dns.TypeA).Pack()
	if err != nil {
		t.Fatal(err)
	}
	big := append(q, make([]byte, udpReadSize)...) // a valid start, cut short on reading
	if _, err := conn.Write(big); err != nil {
		t.Fatal(err)
	}
	// The next query's answer proves the big one was processed first.
	if r := exchange(t, "udp", addr, query("ok.example.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after an oversized datagram: %s", dns.RcodeToString[r.Rcode])
	}
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := conn.Read(make([]byte, 512)); err == nil {
		t.Errorf("the oversized datagram got a %d-byte answer", n)
	}
	if got := testutil.ToFloat64(s.metrics.malformed.WithLabelValues(chain.TransportUDP)); got != 1 {
		t.Errorf("malformed = %v, want 1", got)
	}
}

func TestUDPOverIPv6Loopback(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	var seen atomic.Pointer[chain.Request]
	addr, _ := startTCPTestServer(t, answerA(&seen), func(o *Options) { o.Listen = []string{"[::1]:0"} })
	r := exchange(t, "udp", addr, query("v6.example.", dns.TypeA))
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("over IPv6: %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	if got := seen.Load().Client.Addr(); got != netip.IPv6Loopback() {
		t.Errorf("client address %s, want ::1", got)
	}
}
