// Package hitlog writes one JSON line per blocked query for the SOC. Field
// names follow the Elastic Common Schema (nested objects), so a SIEM ingests
// the lines without a mapping. Logging never blocks the query path: events go
// through a bounded queue, and when the sink is too slow lines are dropped
// and counted.
package hitlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ecsVersion is the Elastic Common Schema version the field names follow.
const ecsVersion = "8.11.0"

// Event is one blocked query, as the policy handler saw it. It holds no
// pointers to per-query data, so queuing it costs no allocation.
type Event struct {
	Time      time.Time
	Client    netip.AddrPort
	Transport string // udp, tcp
	QueryID   uint16
	Name      string // lower-cased query name, with or without the trailing dot
	Type      string // query type mnemonic (A, AAAA, HTTPS, TYPE65534 ...)
	Class     string
	Rule      string // the list entry that matched
	Exact     bool   // the entry matches its name only
	Source    string // the list the entry came from (builtin:deepseek, a path)
	Line      int    // the entry's line in that list
	Action    string // sinkhole action: nxdomain, null, ip, refused
	Rcode     string // response code sent: NXDOMAIN, NOERROR, REFUSED
	// Kind is KindBlock for a policy block and KindBypass for an attempt to
	// route around the resolver (DoH canary, Private Relay, public DoH).
	Kind        string
	Group       string // policy group of the client; "" is the default group
	ListVersion string // content version of the list that matched
}

// Event kinds.
const (
	KindBlock  = "block"
	KindBypass = "bypass"
)

// Options configures a Logger.
type Options struct {
	// Writer receives the JSON lines. Nil discards them.
	Writer io.Writer
	// Queue is how many events may wait for the writer before new ones are
	// dropped. Zero means 8192.
	Queue int
	// Observer names this Dijk instance in every line (observer.hostname).
	Observer string
	// Version is Dijk's version (observer.version).
	Version    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Logger queues events and writes them from one goroutine.
type Logger struct {
	queue    chan Event
	sink     io.Writer
	out      *bufio.Writer
	observer observer
	log      *slog.Logger
	done     chan struct{}
	close    sync.Once

	written, dropped, writeErrors prometheus.Counter
}

// New starts the writer goroutine; Close stops it after writing what is queued.
func New(opts Options) (*Logger, error) {
	if opts.Writer == nil {
		opts.Writer = io.Discard
	}
	if opts.Queue <= 0 {
		opts.Queue = 8192
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	l := &Logger{
		queue:    make(chan Event, opts.Queue),
		sink:     opts.Writer,
		out:      bufio.NewWriterSize(opts.Writer, 64<<10),
		observer: observer{Product: "dijk", Type: "dns", Hostname: opts.Observer, Version: opts.Version},
		log:      opts.Logger,
		done:     make(chan struct{}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "hitlog", Name: "lines_total",
			Help: "Hit-log lines written.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "hitlog", Name: "dropped_total",
			Help: "Hit-log lines dropped because the sink could not keep up.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "hitlog", Name: "write_errors_total",
			Help: "Hit-log lines that failed to write to the sink.",
		}),
	}
	for _, c := range []prometheus.Collector{l.written, l.dropped, l.writeErrors} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register hitlog metrics: %w", err)
		}
	}
	go l.run()
	return l, nil
}

// Log queues e without ever blocking; a full queue drops it.
func (l *Logger) Log(e Event) {
	select {
	case l.queue <- e:
	default:
		l.dropped.Inc()
	}
}

// Close writes the queued events, flushes, and stops the writer. Events
// logged after Close are dropped.
func (l *Logger) Close() {
	l.close.Do(func() { close(l.queue) })
	<-l.done
}

func (l *Logger) run() {
	defer close(l.done)
	enc := json.NewEncoder(l.out)
	enc.SetEscapeHTML(false)
	for e := range l.queue {
		l.write(enc, e)
		// Flush when the queue is drained, so lines appear promptly under light
		// load and are batched under heavy load.
		if len(l.queue) == 0 {
			l.flush()
		}
	}
	l.flush()
}

func (l *Logger) write(enc *json.Encoder, e Event) {
	if err := enc.Encode(l.record(e)); err != nil {
		l.writeErrors.Inc()
		return
	}
	l.written.Inc()
}

func (l *Logger) flush() {
	if err := l.out.Flush(); err != nil {
		l.writeErrors.Inc()
		l.log.Warn("hit log write failed", "err", err)
		// bufio keeps a write error forever; reset so that one full disk
		// does not silence the log for good (the buffered lines are lost).
		l.out.Reset(l.sink)
	}
}

// Open returns the sink for a log.hits target: "stdout", or a file path
// opened for appending (created 0640: hit logs hold client addresses).
func Open(target string) (io.WriteCloser, error) {
	if target == "stdout" {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open hit log %s: %w", target, err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// record maps an event onto the ECS field layout.
func (l *Logger) record(e Event) record {
	network := "ipv4"
	if e.Client.Addr().Is6() {
		network = "ipv6"
	}
	match := "suffix"
	if e.Exact {
		match = "exact"
	}
	kind, ecsKind := e.Kind, "event"
	if kind == "" {
		kind = KindBlock
	}
	if kind == KindBypass {
		ecsKind = "alert" // ECS: a policy violation someone should look at
	}
	group := e.Group
	if group == "" {
		group = "default"
	}
	return record{
		Timestamp: e.Time.UTC().Format(timeFormat),
		ECS:       ecs{Version: ecsVersion},
		Event: event{
			Kind: ecsKind, Category: []string{"network"}, Type: []string{"denied"},
			Action: e.Action, Dataset: "dijk.hits", Module: "dijk",
		},
		Client:   client{IP: e.Client.Addr().String(), Port: e.Client.Port()},
		Network:  netw{Transport: e.Transport, Protocol: "dns", Type: network},
		Observer: l.observer,
		DNS: dnsField{
			ID: e.QueryID, Type: "query",
			Question:     question{Name: strings.TrimSuffix(e.Name, "."), Type: e.Type, Class: e.Class},
			ResponseCode: e.Rcode,
		},
		Rule: rule{Name: e.Rule, Ruleset: e.Source, ID: fmt.Sprintf("%s:%d", e.Source, e.Line)},
		Dijk: dijkField{
			Kind: kind, Group: group, List: e.Source, ListVersion: e.ListVersion,
			Entry: e.Rule, Match: match, Line: e.Line,
		},
	}
}

// timeFormat is RFC 3339 in UTC with a fixed nine-digit fraction, so lines
// sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

type record struct {
	Timestamp string    `json:"@timestamp"`
	ECS       ecs       `json:"ecs"`
	Event     event     `json:"event"`
	Client    client    `json:"client"`
	Network   netw      `json:"network"`
	Observer  observer  `json:"observer"`
	DNS       dnsField  `json:"dns"`
	Rule      rule      `json:"rule"`
	Dijk      dijkField `json:"dijk"`
}

type ecs struct {
	Version string `json:"version"`
}

type event struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Dataset  string   `json:"dataset"`
	Module   string   `json:"module"`
}

type client struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

type netw struct {
	Transport string `json:"transport"`
	Protocol  string `json:"protocol"`
	Type      string `json:"type"`
}

type observer struct {
	Product  string `json:"product"`
	Type     string `json:"type"`
	Hostname string `json:"hostname,omitempty"`
	Version  string `json:"version,omitempty"`
}

type dnsField struct {
	ID           uint16   `json:"id"`
	Type         string   `json:"type"`
	Question     question `json:"question"`
	ResponseCode string   `json:"response_code"`
}

type question struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
}

type rule struct {
	Name    string `json:"name"`
	Ruleset string `json:"ruleset"`
	ID      string `json:"id"`
}

type dijkField struct {
	Kind        string `json:"kind"`
	Group       string `json:"group"`
	List        string `json:"list"`
	ListVersion string `json:"list_version,omitempty"`
	Entry       string `json:"entry"`
	Match       string `json:"match"`
	Line        int    `json:"line"`
}
