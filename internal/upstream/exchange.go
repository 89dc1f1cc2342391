package upstream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/rawio"
)

// udpSize is the EDNS buffer size we advertise (DNS Flag Day 2020).
const udpSize = 1232

// headerLen is the size of a DNS message header.
const headerLen = 12

// errMismatch marks an answer that is not for our query; it is ignored.
var errMismatch = errors.New("answer does not match query")

// newQuery builds a fresh upstream query: the client's question in its own
// spelling, RD=1, the client's CD and DO, and none of the client's EDNS
// options (ECS and cookies are per hop and private).
func newQuery(q query) *dns.Msg {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(udpSize)
	if q.do {
		opt.SetDo()
	}
	return &dns.Msg{
		MsgHdr: dns.MsgHdr{
			Id:               randomID(),
			Opcode:           dns.OpcodeQuery,
			RecursionDesired: true,
			CheckingDisabled: q.cd,
		},
		Question: []dns.Question{q.question},
		Extra:    []dns.RR{opt},
	}
}

// appendQuery writes the query newQuery would build, with ID id, into b's
// capacity, as miekg would pack it; UDP and TCP exchanges use it to skip
// building a dns.Msg (four allocations) only to pack it.
func appendQuery(b []byte, id uint16, q query) ([]byte, error) {
	b = b[:cap(b)]
	if len(b) < headerLen {
		return nil, errors.New("query buffer too small")
	}
	flags := uint16(1 << 8) // RD; opcode QUERY
	if q.cd {
		flags |= 1 << 4
	}
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1) // questions
	binary.BigEndian.PutUint16(b[6:], 0)
	binary.BigEndian.PutUint16(b[8:], 0)
	binary.BigEndian.PutUint16(b[10:], 1) // the OPT record
	off, err := dns.PackDomainName(q.question.Name, b, headerLen, nil, false)
	if err != nil {
		return nil, fmt.Errorf("packing %q: %w", q.question.Name, err)
	}
	if off+4+11 > len(b) {
		return nil, errors.New("query buffer too small")
	}
	binary.BigEndian.PutUint16(b[off:], q.question.Qtype)
	binary.BigEndian.PutUint16(b[off+2:], q.question.Qclass)
	off += 4
	// OPT: root owner, type, our UDP size as class, then extended RCODE 0,
	// version 0, the DO bit, and no options.
	b[off] = 0
	binary.BigEndian.PutUint16(b[off+1:], dns.TypeOPT)
	binary.BigEndian.PutUint16(b[off+3:], udpSize)
	var z uint16
	if q.do {
		z = 1 << 15
	}
	binary.BigEndian.PutUint32(b[off+5:], uint32(z))
	binary.BigEndian.PutUint16(b[off+9:], 0)
	return b[:off+11], nil
}

// randomID returns a query ID from a CSPRNG (RFC 5452 §9.2).
func randomID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes instead
	return binary.BigEndian.Uint16(b[:])
}

// upstreamConn is what an exchange needs of its socket, UDP or TCP.
type upstreamConn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// exchange sends one fresh query to u over network ("udp" or "tcp") and
// waits until deadline for a matching answer. Each call opens a new
// connected socket: a fresh random source port, and the kernel drops
// datagrams from any other source.
func (f *Forwarder) exchange(ctx context.Context, u *upstream, network string, q query, deadline time.Time) (*dns.Msg, error) {
	var (
		conn upstreamConn
		tcp  *dns.Conn // frames messages on TCP; nil on UDP
		err  error
	)
	if network == "udp" {
		// Connecting a UDP socket sends nothing and cannot block.
		conn, err = f.openUDP(u)
	} else {
		d := net.Dialer{Deadline: deadline}
		var c net.Conn
		if c, err = d.DialContext(ctx, network, u.dial); err == nil {
			c = rawio.Wrap(c)
			conn, tcp = c, &dns.Conn{Conn: c}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.addr, err)
	}
	defer conn.Close()
	// The shared exchange's ctx only ends at its deadline, which is never
	// before this one, so the socket deadline alone bounds the reads.
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("upstream %s: %w", u.addr, err)
	}
	id := randomID()
	bp := f.udpBufs.Get().(*[]byte)
	packed, err := appendQuery(*bp, id, q)
	if err == nil {
		if tcp != nil {
			_, err = tcp.Write(packed)
		} else {
			_, err = conn.Write(packed)
		}
	}
	f.udpBufs.Put(bp)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: sending %s query: %w", u.addr, network, err)
	}
	for {
		resp, err := f.read(conn, tcp)
		if err == nil && !answers(id, q.question, resp) {
			err = errMismatch
		}
		if errors.Is(err, errMismatch) {
			// Off-path forgeries and stray answers: keep waiting for ours.
			u.m.mismatched.Inc()
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("upstream %s: reading %s answer: %w", u.addr, network, err)
		}
		return resp, nil
	}
}

// read returns the next message: from tcp when it is set, else the next
// datagram on conn. A message that does not parse is reported as
// errMismatch: on UDP anyone can send us junk.
func (f *Forwarder) read(conn upstreamConn, tcp *dns.Conn) (*dns.Msg, error) {
	var raw []byte
	if tcp == nil {
		bp := f.udpBufs.Get().(*[]byte)
		defer f.udpBufs.Put(bp)
		n, err := conn.Read(*bp)
		switch {
		case err == io.EOF:
			// An empty datagram, which a socket opened as a file reports
			// as the end of it.
			return nil, errMismatch
		case err != nil:
			return nil, err
		}
		raw = (*bp)[:n]
	} else {
		p, err := tcp.ReadMsgHeader(nil)
		switch {
		case errors.Is(err, dns.ErrShortRead):
			return nil, errMismatch
		case err != nil:
			return nil, err
		}
		raw = p
	}
	m := new(dns.Msg)
	// Unpack copies what it keeps, so the pooled buffer can be reused.
	if err := m.Unpack(raw); err != nil {
		return nil, errMismatch
	}
	return m, nil
}

// matches reports whether resp answers req: QR set, same ID, same question
// (name compared ASCII case-insensitively, RFC 4343), as RFC 5452 §9.1 asks.
func matches(req, resp *dns.Msg) bool {
	return len(req.Question) == 1 && answers(req.Id, req.Question[0], resp)
}

// answers reports whether resp answers the query with ID id for question q,
// as matches does.
func answers(id uint16, q dns.Question, resp *dns.Msg) bool {
	if !resp.Response || resp.Id != id || len(resp.Question) != 1 {
		return false
	}
	b := resp.Question[0]
	return q.Qtype == b.Qtype && q.Qclass == b.Qclass && equalFoldASCII(q.Name, b.Name)
}

// equalFoldASCII compares names folding only A-Z, unlike strings.EqualFold,
// which also folds Unicode (RFC 4343 §3).
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
