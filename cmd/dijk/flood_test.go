package main

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestConcurrentClientsOverUDPAndTCP sends thousands of queries at once from
// many client addresses over both transports (run it under -race) and checks
// every single answer.
func TestConcurrentClientsOverUDPAndTCP(t *testing.T) {
	up := startFakeUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", up.addr))
	server := inst.dnsAddrs()[0]
	const clients, perClient = 40, 60 // 2,400 queries, a third over TCP
	var wg sync.WaitGroup
	errs := make(chan error, clients*perClient)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Linux routes all of 127/8 to lo: each client has its own address.
			local := net.IPv4(127, 0, 1, byte(c+1))
			for i := range perClient {
				network := "udp"
				var laddr net.Addr = &net.UDPAddr{IP: local}
				if i%3 == 0 {
					network, laddr = "tcp", &net.TCPAddr{IP: local}
				}
				blocked := i%2 == 0
				name := fmt.Sprintf("c%d-q%d.example.org.", c, i)
				if blocked {
					name = fmt.Sprintf("c%d-q%d.deepseek.com.", c, i)
				}
				errs <- checkAnswer(network, laddr, server, name, blocked)
			}
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 5 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d queries failed", failed, clients*perClient)
	}
}

func checkAnswer(network string, laddr net.Addr, server, name string, blocked bool) error {
	c := &dns.Client{Net: network, Timeout: 10 * time.Second, Dialer: &net.Dialer{LocalAddr: laddr, Timeout: 10 * time.Second}}
	q := new(dns.Msg).SetQuestion(name, dns.TypeA)
	r, _, err := c.Exchange(q, server)
	switch {
	case err != nil:
		return fmt.Errorf("%s over %s: %v", name, network, err)
	case blocked && r.Rcode != dns.RcodeNameError:
		return fmt.Errorf("%s over %s: %s, want NXDOMAIN", name, network, dns.RcodeToString[r.Rcode])
	case !blocked && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1):
		return fmt.Errorf("%s over %s: %s %v, want the upstream's A", name, network, dns.RcodeToString[r.Rcode], r.Answer)
	case r.Question[0].Name != name:
		return fmt.Errorf("%s over %s: question %s in the answer", name, network, r.Question[0].Name)
	}
	return nil
}

// TestFloodOfUniqueNamesStaysBounded sends 50,000 queries for unique names
// to a resolver whose upstream never answers: without limits each would
// hold a goroutine and buffers for the whole upstream timeout. Goroutines
// and heap must stay bounded during the flood, and return to their
// baseline after it.
func TestFloodOfUniqueNamesStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("floods 50,000 queries")
	}
	dead := silentUpstream(t)
	inst := startDijk(t, testConfig(t, "--upstream.servers", dead, "--upstream.timeout", "2s", "--ratelimit.qps", "0", "--log.hits", "off"))
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)

	stop := make(chan struct{})
	peak := make(chan [2]uint64, 1)
	go func() { // sample while flooding
		var maxG, maxHeap uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			maxG = max(maxG, uint64(runtime.NumGoroutine()))
			maxHeap = max(maxHeap, m.HeapInuse)
			select {
			case <-stop:
				peak <- [2]uint64{maxG, maxHeap}
				return
			case <-tick.C:
			}
		}
	}()

	// Paced at about 5,000 queries a second, so the kernel's socket buffer
	// does not drop the flood before Dijk sees it: with a 2 s upstream
	// timeout, some 10,000 queries would wait at once without limits.
	const total, senders = 50_000, 20
	const perSenderGap = senders * time.Second / 5000
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("udp", inst.dnsAddrs()[0])
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			go func() { // drain answers so the socket buffer never blocks us
				buf := make([]byte, 1500)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
				}
			}()
			q := new(dns.Msg)
			next := time.Now()
			for i := s; i < total && time.Now().Before(deadline); i += senders {
				next = next.Add(perSenderGap)
				time.Sleep(time.Until(next))
				q.SetQuestion(fmt.Sprintf("flood-%d.example.org.", i), dns.TypeA)
				packed, _ := q.Pack()
				if _, err := conn.Write(packed); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the in-flight queries reach their upstream timeout
	close(stop)
	p := <-peak
	maxGoroutines, maxHeap := p[0], p[1]
	t.Logf("baseline %d goroutines, %d MB heap; peak %d goroutines, %d MB heap",
		baseGoroutines, base.HeapInuse>>20, maxGoroutines, maxHeap>>20)
	// At most 1,000 upstream exchanges (upstream.DefaultMaxConcurrent) wait
	// for the dead upstream, each with a few goroutines (server, caller,
	// shared exchange), and at most 5,000 queries are in the chain
	// (server.MaxInFlight); the rest fail at once. Quiet, this flood peaks
	// near 2,500 goroutines and 40-90 MB; without the limits it passes
	// 20,000 goroutines and 500 MB. The goroutine bound leaves room for a
	// busy machine, where packets wait longer to be scheduled.
	if maxGoroutines > 15_000 {
		t.Errorf("peak goroutines %d, want at most 15,000", maxGoroutines)
	}
	if grown := int64(maxHeap) - int64(base.HeapInuse); grown > 200<<20 {
		t.Errorf("heap grew by %d MB during the flood, want under 200 MB", grown>>20)
	}
	for range 100 { // back to baseline: nothing leaked
		if runtime.NumGoroutine() <= baseGoroutines+senders+10 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("%d goroutines 10 s after the flood, baseline %d: leak", runtime.NumGoroutine(), baseGoroutines)
}
