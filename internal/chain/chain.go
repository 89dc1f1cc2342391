// Package chain defines the contract between the handlers on Dijk's request
// path (server → policy → cache → upstream). Each handler returns the answer
// instead of writing it, so the server writes exactly once and every handler
// can be tested as a plain function.
package chain

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/miekg/dns"
)

// Transport names, as they appear in metrics and hit logs.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
)

// Outcome says which handler produced the answer; the server counts it.
type Outcome uint8

const (
	OutcomeUnknown Outcome = iota
	OutcomeBlocked
	OutcomeForwarded
	OutcomeCached
	OutcomeRefused
	OutcomeError
	// OutcomeInvalid is a query the server rejected before the chain
	// (FORMERR, NOTIMP, BADVERS).
	OutcomeInvalid
)

var outcomeNames = [...]string{"unknown", "blocked", "forwarded", "cached", "refused", "error", "invalid"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Request is one client query on its way down the chain. The server fills
// every field before the first handler runs and guarantees exactly one
// question, opcode QUERY and EDNS version 0 (or no EDNS).
type Request struct {
	// ID is the query's message ID, for logs.
	ID uint16
	// Question is Msg.Question[0], in the client's own spelling.
	Question dns.Question
	// Name is Question.Name lower-cased (ASCII only), fully qualified.
	Name string
	// Client is the address and port the query came from.
	Client netip.AddrPort
	// Transport is TransportUDP or TransportTCP.
	Transport string
	// EDNS is true when the query carried an OPT record; DO is its DNSSEC OK bit.
	EDNS bool
	DO   bool
	// CD is the query's Checking Disabled bit.
	CD bool
	// Received is when the server read the query (zero if unknown). Hit
	// logs take it as the query's time rather than reading the clock again.
	Received time.Time
	// Outcome is set by the handler that produced the answer.
	Outcome Outcome

	// blocking is the server's hook behind Blocking; nil once called.
	blocking func()
}

// ReceivedOr is when the server read the query, or now() when that is not
// known (a Request built by a test or another caller): the time a hit log
// gives the query.
func (r *Request) ReceivedOr(now func() time.Time) time.Time {
	if r.Received.IsZero() {
		return now()
	}
	return r.Received
}

// Blocking tells the server that the calling handler is about to wait: on
// the network, a timer or another query's answer. The server answers queries
// that need no waiting (blocked, cached) on a few long-lived goroutines and
// moves a query off them at this point, so a slow query never holds up the
// fast ones read with it. Every handler calls it before it waits; only the
// first call does anything.
func (r *Request) Blocking() {
	if f := r.blocking; f != nil {
		r.blocking = nil
		f()
	}
}

// OnBlocking sets the function the first Blocking call runs (nil: none).
// Only servers call it.
func (r *Request) OnBlocking(f func()) { r.blocking = f }

// ErrDrop tells the server to send no answer at all. Only rate limiting
// uses it: answering every query of a flood would make Dijk an amplifier.
var ErrDrop = errors.New("drop query without answering")

// Handler answers a request.
//
// Contract for the returned message: the *dns.Msg belongs to the caller, who
// may change its header fields and replace its section slices, but its
// records and section slices may be shared with other answers (a cache entry,
// a sinkhole answer built once) and must never be modified in place: build a
// new slice or copy a record to change it. Section slices have their
// capacity capped, so appending to one makes a copy.
// Only Rcode, Answer, Ns and the non-OPT records in Extra carry meaning;
// an OPT record in Extra is read only for its Extended DNS Error options. The
// server sets the ID, question, header flags and the client-facing OPT record.
// A non-nil error means no answer could be produced; the server sends SERVFAIL.
//
// A handler that waits (network I/O, timers, another query) must call
// req.Blocking before it does, or it holds up the queries read after it.
type Handler interface {
	ServeDNS(ctx context.Context, req *Request) (*dns.Msg, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (*dns.Msg, error)

// ServeDNS calls f.
func (f HandlerFunc) ServeDNS(ctx context.Context, req *Request) (*dns.Msg, error) {
	return f(ctx, req)
}
