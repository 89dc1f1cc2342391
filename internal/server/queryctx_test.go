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
		c.release()
		if c.armed != nil {
			t.Error("release armed a timer nobody waits on")
		}
	})
}
