package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dijk-dns/dijk/internal/chain"
	"github.com/miekg/dns"
)

// refresh is one background call to next for an expired entry
// (Options.StaleAfter). Queries for the same key wait on the same refresh, so
// there is at most one per key.
type refresh struct {
	done chan struct{} // closed once the fields below are set
	// msg is next's answer. It is never handed out, only copies of it, as
	// each waiting caller owns its answer.
	msg      *dns.Msg
	err      error
	outcome  chain.Outcome // what next set on its copy of the request
	useStale bool          // settle's verdict
}

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// refreshWithTimer asks next for the expired entry e in the background and
// answers stale if next has not answered within StaleAfter (RFC 8767 §5).
// When the limit of background refreshes is reached it waits for next itself,
// as without the timer, so the background work stays bounded.
func (c *Cache) refreshWithTimer(ctx context.Context, req *chain.Request, k key, e *entry) (*dns.Msg, error) {
	r, ok := c.startRefresh(ctx, req, k, e)
	if !ok {
		return c.ask(ctx, req, k, e)
	}
	timer, stop := c.after(c.staleAfter)
	defer stop()
	select {
	case <-r.done:
		switch {
		case r.useStale:
			return c.answerStale(e, req)
		case r.err != nil:
			return nil, r.err
		}
		req.Outcome = r.outcome
		if r.msg == nil {
			return nil, nil
		}
		return r.msg.Copy(), nil
	case <-timer:
		return c.answerStale(e, req)
	case <-ctx.Done():
		// Past the query's own deadline stale beats SERVFAIL; a client
		// that went away gets nothing anyway.
		if errors.Is(ctx.Err(), context.Canceled) {
			return nil, fmt.Errorf("cache: waiting for refresh: %w", ctx.Err())
		}
		return c.answerStale(e, req)
	}
}

// startRefresh returns the refresh in flight for k, starting one if there is
// none and the limit allows. It reports false, starting nothing, at the limit
// or after Close.
func (c *Cache) startRefresh(ctx context.Context, req *chain.Request, k key, e *entry) (*refresh, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.refreshes[k]; ok {
		return r, true
	}
	// Checked under mu, which Close holds to cancel, so no Add can follow
	// Close's Wait.
	if c.life.Err() != nil || len(c.refreshes) >= c.maxRefreshes {
		return nil, false
	}
	r := &refresh{done: make(chan struct{})}
	c.refreshes[k] = r
	// The refresh outlives the query (the server cancels its context once
	// it has an answer) but keeps its values and its deadline, the time
	// budget the query itself had; Close cancels it.
	var (
		rctx   context.Context
		cancel context.CancelFunc
	)
	if deadline, ok := ctx.Deadline(); ok {
		rctx, cancel = context.WithDeadline(context.WithoutCancel(ctx), deadline)
	} else {
		rctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	stopLife := context.AfterFunc(c.life, cancel)
	// The caller's Request is the caller's again once it has an answer.
	bg := *req
	bg.OnBlocking(nil) // the server's hook belongs to the query, not to this goroutine
	c.running.Add(1)
	go func() {
		defer c.running.Done()
		defer cancel()
		defer stopLife()
		r.msg, r.err = c.callNext(rctx, &bg)
		r.outcome = bg.Outcome
		r.useStale = c.settle(k, e, r.msg, r.err)
		// Settled before it leaves the map: a query that misses the
		// refresh finds its result in the cache.
		c.mu.Lock()
		delete(c.refreshes, k)
		c.mu.Unlock()
		close(r.done)
	}()
	return r, true
}

// callNext calls next and turns a panic into an error: in the background no
// server recovers it, and it would end the process.
func (c *Cache) callNext(ctx context.Context, req *chain.Request) (msg *dns.Msg, err error) {
	defer func() {
		if p := recover(); p != nil {
			msg, err = nil, fmt.Errorf("cache: refresh panicked: %v", p)
		}
	}()
	return c.next.ServeDNS(ctx, req)
}

// inFlight is the number of background refreshes running.
func (c *Cache) inFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.refreshes)
}

// Close cancels the background refreshes of Options.StaleAfter and waits for
// them to end. Afterwards the cache still answers, without the timer. It is
// safe to call more than once.
func (c *Cache) Close() {
	c.mu.Lock()
	c.stop()
	c.mu.Unlock()
	c.running.Wait()
}
