package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/rawio"
)

// TCP limits, RFC 7766 §6.2: connections are reused and pipelined, idle ones
// are closed after seconds, and both the total and each client's share are
// capped so that one client cannot exhaust them.
const (
	defaultTCPMaxConns          = 1000
	defaultTCPMaxConnsPerClient = 32
	// tcpInFlightPerConn bounds the queries answered concurrently for one
	// connection; a client pipelining more waits for answers (back-pressure).
	tcpInFlightPerConn = 32
	// tcpMessageTimeout bounds reading one message once its length arrived,
	// against slowloris clients that trickle bytes.
	tcpMessageTimeout = 3 * time.Second
	tcpWriteTimeout   = 5 * time.Second
	// tcpReadBuffer holds a burst of pipelined queries; a longer message
	// is read through it in parts.
	tcpReadBuffer = 4096
)

// tcpServer answers DNS over TCP. Unlike miekg's server, which answers the
// queries of a connection one after another, it answers pipelined queries
// concurrently and writes each answer as soon as it is ready, in any order
// (RFC 7766 §6.2.1.1).
type tcpServer struct {
	s        *Server
	ln       net.Listener
	idle     time.Duration
	maxConns int
	perIP    int

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	clients map[netip.Addr]int
	closing bool
	wg      sync.WaitGroup
}

func newTCPServer(s *Server, ln net.Listener) *tcpServer {
	return &tcpServer{
		s: s, ln: ln, idle: s.opts.TCPIdleTimeout,
		maxConns: s.opts.TCPMaxConns, perIP: s.opts.TCPMaxConnsPerClient,
		conns: map[net.Conn]struct{}{}, clients: map[netip.Addr]int{},
	}
}

func (t *tcpServer) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.isClosing() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.s.log.Error("tcp accept failed; listener stopped", "addr", t.ln.Addr().String(), "err", err)
			return
		}
		client := clientAddr(c.RemoteAddr())
		if !t.admit(c, client.Addr()) {
			t.s.metrics.tcpRejected.Inc()
			c.Close()
			continue
		}
		t.wg.Add(1)
		go t.handle(c, client)
	}
}

// admit registers c unless a connection limit is reached.
func (t *tcpServer) admit(c net.Conn, ip netip.Addr) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing || len(t.conns) >= t.maxConns || t.clients[ip] >= t.perIP {
		return false
	}
	t.conns[c] = struct{}{}
	t.clients[ip]++
	return true
}

func (t *tcpServer) release(c net.Conn, ip netip.Addr) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
	if t.clients[ip]--; t.clients[ip] <= 0 {
		delete(t.clients, ip)
	}
}

func (t *tcpServer) isClosing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// handle reads queries from one connection until it is idle, broken or the
// server shuts down, then waits for the answers in flight before closing.
func (t *tcpServer) handle(c net.Conn, client netip.AddrPort) {
	defer t.wg.Done()
	defer t.release(c, client.Addr())
	defer c.Close()

	var (
		writeMu  sync.Mutex
		answers  sync.WaitGroup
		inFlight = make(chan struct{}, tcpInFlightPerConn)
		stream   = rawio.Wrap(c)
		// Buffered, so a length prefix and its message, or several
		// pipelined queries, take one read.
		in = bufio.NewReaderSize(stream, tcpReadBuffer)
	)
	defer answers.Wait()
	for {
		msg, err := t.readMessage(c, in)
		if err != nil {
			return
		}
		q, formerr := t.s.readQuery(msg, chain.TransportTCP)
		if q == nil {
			if formerr != nil {
				writeMu.Lock()
				_ = writeMessage(c, stream, formerr)
				writeMu.Unlock()
			}
			continue
		}
		if t.s.opts.Transfer != nil {
			if msgs, ok := t.s.opts.Transfer(msg, q, client); ok {
				writeMu.Lock()
				for _, m := range msgs {
					if err := writeMessage(c, stream, m); err != nil {
						break
					}
				}
				writeMu.Unlock()
				continue
			}
		}
		inFlight <- struct{}{}
		answers.Add(1)
		go func() {
			defer answers.Done()
			defer func() { <-inFlight }()
			resp := t.s.respond(q, client, chain.TransportTCP, nil)
			if resp == nil {
				return
			}
			packed := t.s.pack(resp, nil)
			if packed == nil {
				return
			}
			writeMu.Lock()
			defer writeMu.Unlock()
			if err := writeMessage(c, stream, packed); err != nil {
				t.s.metrics.writeErrors.WithLabelValues(chain.TransportTCP).Inc()
			}
		}()
	}
}

// readMessage reads one length-prefixed message from in, c's buffered
// stream. The connection may be idle before the length arrives; after that
// the whole message must follow soon.
func (t *tcpServer) readMessage(c net.Conn, in *bufio.Reader) ([]byte, error) {
	var prefix [2]byte
	if err := c.SetReadDeadline(time.Now().Add(t.idle)); err != nil {
		return nil, err
	}
	// Checked after setting the deadline: shutdown sets closing before it
	// moves every deadline into the past, so either we see closing here or
	// our new deadline is overwritten by shutdown's.
	if t.isClosing() {
		return nil, net.ErrClosed
	}
	if _, err := io.ReadFull(in, prefix[:1]); err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(tcpMessageTimeout)); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(in, prefix[1:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint16(prefix[:])
	if n < headerLen { // garbage, and nothing to answer
		return nil, errors.New("short message")
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(in, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// writeMessage writes packed, length first, to out, c's stream.
func writeMessage(c net.Conn, out io.Writer, packed []byte) error {
	if err := c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout)); err != nil {
		return err
	}
	buf := make([]byte, 2+len(packed))
	binary.BigEndian.PutUint16(buf, uint16(len(packed)))
	copy(buf[2:], packed)
	_, err := out.Write(buf)
	return err
}

// headerFormErr is the FORMERR answer to a message whose header parses but
// whose body does not, as miekg answers over UDP; nil for a response.
func headerFormErr(msg []byte) []byte {
	id := binary.BigEndian.Uint16(msg[0:2])
	flags := binary.BigEndian.Uint16(msg[2:4])
	const qr = 1 << 15
	if flags&qr != 0 {
		return nil
	}
	opcode := flags & (0xF << 11)
	out := make([]byte, 12)
	binary.BigEndian.PutUint16(out[0:2], id)
	binary.BigEndian.PutUint16(out[2:4], qr|opcode|uint16(dns.RcodeFormatError))
	return out
}

// shutdown stops accepting, stops reading from every connection, and waits
// until the answers already in flight are written.
func (t *tcpServer) shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closing = true
	for c := range t.conns {
		_ = c.SetReadDeadline(time.Unix(1, 0)) // unblocks the reader
	}
	t.mu.Unlock()
	err := t.ln.Close()
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
