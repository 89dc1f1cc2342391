// Package watch calls a function when any of a set of files changes. It
// watches the files' directories rather than the files, because editors and
// config-management tools replace a file by renaming a new one over it,
// which a watch on the old file would miss.
package watch

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configures a Watcher.
type Options struct {
	// Files are the paths to watch; changes to other files in the same
	// directories are ignored.
	Files []string
	// Settle is how long the files must stay quiet after a change before
	// OnChange runs, so a write in several steps reloads once. Zero means
	// 500 ms.
	Settle time.Duration
	// OnChange runs after a change has settled, never concurrently with
	// itself.
	OnChange func()
	Logger   *slog.Logger
}

// Watcher holds an established watch.
type Watcher struct {
	opts   Options
	w      *fsnotify.Watcher
	wanted map[string]bool
}

// New sets up the watch, so that every change after New returns is seen.
func New(opts Options) (*Watcher, error) {
	if opts.Settle <= 0 {
		opts.Settle = 500 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	wanted := make(map[string]bool, len(opts.Files))
	dirs := make(map[string]bool)
	for _, f := range opts.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", f, err)
		}
		wanted[abs] = true
		dirs[filepath.Dir(abs)] = true
	}
	for dir := range dirs {
		if err := w.Add(dir); err != nil {
			w.Close()
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
	}
	return &Watcher{opts: opts, w: w, wanted: wanted}, nil
}

// Run watches until ctx ends, then releases the watch.
func (wt *Watcher) Run(ctx context.Context) {
	defer wt.w.Close()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wt.w.Events:
			if !ok {
				return
			}
			if wt.wanted[filepath.Clean(ev.Name)] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				settle = time.After(wt.opts.Settle) // restart the quiet period
			}
		case err, ok := <-wt.w.Errors:
			if !ok {
				return
			}
			wt.opts.Logger.Warn("file watch error", "err", err)
		case <-settle:
			settle = nil
			wt.opts.OnChange()
		}
	}
}

// Run sets up a watch and runs it until ctx ends.
func Run(ctx context.Context, opts Options) error {
	wt, err := New(opts)
	if err != nil {
		return err
	}
	wt.Run(ctx)
	return nil
}
