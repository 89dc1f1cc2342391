package hitlog

import (
	"bytes"
	"io"
	"log/slog"
	"time"
)

// entry is one encoded line on its way to the sinks.
type entry struct {
	time     time.Time // the event's time, for the syslog header
	severity int       // syslog severity
	line     []byte    // JSON and '\n'; shared by all sinks, never modified
}

// sink is one destination for lines. Its methods are called from the
// sink's own goroutine only, so it needs no locking.
type sink interface {
	// open prepares the sink before the first line, e.g. connects.
	open()
	// add takes one line; it may buffer it.
	add(e entry)
	// flush writes what add buffered. It is called flushDelay after the
	// first line since the last flush, and when the queue closes.
	flush()
	// close releases what the sink opened itself.
	close()
}

// runner feeds one sink from its queue.
type runner struct {
	sink  sink
	queue chan entry
	done  chan struct{}
	delay time.Duration // flushDelay
}

// flushDelay is how long a line may wait in a sink's buffer for others to
// share its write. Writing whenever the queue ran empty cost a system call
// per blocked query under load, since on one core the sink runs between
// any two queries; each such call also woke Go's sysmon thread. With the
// delay, lines go out in batches of batchSize under load, and still reach
// the file or collector within a tenth of a second.
const flushDelay = 100 * time.Millisecond

func (r *runner) run() {
	defer close(r.done)
	r.sink.open()
	due := time.NewTimer(r.delay)
	due.Stop()
	waiting := false // lines added since the last timed flush
	for {
		select {
		case e, ok := <-r.queue:
			if !ok {
				due.Stop()
				r.sink.flush()
				r.sink.close()
				return
			}
			r.sink.add(e)
			if !waiting {
				waiting = true
				due.Reset(r.delay)
			}
		case <-due.C:
			waiting = false
			r.sink.flush()
		}
	}
}

// batchSize is how many bytes a sink gathers before writing without
// waiting for flushDelay.
const batchSize = 64 << 10

// writerSink writes lines to an io.Writer in batches of whole lines, so a
// RotatingFile can rotate between any two writes.
type writerSink struct {
	w     io.Writer
	m     *counters
	log   *slog.Logger
	name  string // "hit log", for the service log
	buf   []byte
	lines int
	// midLine is true when a failed write left a partial line behind; the
	// next batch starts on a new line so only the broken line is lost.
	midLine bool
	failing bool // warned about a failure and not yet recovered
}

func (s *writerSink) add(e entry) {
	s.buf = append(s.buf, e.line...)
	s.lines++
	if len(s.buf) >= batchSize {
		s.flush()
	}
}

func (s *writerSink) flush() {
	if s.lines == 0 {
		return
	}
	if s.midLine {
		if _, err := s.w.Write([]byte{'\n'}); err == nil {
			s.midLine = false
		}
	}
	n, err := s.w.Write(s.buf)
	n = min(max(n, 0), len(s.buf))
	ok := s.lines
	if n < len(s.buf) {
		// Lines wholly written before the failure made it; the rest did not.
		ok = bytes.Count(s.buf[:n], []byte{'\n'})
		s.midLine = n > 0 && s.buf[n-1] != '\n'
	}
	s.m.written.Add(float64(ok))
	s.m.writeErrors.Add(float64(s.lines - ok))
	switch {
	case err != nil && !s.failing:
		// Once per outage: a full disk must not flood the service log.
		s.failing = true
		s.log.Warn(s.name+" write failed", "err", err, "lines_lost", s.lines-ok)
	case err == nil && s.failing:
		s.failing = false
		s.log.Info(s.name + " writes recovered")
	}
	s.buf, s.lines = s.buf[:0], 0
}

func (s *writerSink) open()  {}
func (s *writerSink) close() {}
