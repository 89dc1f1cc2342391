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
)

// udpSize is the EDNS buffer size we advertise (DNS Flag Day 2020).
const udpSize = 1232

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

// randomID returns a query ID from a CSPRNG (RFC 5452 §9.2).
func randomID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails since Go 1.24; it crashes instead
	return binary.BigEndian.Uint16(b[:])
}

// udpConn is what an exchange needs of a connected UDP socket.
type udpConn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// exchange sends one fresh query to u over network ("udp" or "tcp") and
// waits until deadline for a matching answer. Each call opens a new
// connected socket: a fresh random source port, and the kernel drops
// datagrams from any other source.
func (f *Forwarder) exchange(ctx context.Context, u *upstream, network string, q query, deadline time.Time) (*dns.Msg, error) {
	var (
		conn udpConn
		tcp  *dns.Conn // frames messages on TCP; nil on UDP
		err  error
	)
	if network == "udp" {
		// Connecting a UDP socket sends nothing and cannot block.
		conn, err = openUDP(u)
	} else {
		d := net.Dialer{Deadline: deadline}
		var c net.Conn
		if c, err = d.DialContext(ctx, network, u.dial); err == nil {
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
	req := newQuery(q)
	bp := f.udpBufs.Get().(*[]byte)
	packed, err := req.PackBuffer(*bp)
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
		if err == nil && !matches(req, resp) {
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
func (f *Forwarder) read(conn udpConn, tcp *dns.Conn) (*dns.Msg, error) {
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
	if !resp.Response || resp.Id != req.Id || len(resp.Question) != 1 {
		return false
	}
	a, b := req.Question[0], resp.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && equalFoldASCII(a.Name, b.Name)
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
