// Package hitlog writes one JSON line per blocked query for the SOC, and
// optionally one per answered query. Field names follow the Elastic Common
// Schema (nested objects), so a SIEM ingests the lines without a mapping.
// Logging never blocks the query path: events go through a bounded queue to
// an encoder, which hands each line to every sink (a file or stdout, and
// syslog) through a bounded queue of the sink's own; a full queue drops the
// line and counts it, so one slow sink stalls neither the queries nor the
// other sinks.
package hitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ecsVersion is the Elastic Common Schema version the field names follow.
const ecsVersion = "8.11.0"

// Event is one query, as the policy handler (hits) or the server (query
// log) saw it. It holds no pointers to per-query data, so queuing it costs
// no allocation.
type Event struct {
	Time      time.Time
	Client    netip.AddrPort
	Transport string // udp, tcp
	QueryID   uint16
	Name      string // lower-cased query name, with or without the trailing dot
	Type      string // query type mnemonic (A, AAAA, HTTPS, TYPE65534 ...)
	Class     string
	Rule      string // the list entry that matched; "" when none did
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
	// ListLoaded is when that version went into force: with ListVersion it
	// tells the SOC exactly which list caused a block.
	ListLoaded time.Time
	// Via is the alias that matched when an allowed query name led through
	// a CNAME or DNAME chain to a blocked one (CNAME cloaking); else "".
	Via string
	// Outcome is how the query was answered, for the query log (the hit log
	// ignores it): OutcomeForwarded, OutcomeCached, OutcomeBlocked,
	// OutcomeError, or another name of the server's outcomes.
	Outcome string
}

// Event kinds.
const (
	KindBlock  = "block"
	KindBypass = "bypass"
)

// Query outcomes, as they appear in the query log's event.action.
const (
	OutcomeForwarded = "forwarded"
	OutcomeCached    = "cached"
	OutcomeBlocked   = "blocked"
	OutcomeRefused   = "refused"
	OutcomeError     = "error"
)

// Dataset says what a Logger records.
type Dataset int

const (
	// DatasetHits is one line per blocked query: event.dataset dijk.hits,
	// metrics dijk_hitlog_*.
	DatasetHits Dataset = iota
	// DatasetQueries is one line per answered query: event.dataset
	// dijk.queries, metrics dijk_querylog_*.
	DatasetQueries
)

// Options configures a Logger.
type Options struct {
	// Writer receives the JSON lines: stdout, a *RotatingFile, any writer.
	// Each Write holds whole lines only. Nil with no Syslog discards them.
	Writer io.Writer
	// Syslog, if not nil, sends every line to a syslog collector as well.
	Syslog *SyslogOptions
	// Queue is how many events may wait for the encoder, and how many lines
	// for each sink, before new ones are dropped. Zero means 8192.
	Queue int
	// Observer names this Dijk instance in every line (observer.hostname)
	// and in the syslog HOSTNAME field.
	Observer string
	// Version is Dijk's version (observer.version).
	Version string
	// Dataset selects the hit log (the zero value) or the query log.
	Dataset Dataset
	// ClientIP says how client.ip is written; with ClientIPHash,
	// ClientIPKey is the HMAC key (at least MinClientIPKey bytes).
	ClientIP    ClientIP
	ClientIPKey []byte
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// Logger queues events, encodes each once, and fans the line out to its
// sinks, each written from a goroutine of its own.
type Logger struct {
	dataset Dataset
	name    string // "hit log" or "query log", for the service log
	queue   chan Event
	sinks   []*runner
	// hostname and version are observer.hostname and observer.version.
	hostname, version string
	anon              *anonymizer
	log               *slog.Logger
	// quit tells the encoder to drain the queue and stop. The queue itself
	// is never closed, so a Log racing with Close cannot panic.
	quit  chan struct{}
	done  chan struct{}
	close sync.Once
	// flushDelay is the sinks' flushDelay; tests that pace themselves on
	// written lines set 0.
	flushDelay time.Duration

	counters
}

// counters are a Logger's metrics, shared with its sinks. Each sums over
// all sinks: a line written to the file and to syslog counts twice.
type counters struct {
	written, dropped, writeErrors prometheus.Counter
}

// New starts the encoder and sink goroutines; Close stops them after
// writing what is queued. A syslog sink connects in the background: an
// unreachable collector does not fail New, its lines are dropped and
// counted until it answers.
func New(opts Options) (*Logger, error) {
	l, sinks, err := newLogger(opts)
	if err != nil {
		return nil, err
	}
	l.start(sinks, cap(l.queue))
	return l, nil
}

// newLogger builds a Logger and its sinks without starting them.
func newLogger(opts Options) (*Logger, []sink, error) {
	if opts.Queue <= 0 {
		opts.Queue = 8192
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	anon, err := newAnonymizer(opts.ClientIP, opts.ClientIPKey)
	if err != nil {
		return nil, nil, err
	}
	l := &Logger{
		dataset:    opts.Dataset,
		name:       "hit log",
		queue:      make(chan Event, opts.Queue),
		hostname:   opts.Observer,
		version:    opts.Version,
		anon:       anon,
		log:        opts.Logger,
		quit:       make(chan struct{}),
		flushDelay: flushDelay,
		done:       make(chan struct{}),
	}
	subsystem, what := "hitlog", "Hit-log"
	if opts.Dataset == DatasetQueries {
		l.name, subsystem, what = "query log", "querylog", "Query-log"
	}
	l.counters = counters{
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: subsystem, Name: "lines_total",
			Help: what + " lines written, summed over sinks.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: subsystem, Name: "dropped_total",
			Help: what + " lines dropped because a sink could not keep up or was disconnected.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: subsystem, Name: "write_errors_total",
			Help: what + " lines that failed to write to a sink.",
		}),
	}

	var sinks []sink
	if opts.Writer != nil || opts.Syslog == nil {
		w := opts.Writer
		if w == nil {
			w = io.Discard
		}
		sinks = append(sinks, &writerSink{w: w, m: &l.counters, log: l.log, name: l.name})
	}
	if opts.Syslog != nil {
		s, err := newSyslogSink(*opts.Syslog, opts.Observer, l.msgID(), &l.counters, l.log, l.name)
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, s)
	}
	for _, c := range []prometheus.Collector{l.written, l.dropped, l.writeErrors} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, nil, fmt.Errorf("register %s metrics: %w", subsystem, err)
		}
	}
	return l, sinks, nil
}

// start launches one goroutine per sink and the encoder.
func (l *Logger) start(sinks []sink, queue int) {
	for _, s := range sinks {
		r := &runner{sink: s, queue: make(chan entry, queue), done: make(chan struct{}), delay: l.flushDelay}
		l.sinks = append(l.sinks, r)
		go r.run()
	}
	go l.run()
}

// Log queues e without ever blocking; a full queue drops it.
func (l *Logger) Log(e Event) {
	select {
	case l.queue <- e:
	default:
		l.dropped.Inc()
	}
}

// Close writes the queued events to every sink, flushes, and stops. Events
// logged after Close are dropped; closing twice is harmless. It does not
// close Options.Writer, which belongs to the caller.
func (l *Logger) Close() {
	l.close.Do(func() { close(l.quit) })
	<-l.done
}

// run encodes each event once and offers the line to every sink.
func (l *Logger) run() {
	defer close(l.done)
	var buf []byte
	handle := func(e Event) {
		buf = l.appendLine(buf[:0], e)
		// One copy shared read-only by all sinks.
		ent := entry{time: e.Time, severity: l.severity(e), line: bytes.Clone(buf)}
		for _, r := range l.sinks {
			select {
			case r.queue <- ent:
			default:
				l.dropped.Inc()
			}
		}
	}
	defer func() {
		for _, r := range l.sinks {
			close(r.queue)
		}
		for _, r := range l.sinks {
			<-r.done
		}
	}()
	for {
		select {
		case e := <-l.queue:
			handle(e)
		case <-l.quit:
			for {
				select {
				case e := <-l.queue:
					handle(e)
				default:
					return
				}
			}
		}
	}
}

// Syslog severities (RFC 5424 section 6.2.1).
const (
	severityWarning = 4
	severityNotice  = 5
	severityInfo    = 6
)

// severity ranks a line for syslog: blocks are notices, bypass attempts
// and failed answers warnings, and ordinary answered queries information.
func (l *Logger) severity(e Event) int {
	if e.Kind == KindBypass {
		return severityWarning
	}
	if l.dataset == DatasetHits {
		return severityNotice
	}
	switch e.Outcome {
	case OutcomeBlocked, OutcomeRefused:
		return severityNotice
	case OutcomeError:
		return severityWarning
	}
	return severityInfo
}

// msgID is the syslog MSGID, so a collector can route the two logs apart.
func (l *Logger) msgID() string {
	if l.dataset == DatasetQueries {
		return "query"
	}
	return "hit"
}

// Locked returns a writer that serializes Writes to w, for one stdout
// shared by the hit log and the query log: each Write is whole lines, so
// serialized writes never interleave inside a line.
func Locked(w io.Writer) io.Writer { return &lockedWriter{w: w} }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// CloseAll returns a Closer that closes each of cs in order and joins
// their errors, or nil when cs is empty: one handle for every log file an
// instance opened.
func CloseAll(cs ...io.Closer) io.Closer {
	if len(cs) == 0 {
		return nil
	}
	return closers(cs)
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
