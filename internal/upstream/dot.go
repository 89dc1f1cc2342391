package upstream

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/rawio"
)

const (
	// dotMaxConns is how many connections one DoT upstream gets; more are
	// only opened when every one has dotMaxInflight queries outstanding.
	dotMaxConns = 4
	// dotMaxInflight is the pipelining depth before another connection is
	// worth its handshake.
	dotMaxInflight = 64
	// idTries bounds the search for a query ID unused on a connection.
	idTries = 64
)

var (
	// errConnBroken marks a query whose connection died before its answer
	// came: it is worth one retry on a fresh connection (RFC 7766 §6.2.1).
	errConnBroken = errors.New("connection closed before the answer")
	errIdle       = errors.New("idle connection closed")
)

// dotPool holds the pipelined connections to one DoT upstream.
type dotPool struct {
	label string // the configured server string, for errors
	addr  string // IP:port dialled
	tls   *tls.Config
	m     *upstreamMetrics
	idle  time.Duration // tests shorten it before the first query
	newID func() uint16 // tests inject colliding IDs

	mu      sync.Mutex
	conns   []*dotConn
	dialing chan struct{} // closed when the running dial ends; nil if none
	closed  bool
}

func newDoTPool(srv Server, tc *tls.Config, m *upstreamMetrics) *dotPool {
	return &dotPool{label: srv.Raw, addr: srv.Addr.String(), tls: tc, m: m, idle: idleTimeout, newID: randomID}
}

// exchange sends q on a pooled connection and waits until deadline for the
// matching answer. A query whose connection broke is retried once.
func (p *dotPool) exchange(ctx context.Context, q query, deadline time.Time) (*dns.Msg, error) {
	resp, err := p.try(ctx, q, deadline)
	if errors.Is(err, errConnBroken) && time.Now().Before(deadline) {
		resp, err = p.try(ctx, q, deadline)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", p.label, err)
	}
	return resp, nil
}

func (p *dotPool) try(ctx context.Context, q query, deadline time.Time) (*dns.Msg, error) {
	req := newQuery(q)
	c, pq, err := p.acquire(ctx, req, deadline)
	if err != nil {
		return nil, err
	}
	return c.exchange(ctx, pq, deadline)
}

// acquire registers req on a connection with room, dialling one when there
// is none. Only one dial runs at a time, so a burst of queries on an idle
// upstream shares the new connection instead of opening one each.
func (p *dotPool) acquire(ctx context.Context, req *dns.Msg, deadline time.Time) (*dotConn, *pending, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, nil, net.ErrClosed
		}
		if c, pq := p.pickLocked(req); c != nil {
			p.mu.Unlock()
			return c, pq, nil
		}
		if wait := p.dialing; wait != nil {
			p.mu.Unlock()
			if err := waitDial(ctx, wait, deadline); err != nil {
				return nil, nil, err
			}
			continue
		}
		done := make(chan struct{})
		p.dialing = done
		p.mu.Unlock()
		c, pq, err := p.open(ctx, req, deadline)
		close(done)
		return c, pq, err
	}
}

// pickLocked registers req on the first live connection with room, or on
// the least loaded one when the pool is full. It returns nil when a new
// connection should be dialled.
func (p *dotPool) pickLocked(req *dns.Msg) (*dotConn, *pending) {
	p.pruneLocked()
	var least *dotConn
	leastLoad := 0
	for _, c := range p.conns {
		load, usable := c.load()
		if !usable {
			continue
		}
		if load < dotMaxInflight {
			if pq, err := c.register(req); err == nil {
				return c, pq
			}
			continue
		}
		if least == nil || load < leastLoad {
			least, leastLoad = c, load
		}
	}
	if least != nil && len(p.conns) >= dotMaxConns {
		if pq, err := least.register(req); err == nil {
			return least, pq
		}
	}
	return nil, nil
}

// pruneLocked drops connections that died.
func (p *dotPool) pruneLocked() {
	live := p.conns[:0]
	for _, c := range p.conns {
		if !c.dead() {
			live = append(live, c)
		}
	}
	clear(p.conns[len(live):])
	p.conns = live
}

// open dials a connection, registers req on it and adds it to the pool.
func (p *dotPool) open(ctx context.Context, req *dns.Msg, deadline time.Time) (*dotConn, *pending, error) {
	conn, err := p.dialTLS(ctx, deadline)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dialing = nil
	if err != nil {
		return nil, nil, err
	}
	if p.closed {
		conn.Close()
		return nil, nil, net.ErrClosed
	}
	c := newDoTConn(conn, p.m, p.idle, p.newID)
	pq, err := c.register(req) // cannot fail: the connection is new and empty
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	p.conns = append(p.conns, c)
	go c.readLoop()
	return c, pq, nil
}

// dialTLS opens a TCP connection and completes the TLS handshake.
func (p *dotPool) dialTLS(ctx context.Context, deadline time.Time) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	p.m.dials.Inc()
	// TLS records are read and written raw underneath: one query's write
	// and its answer's read must not wake sysmon.
	conn := tls.Client(rawio.Wrap(raw), p.tls)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return conn, nil
}

// waitDial waits for another query's dial to end.
func waitDial(ctx context.Context, dialing <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-dialing:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return fmt.Errorf("waiting for a connection: %w", os.ErrDeadlineExceeded)
	}
}

// close closes every connection; queries waiting on them fail.
func (p *dotPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, c := range p.conns {
		c.fail(net.ErrClosed)
	}
	p.conns = nil
}

// pending is one query in flight on a connection.
type pending struct {
	req    *dns.Msg
	answer chan *dns.Msg // buffered: the reader never blocks on a waiter
}

// dotConn is one TLS connection carrying pipelined queries. Answers may
// come in any order (RFC 7766 §7); they are matched by ID, and IDs are
// unique among the queries in flight on the connection.
type dotConn struct {
	conn  net.Conn
	m     *upstreamMetrics
	idle  time.Duration
	newID func() uint16
	wmu   sync.Mutex // one writer at a time: a message must not interleave

	lastRead atomic.Int64 // unix nanoseconds of the last message read

	mu        sync.Mutex
	pending   map[uint16]*pending
	retired   bool  // takes no new queries; closed when pending drains
	err       error // why the connection died; done is closed then
	done      chan struct{}
	idleSince time.Time
	idleTimer *time.Timer
}

func newDoTConn(conn net.Conn, m *upstreamMetrics, idle time.Duration, newID func() uint16) *dotConn {
	return &dotConn{
		conn:    conn,
		m:       m,
		idle:    idle,
		newID:   newID,
		pending: make(map[uint16]*pending),
		done:    make(chan struct{}),
	}
}

// load returns the queries in flight and whether new ones may be added.
func (c *dotConn) load() (n int, usable bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending), !c.retired && c.err == nil
}

func (c *dotConn) dead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// register gives req an ID unused on this connection and records it.
func (c *dotConn) register(req *dns.Msg) (*pending, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	for range idTries {
		id := c.newID()
		if _, busy := c.pending[id]; busy {
			continue
		}
		req.Id = id
		pq := &pending{req: req, answer: make(chan *dns.Msg, 1)}
		c.pending[id] = pq
		if c.idleTimer != nil {
			c.idleTimer.Stop()
		}
		return pq, nil
	}
	return nil, errors.New("no free query ID on the connection")
}

// exchange writes pq's query and waits for its answer.
func (c *dotConn) exchange(ctx context.Context, pq *pending, deadline time.Time) (*dns.Msg, error) {
	defer c.unregister(pq.req.Id)
	sent := time.Now()
	if err := c.write(pq.req, deadline); err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case resp := <-pq.answer:
		return resp, nil
	case <-c.done:
		return pq.orErr(c.err)
	case <-ctx.Done():
		return pq.orErr(context.Cause(ctx))
	case <-t.C:
		c.retireIfSilent(sent)
		return pq.orErr(fmt.Errorf("waiting for answer: %w", os.ErrDeadlineExceeded))
	}
}

// orErr returns the answer if it arrived at the same moment as err: an
// answer in hand beats a timeout.
func (pq *pending) orErr(err error) (*dns.Msg, error) {
	select {
	case resp := <-pq.answer:
		return resp, nil
	default:
		return nil, err
	}
}

// write sends req with its 2-octet length prefix in one Write, so it goes
// out in one TLS record. A failed write breaks the connection: its TLS
// state is unusable after a partial or timed-out write.
func (c *dotConn) write(req *dns.Msg, deadline time.Time) error {
	msg, err := packPadded(req)
	if err != nil {
		return err
	}
	buf := make([]byte, 2+len(msg))
	binary.BigEndian.PutUint16(buf, uint16(len(msg)))
	copy(buf[2:], msg)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(deadline); err != nil {
		c.fail(err)
		return c.errOr(err)
	}
	if _, err := c.conn.Write(buf); err != nil {
		c.fail(fmt.Errorf("writing query: %w", err))
		return c.errOr(err)
	}
	return nil
}

// errOr returns why the connection died, or err if it is still alive.
func (c *dotConn) errOr(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return err
}

// unregister forgets a finished query and arms the idle timer when the
// connection has nothing left in flight.
func (c *dotConn) unregister(id uint16) {
	c.mu.Lock()
	delete(c.pending, id)
	closed := c.settleLocked()
	c.mu.Unlock()
	if closed {
		c.conn.Close()
	}
}

// settleLocked arms the idle timer, or ends a retired connection, once
// nothing is in flight. It reports whether the caller must close c.conn.
func (c *dotConn) settleLocked() bool {
	if len(c.pending) > 0 || c.err != nil {
		return false
	}
	if c.retired {
		return c.failLocked(errIdle)
	}
	c.idleSince = time.Now()
	if c.idleTimer == nil {
		c.idleTimer = time.AfterFunc(c.idle, c.closeIfIdle)
	} else {
		c.idleTimer.Reset(c.idle)
	}
	return false
}

// closeIfIdle closes the connection if it is still unused after c.idle.
func (c *dotConn) closeIfIdle() {
	c.mu.Lock()
	closed := false
	if len(c.pending) == 0 && c.err == nil {
		if left := c.idle - time.Since(c.idleSince); left > 0 {
			c.idleTimer.Reset(left) // used again since the timer was armed
		} else {
			closed = c.failLocked(errIdle)
		}
	}
	c.mu.Unlock()
	if closed {
		c.conn.Close()
	}
}

// retireIfSilent stops new queries going to a connection that has not
// delivered a single message since sent: the server may be gone without
// closing it. Queries already in flight keep their chance.
func (c *dotConn) retireIfSilent(sent time.Time) {
	if c.lastRead.Load() >= sent.UnixNano() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retired = true
}

// readLoop delivers answers to their queries until the connection dies.
func (c *dotConn) readLoop() {
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
			c.fail(fmt.Errorf("reading answer: %w", err))
			return
		}
		raw := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c.conn, raw); err != nil {
			c.fail(fmt.Errorf("reading answer: %w", err))
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		c.deliver(raw)
	}
}

// deliver hands an answer to the query with its ID and question. Others
// (unparsable, unknown ID, late, wrong question) are counted and dropped;
// the stream stays in sync because framing is by length.
func (c *dotConn) deliver(raw []byte) {
	resp := new(dns.Msg)
	if err := resp.Unpack(raw); err != nil {
		c.m.mismatched.Inc()
		return
	}
	c.mu.Lock()
	pq := c.pending[resp.Id]
	if pq != nil && matches(pq.req, resp) {
		delete(c.pending, resp.Id)
	} else {
		pq = nil
	}
	c.mu.Unlock()
	if pq == nil {
		c.m.mismatched.Inc()
		return
	}
	pq.answer <- resp
}

// fail closes the connection; queries waiting on it see errConnBroken.
func (c *dotConn) fail(cause error) {
	c.mu.Lock()
	closed := c.failLocked(cause)
	c.mu.Unlock()
	if closed {
		// Outside the lock: closing TLS sends close_notify, which can wait.
		c.conn.Close()
	}
}

// failLocked marks the connection dead and wakes its waiters. It reports
// whether this call did so; the caller then closes c.conn.
func (c *dotConn) failLocked(cause error) bool {
	if c.err != nil {
		return false
	}
	c.err = fmt.Errorf("%w: %w", errConnBroken, cause)
	close(c.done)
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	return true
}
