// Package server owns Dijk's DNS sockets and each query's lifetime: it checks
// the query against the protocol rules, hands well-formed queries to the
// handler chain, and writes exactly one answer per query with the envelope
// (ID, question, flags, EDNS) the RFCs require.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

// Options configures a Server.
type Options struct {
	// Listen holds host:port addresses; each gets a UDP and a TCP listener.
	Listen []string
	// Handler is the first link of the chain.
	Handler chain.Handler
	// Timeout bounds the handling of one query; past it the client gets SERVFAIL.
	Timeout time.Duration
	// TCPIdleTimeout closes idle TCP connections (RFC 7766 §6.2.3: seconds).
	TCPIdleTimeout time.Duration
	// TCPMaxConns and TCPMaxConnsPerClient cap open TCP connections in
	// total and per client address; zero means the defaults (1000, 32).
	TCPMaxConns          int
	TCPMaxConnsPerClient int
	// MaxInFlight caps the queries being answered at once; past it a query
	// gets SERVFAIL at once instead of a goroutine waiting on upstreams, so
	// a flood cannot grow memory without bound. Zero means 5000.
	MaxInFlight int
	// Transfer, when set, may answer a TCP query with several messages (a
	// zone transfer); ok false lets the query take the usual path. raw is
	// the query as received, for TSIG verification.
	Transfer func(raw []byte, q *dns.Msg, client netip.AddrPort) (msgs [][]byte, ok bool)
	// QueryLog, when set, receives one event per answered query.
	QueryLog   QueryLogger
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// QueryLogger receives the full query log. It must not block.
type QueryLogger interface {
	Log(hitlog.Event)
}

// Server serves DNS over UDP and TCP on every listen address.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	udp     []*udpSocket
	tcp     []*tcpServer
	addrs   []string
	wg      sync.WaitGroup

	inFlight atomic.Int64
}

// New validates opts and registers the server's metrics.
func New(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("server: no handler")
	}
	if len(opts.Listen) == 0 {
		return nil, errors.New("server: no listen address")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.TCPIdleTimeout <= 0 {
		opts.TCPIdleTimeout = 10 * time.Second
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 5000
	}
	if opts.TCPMaxConns <= 0 {
		opts.TCPMaxConns = defaultTCPMaxConns
	}
	if opts.TCPMaxConnsPerClient <= 0 {
		opts.TCPMaxConnsPerClient = defaultTCPMaxConnsPerClient
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, log: opts.Logger, metrics: m}, nil
}

// Start binds every listener and serves in the background. Binding happens
// before Start returns, so an address in use is reported here, not later.
func (s *Server) Start() error {
	for _, addr := range s.opts.Listen {
		conns, ln, err := listen(addr, udpSocketsPerAddr())
		if err != nil {
			s.closeAll()
			return err
		}
		s.addrs = append(s.addrs, ln.Addr().String())
		for _, c := range conns {
			s.udp = append(s.udp, s.startUDP(c))
		}
		tcp := newTCPServer(s, ln)
		s.tcp = append(s.tcp, tcp)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			tcp.serve()
		}()
		s.log.Info("listening for DNS", "addr", ln.Addr().String(), "transports", "udp,tcp", "udp_sockets", len(conns))
	}
	return nil
}

// Addrs returns the bound addresses (useful when listening on port 0).
func (s *Server) Addrs() []string { return s.addrs }

// Shutdown stops accepting queries and waits for in-flight ones to be
// answered, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, u := range s.udp {
		if err := u.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown udp %s: %w", u.conn.localAddr(), err))
		}
	}
	for _, t := range s.tcp {
		if err := t.shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown tcp %s: %w", t.ln.Addr(), err))
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

func (s *Server) closeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
}

// listen opens TCP and n UDP sockets on the same address. TCP binds first
// and alone: a second Dijk on the address fails there rather than sharing
// the UDP port through SO_REUSEPORT. With port 0 the kernel picks the TCP
// port and UDP is bound to the same number.
func listen(addr string, n int) ([]*udpConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
		conns, err := listenUDP(ln.Addr().String(), n)
		if err == nil {
			return conns, ln, nil
		}
		ln.Close()
		_, port, _ := net.SplitHostPort(addr)
		if port != "0" || attempt >= 10 {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
	}
}

// listenUDP opens n sockets sharing addr, closing them all on failure.
func listenUDP(addr string, n int) ([]*udpConn, error) {
	var conns []*udpConn
	for range n {
		c, err := listenUDPSocket(addr, n > 1)
		if err != nil {
			for _, c := range conns {
				_ = c.close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}
