package hitlog

import (
	"sync"
	"testing"
	"time"
)

// recordingSink counts what a runner asks of it.
type recordingSink struct {
	mu             sync.Mutex
	added, flushes int
	flushed        int // lines added before the last flush
	closed         bool
}

func (s *recordingSink) open() {}

func (s *recordingSink) add(entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.added++
}

func (s *recordingSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushes++
	s.flushed = s.added
}

func (s *recordingSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *recordingSink) counts() (added, flushes, flushed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.added, s.flushes, s.flushed
}

// waitFor polls cond; the guard only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for guard := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(guard) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func startRunner(s sink, delay time.Duration) *runner {
	r := &runner{sink: s, queue: make(chan entry, 8), done: make(chan struct{}), delay: delay}
	go r.run()
	return r
}

// TestRunnerBatchesLines feeds lines one at a time, each after the sink
// took the one before, so the queue runs empty after every line: they must
// still share one flush, at close, when the delay has not passed.
func TestRunnerBatchesLines(t *testing.T) {
	s := &recordingSink{}
	r := startRunner(s, time.Hour)
	const lines = 20
	for i := range lines {
		r.queue <- entry{line: []byte("{}\n")}
		waitFor(t, "the sink to take the line", func() bool { added, _, _ := s.counts(); return added == i+1 })
	}
	if _, flushes, _ := s.counts(); flushes != 0 {
		t.Errorf("%d flushes before the delay passed, want 0: one write per line", flushes)
	}
	close(r.queue)
	<-r.done
	if _, flushes, flushed := s.counts(); flushes != 1 || flushed != lines {
		t.Errorf("after close: %d flushes covering %d lines, want 1 covering %d", flushes, flushed, lines)
	}
	if !s.closed {
		t.Error("sink not closed")
	}
}

// TestRunnerFlushesAfterDelay checks that lines are written once the delay
// passed, without waiting for more lines or for close, and that the timer
// is armed again for the next line.
func TestRunnerFlushesAfterDelay(t *testing.T) {
	s := &recordingSink{}
	r := startRunner(s, 5*time.Millisecond)
	defer func() { close(r.queue); <-r.done }()
	for i := 1; i <= 2; i++ {
		r.queue <- entry{line: []byte("{}\n")}
		waitFor(t, "a timed flush", func() bool { _, _, flushed := s.counts(); return flushed == i })
	}
	if _, flushes, _ := s.counts(); flushes != 2 {
		t.Errorf("%d flushes for two lines a delay apart, want 2", flushes)
	}
}
