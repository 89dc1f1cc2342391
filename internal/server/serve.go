package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/dijk-dns/dijk/internal/hitlog"
)

// maxUDPSize is the largest UDP answer Dijk sends and the payload size it
// advertises: DNS Flag Day 2020's 1232 avoids IP fragmentation.
const maxUDPSize = 1232

// respond produces the answer to write for q, or nil for none, and counts
// it. Counting happens before the caller writes, so a client that has its
// answer also finds it in /metrics. iq is the UDP reader's query state, nil
// for a query with its own goroutine.
func (s *Server) respond(q *dns.Msg, client netip.AddrPort, transport string, iq *inlineQuery) *dns.Msg {
	start := time.Now()
	resp, outcome := s.answer(q, client, transport, start, iq)
	if resp != nil && transport == chain.TransportUDP {
		resp.Truncate(udpLimit(q))
	}
	if len(q.Question) == 1 {
		qq := q.Question[0]
		s.count(resp, q.Id, lowerASCII(qq.Name), qq.Qtype, qq.Qclass, client, transport, outcome, start)
	} else {
		s.count(resp, q.Id, "", 0, 0, client, transport, outcome, start)
	}
	return resp
}

// respondWire answers the fast-path query iq.wq, read from iq.pkt, and
// returns the packed answer (nil for none), counted like respond's. out is
// the reader's buffer for it, used unless the query moved off the reader.
func (s *Server) respondWire(iq *inlineQuery, client netip.AddrPort, out []byte) []byte {
	start := time.Now()
	wq := &iq.wq
	name := string(iq.name)
	spelled := name
	if wq.upper {
		iq.name = appendSpelling(iq.name[:0], wq.question)
		spelled = string(iq.name)
	}
	req := &iq.req
	*req = chain.Request{
		ID:        wq.id,
		Question:  dns.Question{Name: spelled, Qtype: wq.qtype, Qclass: wq.qclass},
		Name:      name,
		Client:    client,
		Transport: chain.TransportUDP,
		EDNS:      wq.edns,
		DO:        wq.do,
		CD:        wq.flags&flagCD != 0,
		Received:  start,
	}
	resp := s.serve(req, start, iq)
	var packed []byte
	if resp != nil {
		if iq.detached {
			out = iq.detachedOut()
		}
		var ok bool
		if packed, ok = appendReply(&iq.reply, out, wq, spelled, resp, clientUDPLimit(wq.edns, wq.udpSize)); !ok {
			packed = s.packGeneral(iq.pkt, resp, wq.edns, out)
		}
	}
	s.count(resp, wq.id, name, wq.qtype, wq.qclass, client, chain.TransportUDP, req.Outcome, start)
	return packed
}

// packGeneral is the general path's envelope, truncation and packing, for a
// fast-path answer the wire writer cannot produce.
func (s *Server) packGeneral(pkt []byte, resp *dns.Msg, edns bool, out []byte) []byte {
	q := new(dns.Msg)
	if err := q.Unpack(pkt); err != nil { // the fast parser accepted it: cannot happen
		s.log.Error("unpack a query the fast path read", "err", err)
		return nil
	}
	resp = envelope(resp, q, edns)
	resp.Truncate(udpLimit(q))
	return s.pack(resp, out)
}

// count updates the metrics and the query log for one query; resp nil means
// it was dropped.
func (s *Server) count(resp *dns.Msg, id uint16, name string, qtype, qclass uint16, client netip.AddrPort, transport string, outcome chain.Outcome, start time.Time) {
	s.metrics.query(transport, outcome).Inc()
	if resp == nil { // rate limited: silence is the point
		return
	}
	s.metrics.rcode(resp.Rcode).Inc()
	s.metrics.latency(transport).Observe(time.Since(start).Seconds())
	if s.opts.QueryLog != nil && name != "" {
		s.opts.QueryLog.Log(hitlog.Event{
			Time: start, Client: client, Transport: transport, QueryID: id,
			Name: name, Type: dns.Type(qtype).String(), Class: dns.Class(qclass).String(),
			Rcode: rcodeName(resp.Rcode), Outcome: outcome.String(),
		})
	}
}

// readQuery parses a received message. It returns the query, or nil and the
// header-only FORMERR to send (nil for none): garbage shorter than a header
// and responses are ignored, as answering them could feed a reflection loop.
func (s *Server) readQuery(msg []byte, transport string) (*dns.Msg, []byte) {
	if len(msg) < headerLen {
		s.metrics.malformed.WithLabelValues(transport).Inc()
		return nil, nil
	}
	q := new(dns.Msg)
	if err := q.Unpack(msg); err != nil {
		s.metrics.malformed.WithLabelValues(transport).Inc()
		return nil, headerFormErr(msg)
	}
	if q.Response {
		return nil, nil
	}
	return q, nil
}

// pack packs resp into buf when it fits (a new buffer otherwise); nil when
// resp cannot be packed, which is logged.
func (s *Server) pack(resp *dns.Msg, buf []byte) []byte {
	packed, err := resp.PackBuffer(buf)
	if err != nil {
		s.log.Error("pack answer", "err", err)
		return nil
	}
	return packed
}

// answer runs the protocol checks and the chain, and returns the finished
// answer. Every parsed query gets a reply (RFC 8906) unless the rate limiter
// chose to drop it; then answer returns nil.
func (s *Server) answer(q *dns.Msg, client netip.AddrPort, transport string, start time.Time, iq *inlineQuery) (*dns.Msg, chain.Outcome) {
	if rcode, bad := checkQuery(q); bad {
		return envelope(errorReply(rcode), q, q.IsEdns0() != nil && rcode != dns.RcodeFormatError), chain.OutcomeInvalid
	}
	opt := q.IsEdns0()
	req := &chain.Request{}
	if iq != nil {
		req = &iq.req
	}
	*req = chain.Request{
		ID:        q.Id,
		Question:  q.Question[0],
		Name:      lowerASCII(q.Question[0].Name),
		Client:    client,
		Transport: transport,
		EDNS:      opt != nil,
		DO:        opt != nil && opt.Do(),
		CD:        q.CheckingDisabled,
		Received:  start,
	}
	resp := s.serve(req, start, iq)
	if resp == nil {
		return nil, req.Outcome
	}
	return envelope(resp, q, req.EDNS), req.Outcome
}

// serve runs the chain for a checked request within the query's deadline
// and the limit of queries in flight, and returns the handler's answer, or
// nil for none (a drop); req.Outcome says who answered.
func (s *Server) serve(req *chain.Request, start time.Time, iq *inlineQuery) *dns.Msg {
	ctx := context.Context(nil)
	if iq != nil {
		req.OnBlocking(iq.hook)
		iq.ctx.reset(start.Add(s.opts.Timeout))
		defer iq.ctx.release()
		ctx = &iq.ctx
	} else {
		c, cancel := context.WithDeadline(context.Background(), start.Add(s.opts.Timeout))
		defer cancel()
		ctx = c
	}
	if n := s.inFlight.Add(1); n > int64(s.opts.MaxInFlight) {
		s.inFlight.Add(-1)
		s.metrics.overloaded.Inc()
		req.Outcome = chain.OutcomeError
		return errorReply(dns.RcodeServerFailure)
	}
	resp, err := s.runChain(ctx, req)
	s.inFlight.Add(-1)
	if errors.Is(err, chain.ErrDrop) {
		req.Outcome = chain.OutcomeRefused
		return nil
	}
	if err != nil {
		s.log.Debug("query failed", "name", req.Name, "type", dns.Type(req.Question.Qtype).String(),
			"client", req.Client.Addr().String(), "err", err)
		req.Outcome = chain.OutcomeError
		resp = errorReply(dns.RcodeServerFailure)
	}
	// A SERVFAIL relayed from upstream or replayed from the failure cache is
	// still a failure from the client's point of view.
	if resp.Rcode == dns.RcodeServerFailure && (req.Outcome == chain.OutcomeForwarded || req.Outcome == chain.OutcomeCached) {
		req.Outcome = chain.OutcomeError
	}
	return resp
}

// runChain calls the handler under the query's deadline and turns a panic
// into an error, so one bad query never takes the server down.
func (s *Server) runChain(ctx context.Context, req *chain.Request) (resp *dns.Msg, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.metrics.panics.Inc()
			s.log.Error("panic while answering", "name", req.Name, "panic", fmt.Sprint(r))
			resp, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	resp, err = s.opts.Handler.ServeDNS(ctx, req)
	if err == nil && resp == nil {
		err = fmt.Errorf("handler returned no answer")
	}
	return resp, err
}

// checkQuery applies the rules a query must meet before any handler sees it.
func checkQuery(q *dns.Msg) (rcode int, bad bool) {
	switch {
	case q.Opcode != dns.OpcodeQuery:
		return dns.RcodeNotImplemented, true
	case len(q.Question) != 1:
		return dns.RcodeFormatError, true
	}
	opts := 0
	for _, rr := range q.Extra {
		if _, ok := rr.(*dns.OPT); ok {
			opts++
			if rr.Header().Name != "." {
				return dns.RcodeFormatError, true
			}
		}
	}
	if opts > 1 { // RFC 6891 §6.1.1
		return dns.RcodeFormatError, true
	}
	if opt := q.IsEdns0(); opt != nil && opt.Version() != 0 {
		return dns.RcodeBadVers, true // RFC 6891 §6.1.3
	}
	return 0, false
}

func errorReply(rcode int) *dns.Msg {
	return &dns.Msg{MsgHdr: dns.MsgHdr{Rcode: rcode}}
}

// envelope turns a handler's answer into the reply for query q: ID, echoed
// question (the client's own spelling, RFC 4343), flags, and an OPT record
// exactly when the query had one (RFC 6891 §7), carrying the handler's
// Extended DNS Errors.
func envelope(resp, q *dns.Msg, edns bool) *dns.Msg {
	resp.Id = q.Id
	resp.Response = true
	resp.Opcode = q.Opcode
	resp.RecursionDesired = q.RecursionDesired
	resp.RecursionAvailable = true
	resp.Authoritative = false
	resp.CheckingDisabled = q.CheckingDisabled
	resp.Zero = false
	resp.Compress = true
	resp.Question = q.Question
	qopt := q.IsEdns0()
	resp.AuthenticatedData = passAD(resp.AuthenticatedData, qopt != nil && qopt.Do(), q.AuthenticatedData)

	var ede []dns.EDNS0
	// A new slice: the handler's may be shared (chain contract), and
	// Truncate later edits this one in place.
	extra := make([]dns.RR, 0, len(resp.Extra)+1)
	for _, rr := range resp.Extra {
		opt, ok := rr.(*dns.OPT)
		if !ok {
			extra = append(extra, rr)
			continue
		}
		for _, o := range opt.Option {
			if o.Option() == dns.EDNS0EDE {
				ede = append(ede, o)
			}
		}
	}
	resp.Extra = extra
	if !edns {
		return resp
	}
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: ede}
	opt.SetUDPSize(maxUDPSize)
	if qopt != nil && qopt.Do() {
		opt.SetDo()
	}
	resp.Extra = append(resp.Extra, opt)
	return resp
}

// udpLimit is the largest answer the client accepts over UDP: 512 without
// EDNS, otherwise its advertised size (at least 512) capped at ours.
func udpLimit(q *dns.Msg) int {
	opt := q.IsEdns0()
	if opt == nil {
		return clientUDPLimit(false, 0)
	}
	return clientUDPLimit(true, opt.UDPSize())
}

// clientUDPLimit is udpLimit from the query's EDNS presence and size, for
// both parsers.
func clientUDPLimit(edns bool, size uint16) int {
	if !edns {
		return dns.MinMsgSize
	}
	return min(max(int(size), dns.MinMsgSize), maxUDPSize)
}

// passAD says whether an answer keeps upstream's "authenticated data" bit:
// only for clients that asked for DNSSEC with DO or AD (RFC 6840 §5.8).
// Synthesised answers never set it.
func passAD(answerAD, queryDO, queryAD bool) bool {
	return answerAD && (queryDO || queryAD)
}

func clientAddr(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if a, ok := a.(*net.TCPAddr); ok {
		ap = a.AddrPort()
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// lowerASCII folds only A-Z (RFC 4343); it returns s itself when there is
// nothing to fold, which is the common case.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func rcodeName(rcode int) string {
	if name, ok := dns.RcodeToString[rcode]; ok {
		return name
	}
	return "OTHER"
}
