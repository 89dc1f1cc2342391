package server

import (
	"context"
	"sync"
	"time"
)

// queryContext is a query's deadline that arms a timer only once a handler
// waits on it (Done). Answers from memory never do, and a
// context.WithTimeout per query (two allocations, a timer to start and stop)
// cost about 8% of a blocked answer's CPU in a profile under dnsperf load.
// A reader reuses one for the queries it answers itself; a query that moves
// off the reader keeps its own, which comes back to the socket's pool once
// answered. Its timer is made once and reset for every query that waits, so
// a forwarded query costs one channel, not a context, a timer and a channel.
type queryContext struct {
	deadline time.Time
	mu       sync.Mutex
	done     chan struct{} // made by the first Done, closed when err is set
	err      error         // nil while the query runs
	timer    *time.Timer   // calls expire; nil until a query first waits
}

var _ context.Context = (*queryContext)(nil)

// reset starts a new query; only the owner calls it, between queries.
func (c *queryContext) reset(deadline time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline, c.done, c.err = deadline, nil, nil
}

func (c *queryContext) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *queryContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	if c.pastDeadlineLocked() { // which closed done
		return c.done
	}
	wait := time.Until(c.deadline)
	if c.timer == nil {
		c.timer = time.AfterFunc(wait, c.expire)
	} else {
		c.timer.Reset(wait)
	}
	return c.done
}

// Err reads the clock rather than arm a timer: a handler that only polls
// Err has nothing to wake.
func (c *queryContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.pastDeadlineLocked()
	}
	return c.err
}

// Value reads nothing: a forwarded query's exchange may keep the context
// (through context.WithoutCancel) after the query was answered and its
// queryContext reused.
func (c *queryContext) Value(any) any { return nil }

// expire is the timer's callback. The timer is shared by every query the
// context serves, so a callback already running when the query ended may
// find the next query here; the deadline check makes it leave that one be.
func (c *queryContext) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.pastDeadlineLocked()
	}
}

// pastDeadlineLocked ends the query with DeadlineExceeded if its deadline
// has passed, and reports whether it did.
func (c *queryContext) pastDeadlineLocked() bool {
	if time.Now().Before(c.deadline) {
		return false
	}
	c.endLocked(context.DeadlineExceeded)
	return true
}

func (c *queryContext) endLocked(err error) {
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

// release ends the query: waiters still on it see it cancelled, and the
// timer, if armed, stops.
func (c *queryContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.err == nil {
		c.endLocked(context.Canceled)
	}
}
