package upstream

import "errors"

var (
	// ErrNoUpstream means Options.Servers was empty.
	ErrNoUpstream = errors.New("upstream: no upstream servers configured")
	// ErrAllFailed means no upstream answered within the query's budget.
	ErrAllFailed = errors.New("upstream: all upstreams failed")
	// ErrLoop means an upstream sent us back a query we are forwarding:
	// answering it with an error breaks the loop instead of amplifying it.
	ErrLoop = errors.New("upstream: forwarding loop detected")
	// ErrOverloaded: MaxConcurrent exchanges are already running.
	ErrOverloaded = errors.New("upstream: too many queries in flight")
)
