package server

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

func startTCPTestServer(t *testing.T, h chain.Handler, tune func(*Options)) (string, *Server) {
	t.Helper()
	opts := Options{Listen: []string{"127.0.0.1:0"}, Handler: h, Timeout: 5 * time.Second, Registerer: prometheus.NewRegistry()}
	if tune != nil {
		tune(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s.Addrs()[0], s
}

func frame(t *testing.T, q *dns.Msg) []byte {
	t.Helper()
	packed, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2, 2+len(packed))
	binary.BigEndian.PutUint16(buf, uint16(len(packed)))
	return append(buf, packed...)
}

func readAnswer(t *testing.T, c net.Conn) *dns.Msg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var prefix [2]byte
	if _, err := io.ReadFull(c, prefix[:]); err != nil {
		t.Fatalf("read length: %v", err)
	}
	msg := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(c, msg); err != nil {
		t.Fatalf("read message: %v", err)
	}
	var r dns.Msg
	if err := r.Unpack(msg); err != nil {
		t.Fatal(err)
	}
	return &r
}

// slowFirst answers "slow." only after "fast." has been answered, so the only
// way for the client to get both is out-of-order answers on one connection.
func slowFirst() (chain.Handler, chan struct{}) {
	fastDone := make(chan struct{})
	return chain.HandlerFunc(func(ctx context.Context, req *chain.Request) (*dns.Msg, error) {
		if strings.HasPrefix(req.Name, "slow.") {
			select {
			case <-fastDone:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if strings.HasPrefix(req.Name, "fast.") {
			defer close(fastDone)
		}
		rr, _ := dns.NewRR(req.Question.Name + " 60 IN A 192.0.2.1")
		return &dns.Msg{Answer: []dns.RR{rr}}, nil
	}), fastDone
}

func TestTCPPipelinedAnswersOutOfOrder(t *testing.T) {
	h, _ := slowFirst()
	addr, _ := startTCPTestServer(t, h, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	slow := query("slow.example.", dns.TypeA)
	fast := query("fast.example.", dns.TypeA)
	third := query("third.example.", dns.TypeA)
	var both []byte
	for _, q := range []*dns.Msg{slow, fast, third} {
		both = append(both, frame(t, q)...)
	}
	if _, err := c.Write(both); err != nil { // three messages in one write
		t.Fatal(err)
	}
	got := map[uint16]string{}
	var order []string
	for range 3 {
		r := readAnswer(t, c)
		got[r.Id] = r.Question[0].Name
		order = append(order, r.Question[0].Name)
	}
	for _, q := range []*dns.Msg{slow, fast, third} {
		if got[q.Id] != q.Question[0].Name {
			t.Errorf("answer for id %d is %q, want %q", q.Id, got[q.Id], q.Question[0].Name)
		}
	}
	if order[0] == "slow.example." {
		t.Errorf("answers came in order %v; the slow one cannot be first", order)
	}
}

func TestTCPReassemblesSplitWrites(t *testing.T) {
	addr, _ := startTCPTestServer(t, answerA(nil), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := query("split.example.", dns.TypeA)
	for _, b := range frame(t, q) {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // separate segments; no assertion on time
	}
	if r := readAnswer(t, c); r.Id != q.Id || r.Rcode != dns.RcodeSuccess {
		t.Errorf("answer %v, want NOERROR for id %d", r, q.Id)
	}
}

func TestTCPIdleAndSlowlorisConnectionsAreClosed(t *testing.T) {
	addr, _ := startTCPTestServer(t, answerA(nil), func(o *Options) { o.TCPIdleTimeout = 200 * time.Millisecond })
	tests := []struct {
		name string
		send []byte
	}{
		{"idle connection", nil},
		{"length prefix then nothing", []byte{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if tt.send != nil {
				if _, err := c.Write(tt.send); err != nil {
					t.Fatal(err)
				}
			}
			// Guard only: the server must close long before this.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("read = %v, want EOF (server closed the connection)", err)
			}
		})
	}
}

func TestTCPConnectionCapPerClient(t *testing.T) {
	addr, s := startTCPTestServer(t, answerA(nil), func(o *Options) { o.TCPMaxConnsPerClient = 3 })
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		q := query("cap.example.", dns.TypeA)
		if _, err := c.Write(frame(t, q)); err != nil {
			t.Fatal(err)
		}
		if r := readAnswer(t, c); r.Id != q.Id {
			t.Fatalf("connection %d: wrong answer", i)
		}
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("fourth connection: read = %v, want EOF", err)
	}
	if got := testutil.ToFloat64(s.metrics.tcpRejected); got != 1 {
		t.Errorf("rejected = %v, want 1", got)
	}
	// The admitted connections still work, and a closed one frees its slot.
	open[0].Close()
	open = open[1:]
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		q := query("again.example.", dns.TypeA)
		_, _ = c.Write(frame(t, q))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var prefix [2]byte
		if _, err := io.ReadFull(c, prefix[:]); err == nil {
			c.Close()
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond) // the server may not have released the slot yet
	}
	t.Error("a slot freed by closing a connection was never reused")
}

func TestTCPShutdownWritesAnswersInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	addr, s := startTCPTestServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		close(entered)
		<-release
		return &dns.Msg{}, nil
	}), nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := query("slow.example.", dns.TypeA)
	if _, err := c.Write(frame(t, q)); err != nil {
		t.Fatal(err)
	}
	<-entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	close(release)
	if r := readAnswer(t, c); r.Id != q.Id {
		t.Errorf("in-flight TCP query: got id %d, want %d", r.Id, q.Id)
	}
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
