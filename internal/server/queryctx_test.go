package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestQueryContext(t *testing.T) {
	t.Run("deadline passes", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(10 * time.Millisecond))
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done never closed after the deadline")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want deadline exceeded", c.Err())
		}
		if !errors.Is(context.Cause(&c), context.DeadlineExceeded) {
			t.Errorf("Cause = %v", context.Cause(&c))
		}
	})
	t.Run("release cancels waiters and derived contexts", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(time.Hour))
		child, cancel := context.WithCancel(&c)
		defer cancel()
		if err := c.Err(); err != nil {
			t.Fatalf("Err before release = %v", err)
		}
		c.release()
		<-child.Done()
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err after release = %v, want canceled", c.Err())
		}
	})
	t.Run("reuse starts afresh", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(time.Hour))
		c.Done()
		c.release()
		want := time.Now().Add(time.Hour)
		c.reset(want)
		if d, ok := c.Deadline(); !ok || !d.Equal(want) {
			t.Errorf("Deadline = %v %v, want %v", d, ok, want)
		}
		if err := c.Err(); err != nil {
			t.Errorf("Err after reset = %v, want nil", err)
		}
	})
	t.Run("unwatched query arms nothing", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(time.Hour))
		if err := c.Err(); err != nil {
			t.Errorf("Err = %v, want nil", err)
		}
		c.release()
		if c.timer != nil || c.done != nil {
			t.Error("a query nobody waited on made a timer or a channel")
		}
	})
	t.Run("past deadline without a timer", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(-time.Millisecond))
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want deadline exceeded", c.Err())
		}
		select {
		case <-c.Done():
		default:
			t.Error("Done open after the deadline passed")
		}
		if c.timer != nil {
			t.Error("armed a timer for a deadline already past")
		}
	})
	t.Run("released before Done", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(time.Hour))
		c.release()
		select {
		case <-c.Done():
		default:
			t.Error("Done open after release")
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err = %v, want canceled", c.Err())
		}
	})
	t.Run("late callback leaves the next query be", func(t *testing.T) {
		var c queryContext
		c.reset(time.Now().Add(time.Hour))
		done := c.Done()
		c.release()
		c.reset(time.Now().Add(time.Hour))
		next := c.Done()
		// The previous query's timer callback, already running when
		// release stopped the timer, gets the lock only now.
		c.expire()
		select {
		case <-next:
			t.Error("the previous query's timer ended the next query")
		default:
		}
		if err := c.Err(); err != nil {
			t.Errorf("Err = %v, want nil", err)
		}
		if done == next {
			t.Error("the next query shares the previous query's channel")
		}
		c.release()
	})
	t.Run("reused timer fires for each query", func(t *testing.T) {
		var c queryContext
		for i := range 3 {
			c.reset(time.Now().Add(time.Millisecond))
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatalf("query %d: Done never closed after the deadline", i)
			}
			if !errors.Is(c.Err(), context.DeadlineExceeded) {
				t.Errorf("query %d: Err = %v, want deadline exceeded", i, c.Err())
			}
			c.release()
			if !errors.Is(c.Err(), context.DeadlineExceeded) {
				t.Errorf("query %d: Err after release = %v, want it to stay deadline exceeded", i, c.Err())
			}
		}
	})
}

// BenchmarkQueryContextWait is a forwarded query's deadline: armed because
// the forwarder waits on Done, ended when the answer comes.
func BenchmarkQueryContextWait(b *testing.B) {
	var c queryContext
	b.ReportAllocs()
	for b.Loop() {
		c.reset(time.Now().Add(time.Hour))
		_ = c.Done()
		c.release()
	}
}
