package watch

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCallsOnChange(t *testing.T) {
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(list, []byte("a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	changes := make(chan struct{}, 10)
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Files: []string{list}, Settle: 50 * time.Millisecond, OnChange: func() {
			calls.Add(1)
			changes <- struct{}{}
		}})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitChange := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(10 * time.Second): // hang guard only
			t.Fatalf("no change reported after %s", what)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the watch start; an early write is simply reported later

	tests := []struct {
		name string
		act  func() error
	}{
		{"write in place", func() error { return os.WriteFile(list, []byte("b\n"), 0o600) }},
		{"replace by rename", func() error {
			tmp := filepath.Join(dir, ".list.tmp")
			if err := os.WriteFile(tmp, []byte("c\n"), 0o600); err != nil {
				return err
			}
			return os.Rename(tmp, list)
		}},
		{"several writes settle into one call", func() error {
			for i := range 5 {
				if err := os.WriteFile(list, []byte{byte('d' + i), '\n'}, 0o600); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		before := calls.Load()
		if err := tt.act(); err != nil {
			t.Fatal(err)
		}
		waitChange(tt.name)
		if got := calls.Load() - before; got != 1 {
			t.Errorf("%s: %d calls, want 1", tt.name, got)
		}
	}

	// A file that is not watched changes nothing.
	if err := os.WriteFile(other, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
		t.Error("a change to an unwatched file was reported")
	case <-time.After(300 * time.Millisecond):
	}
}
