package server

import (
	"context"
	"sync"
	"time"
)

// queryContext is a query's deadline that arms a timer only once a handler
// waits on it (Done or Err). Answers from memory never do, and a
// context.WithTimeout per query (two allocations, a timer to start and stop)
// cost about 8% of a blocked answer's CPU in a profile under dnsperf load.
// A reader reuses one for the queries it answers itself; a query that moves
// off the reader keeps its own.
type queryContext struct {
	deadline time.Time
	mu       sync.Mutex
	armed    context.Context
	cancel   context.CancelFunc
}

var _ context.Context = (*queryContext)(nil)

// reset starts a new query; only the owner calls it, between queries.
func (c *queryContext) reset(deadline time.Time) {
	c.deadline, c.armed, c.cancel = deadline, nil, nil
}

func (c *queryContext) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *queryContext) Done() <-chan struct{}       { return c.arm().Done() }
func (c *queryContext) Err() error                  { return c.arm().Err() }

// Value reads nothing: a forwarded query's exchange may keep the context
// (through context.WithoutCancel) after the query was answered and its
// queryContext reused.
func (c *queryContext) Value(any) any { return nil }

func (c *queryContext) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		c.armed, c.cancel = context.WithDeadline(context.Background(), c.deadline)
	}
	return c.armed
}

// release ends the query: waiters still on it see it cancelled, and the
// timer, if armed, stops.
func (c *queryContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
}
