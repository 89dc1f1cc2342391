package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dijk-dns/dijk/internal/chain"
)

// startServer runs a Server with h on a loopback port and returns its address.
func startServer(t *testing.T, h chain.Handler) (string, *Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	addr, s := startTCPTestServer(t, h, func(o *Options) { o.Timeout, o.Registerer = 2*time.Second, reg })
	return addr, s, reg
}

// answerA answers every query with one A record and records the request.
func answerA(seen *atomic.Pointer[chain.Request]) chain.Handler {
	return chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		if seen != nil {
			seen.Store(req)
		}
		req.Outcome = chain.OutcomeForwarded
		rr, _ := dns.NewRR(req.Question.Name + " 60 IN A 192.0.2.1")
		return &dns.Msg{Answer: []dns.RR{rr}}, nil
	})
}

func exchange(t *testing.T, network, addr string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("exchange over %s: %v", network, err)
	}
	return r
}

func query(name string, qtype uint16) *dns.Msg {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	return q
}

func TestProtocolRules(t *testing.T) {
	addr, _, _ := startServer(t, answerA(nil))
	tests := []struct {
		name      string
		build     func() *dns.Msg
		wantRcode int
		wantOPT   bool
		wantQ     bool // question echoed
	}{
		{"plain query", func() *dns.Msg { return query("example.org.", dns.TypeA) }, dns.RcodeSuccess, false, true},
		{"opcode update is NOTIMP", func() *dns.Msg {
			q := query("example.org.", dns.TypeSOA)
			q.Opcode = dns.OpcodeUpdate
			return q
		}, dns.RcodeNotImplemented, false, true},
		{"opcode status is NOTIMP", func() *dns.Msg {
			q := query("example.org.", dns.TypeA)
			q.Opcode = dns.OpcodeStatus
			return q
		}, dns.RcodeNotImplemented, false, true},
		{"two questions is FORMERR", func() *dns.Msg {
			q := query("example.org.", dns.TypeA)
			q.Question = append(q.Question, dns.Question{Name: "example.net.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return q
		}, dns.RcodeFormatError, false, true},
		{"no question is FORMERR", func() *dns.Msg {
			q := new(dns.Msg)
			q.Id = dns.Id()
			return q
		}, dns.RcodeFormatError, false, false},
		{"EDNS version 1 is BADVERS", func() *dns.Msg {
			q := query("example.org.", dns.TypeA)
			q.SetEdns0(1232, false)
			q.IsEdns0().SetVersion(1)
			return q
		}, dns.RcodeBadVers, true, true},
		{"two OPT records is FORMERR", func() *dns.Msg {
			q := query("example.org.", dns.TypeA)
			q.SetEdns0(1232, false)
			q.Extra = append(q.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
			return q
		}, dns.RcodeFormatError, false, true},
		{"EDNS query gets OPT back", func() *dns.Msg {
			q := query("example.org.", dns.TypeA)
			q.SetEdns0(4096, true)
			return q
		}, dns.RcodeSuccess, true, true},
		{"unknown type is answered", func() *dns.Msg { return query("example.org.", 65534) }, dns.RcodeSuccess, false, true},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				q := tt.build()
				r := exchange(t, network, addr, q)
				if r.Rcode != tt.wantRcode {
					t.Errorf("rcode = %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if r.Id != q.Id || !r.Response {
					t.Errorf("id %d response %v, want id %d response true", r.Id, r.Response, q.Id)
				}
				if got := r.IsEdns0() != nil; got != tt.wantOPT {
					t.Errorf("OPT present = %v, want %v", got, tt.wantOPT)
				}
				if opt := r.IsEdns0(); opt != nil && opt.Version() != 0 {
					t.Errorf("OPT version = %d, want 0", opt.Version())
				}
				if tt.wantQ && (len(r.Question) == 0 || r.Question[0] != q.Question[0]) {
					t.Errorf("question = %v, want %v echoed", r.Question, q.Question[0])
				}
			})
		}
	}
}

func TestEnvelope(t *testing.T) {
	var seen atomic.Pointer[chain.Request]
	addr, _, _ := startServer(t, answerA(&seen))

	q := query("ExAmPlE.oRg.", dns.TypeA)
	q.SetEdns0(4096, true)
	q.CheckingDisabled = true
	r := exchange(t, "udp", addr, q)

	if r.Question[0].Name != "ExAmPlE.oRg." {
		t.Errorf("question name = %q, want the client's spelling", r.Question[0].Name)
	}
	if !r.RecursionAvailable || !r.RecursionDesired || r.Authoritative || !r.CheckingDisabled {
		t.Errorf("flags ra=%v rd=%v aa=%v cd=%v, want ra rd !aa cd", r.RecursionAvailable, r.RecursionDesired, r.Authoritative, r.CheckingDisabled)
	}
	opt := r.IsEdns0()
	if opt == nil || !opt.Do() || opt.UDPSize() != maxUDPSize {
		t.Fatalf("OPT = %v, want DO set and size %d", opt, maxUDPSize)
	}
	req := seen.Load()
	if req.Name != "example.org." || !req.EDNS || !req.DO || !req.CD || req.Transport != chain.TransportUDP {
		t.Errorf("request = %+v, want lower-cased name, EDNS, DO, CD, udp", req)
	}
	if !req.Client.Addr().IsLoopback() || req.Client.Port() == 0 {
		t.Errorf("client = %v, want a loopback address and port", req.Client)
	}
}

func TestEDEOnlyWithEDNS(t *testing.T) {
	addr, _, _ := startServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		return &dns.Msg{
			MsgHdr: dns.MsgHdr{Rcode: dns.RcodeNameError},
			Extra: []dns.RR{&dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT},
				Option: []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: "test"}}}},
		}, nil
	}))
	withEDNS := query("x.example.", dns.TypeA)
	withEDNS.SetEdns0(1232, false)
	r := exchange(t, "udp", addr, withEDNS)
	opt := r.IsEdns0()
	if opt == nil || len(opt.Option) != 1 {
		t.Fatalf("OPT = %v, want one EDE option", opt)
	}
	if ede, ok := opt.Option[0].(*dns.EDNS0_EDE); !ok || ede.InfoCode != dns.ExtendedErrorCodeBlocked || ede.ExtraText != "test" {
		t.Errorf("option = %v, want EDE 15 \"test\"", opt.Option[0])
	}

	r = exchange(t, "udp", addr, query("x.example.", dns.TypeA))
	if len(r.Extra) != 0 {
		t.Errorf("extra = %v, want nothing for a query without EDNS", r.Extra)
	}
}

func TestTruncation(t *testing.T) {
	big := chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		m := new(dns.Msg)
		for i := range 30 {
			rr, _ := dns.NewRR(req.Question.Name + ` 60 IN TXT "` + strings.Repeat(string(rune('a'+i%26)), 100) + `"`)
			m.Answer = append(m.Answer, rr)
		}
		return m, nil
	})
	addr, _, _ := startServer(t, big)
	tests := []struct {
		name    string
		network string
		edns    uint16
		wantTC  bool
		maxSize int
		wantAll bool
	}{
		{"udp without EDNS truncates at 512", "udp", 0, true, 512, false},
		{"udp with EDNS 4096 is capped at 1232", "udp", 4096, true, maxUDPSize, false},
		{"udp with EDNS 100 counts as 512", "udp", 100, true, 512, false},
		{"tcp gets everything", "tcp", 0, false, 65535, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := query("big.example.", dns.TypeTXT)
			if tt.edns > 0 {
				q.SetEdns0(tt.edns, false)
			}
			r := exchange(t, tt.network, addr, q)
			if r.Truncated != tt.wantTC {
				t.Errorf("TC = %v, want %v", r.Truncated, tt.wantTC)
			}
			r.Compress = true // measure the size as sent, with compression
			if r.Len() > tt.maxSize {
				t.Errorf("size = %d, want at most %d", r.Len(), tt.maxSize)
			}
			if tt.wantAll && len(r.Answer) != 30 {
				t.Errorf("answers = %d, want 30", len(r.Answer))
			}
		})
	}
}

func TestFailuresBecomeServfail(t *testing.T) {
	var calls atomic.Int32
	addr, s, _ := startServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		switch calls.Add(1) {
		case 1:
			return nil, errors.New("upstream down")
		case 2:
			panic("bug")
		case 3:
			return nil, nil
		}
		return &dns.Msg{}, nil
	}))
	for i, want := range []int{dns.RcodeServerFailure, dns.RcodeServerFailure, dns.RcodeServerFailure, dns.RcodeSuccess} {
		r := exchange(t, "udp", addr, query("x.example.", dns.TypeA))
		if r.Rcode != want {
			t.Errorf("query %d: rcode %s, want %s", i+1, dns.RcodeToString[r.Rcode], dns.RcodeToString[want])
		}
	}
	if got := testutil.ToFloat64(s.metrics.panics); got != 1 {
		t.Errorf("panics counter = %v, want 1", got)
	}
}

func TestGarbageIsIgnoredAndServerKeepsAnswering(t *testing.T) {
	addr, _, _ := startServer(t, answerA(nil))
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	header := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	for _, junk := range [][]byte{{}, {0xff}, header[:7]} {
		if _, err := conn.Write(junk); err != nil {
			t.Fatal(err)
		}
	}
	// A valid header whose question is cut short can be answered: FORMERR.
	if _, err := conn.Write(append(header, 3, 'a', 'b')); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 512)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no answer to a parsable header: %v", err)
	}
	var r dns.Msg
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	if r.Id != 0x1234 || r.Rcode != dns.RcodeFormatError {
		t.Errorf("got id %#x rcode %s, want 0x1234 FORMERR", r.Id, dns.RcodeToString[r.Rcode])
	}
	if got := exchange(t, "udp", addr, query("ok.example.", dns.TypeA)); got.Rcode != dns.RcodeSuccess {
		t.Errorf("after garbage: rcode %s, want NOERROR", dns.RcodeToString[got.Rcode])
	}
}

func TestShutdownDrainsInFlightQueries(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	addr, s, _ := startServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		close(entered)
		<-release
		return &dns.Msg{}, nil
	}))
	got := make(chan *dns.Msg, 1)
	go func() {
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		r, _, _ := c.Exchange(query("slow.example.", dns.TypeA), addr)
		got <- r
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if r := <-got; r == nil || r.Rcode != dns.RcodeSuccess {
		t.Errorf("in-flight query got %v, want its answer", r)
	}
}

func TestQueriesCounted(t *testing.T) {
	addr, s, _ := startServer(t, answerA(nil))
	exchange(t, "udp", addr, query("a.example.", dns.TypeA))
	exchange(t, "tcp", addr, query("b.example.", dns.TypeA))
	qm := s.metrics.queries
	if got := testutil.ToFloat64(qm.WithLabelValues("udp", "forwarded")); got != 1 {
		t.Errorf("udp forwarded = %v, want 1", got)
	}
	if got := testutil.ToFloat64(qm.WithLabelValues("tcp", "forwarded")); got != 1 {
		t.Errorf("tcp forwarded = %v, want 1", got)
	}
}

func TestStartReportsAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Options{Listen: []string{ln.Addr().String()}, Handler: answerA(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Start on a used address: err = %v, want one naming %s", err, ln.Addr())
	}
}

func TestDropSendsNothing(t *testing.T) {
	addr, _, _ := startServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		if req.Name == "drop.example." {
			return nil, chain.ErrDrop
		}
		return &dns.Msg{}, nil
	}))
	c := &dns.Client{Net: "udp", Timeout: 300 * time.Millisecond}
	if r, _, err := c.Exchange(query("drop.example.", dns.TypeA), addr); err == nil {
		t.Errorf("dropped query got an answer: %v", r)
	}
	if r := exchange(t, "udp", addr, query("ok.example.", dns.TypeA)); r.Rcode != dns.RcodeSuccess {
		t.Errorf("next query: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestMaxInFlightAnswersServfailAtOnce(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	addr, s := startTCPTestServer(t, chain.HandlerFunc(func(_ context.Context, req *chain.Request) (*dns.Msg, error) {
		req.Blocking()
		entered <- struct{}{}
		<-release
		return &dns.Msg{}, nil
	}), func(o *Options) { o.MaxInFlight = 2 })
	done := make(chan int, 2)
	for i := range 2 {
		go func() {
			r := exchange(t, "udp", addr, query(fmt.Sprintf("held%d.example.", i), dns.TypeA))
			done <- r.Rcode
		}()
	}
	<-entered
	<-entered
	if r := exchange(t, "udp", addr, query("third.example.", dns.TypeA)); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("third query while two are in flight: %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if got := testutil.ToFloat64(s.metrics.overloaded); got != 1 {
		t.Errorf("overloaded = %v, want 1", got)
	}
	close(release)
	for range 2 {
		if rcode := <-done; rcode != dns.RcodeSuccess {
			t.Errorf("held query: %s, want NOERROR", dns.RcodeToString[rcode])
		}
	}
}

func TestMetricChildrenMatchLabels(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second round takes the kept children
		m.query(chain.TransportTCP, chain.OutcomeBlocked).Inc()
		m.rcode(dns.RcodeBadVers).Inc()
		m.rcode(4000).Inc()
		m.latency(chain.TransportUDP).Observe(0.001)
	}
	for _, c := range []struct {
		got  prometheus.Collector
		want float64
	}{
		{m.queries.WithLabelValues("tcp", "blocked"), 2},
		{m.queries.WithLabelValues("udp", "blocked"), 0},
		{m.rcodes.WithLabelValues(rcodeName(dns.RcodeBadVers)), 2},
		{m.rcodes.WithLabelValues("OTHER"), 2},
	} {
		if v := testutil.ToFloat64(c.got); v != c.want {
			t.Errorf("%v = %v, want %v", c.got, v, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("%d latency series, want 1 (udp)", n)
	}
}
