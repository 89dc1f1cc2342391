package hitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
)

// logFileMode is the mode of new log files: the lines hold client addresses.
const logFileMode = 0o640

// RotatingFile is an append-only log file that is renamed aside when the
// next line would make it exceed its maximum size: path becomes path.1,
// path.1 becomes path.2 and so on, and files beyond the retention limit are
// deleted. Rotation happens only between whole lines, so a line is never
// split across files. It is safe for concurrent use.
type RotatingFile struct {
	path    string
	maxSize int64 // 0: never rotate
	retain  int

	mu sync.Mutex
	f  *os.File // nil after Close, or after a failed reopen
	// size is the current file's length; lineStart is true when it is empty
	// or ends in a newline, the only points where rotation may happen.
	size      int64
	lineStart bool
	// partial is an unfinished last line held back by Write.
	partial []byte
	closed  bool
}

// RotateError reports a rotation that failed. The lines were still written,
// to the current file, which is therefore larger than the limit; rotation
// is tried again at the next write.
type RotateError struct {
	Path string
	Err  error
}

func (e *RotateError) Error() string { return "rotate " + e.Path + ": " + e.Err.Error() }
func (e *RotateError) Unwrap() error { return e.Err }

// OpenFile opens (or creates, mode 0640) the log file at path for
// appending. maxSize is the size in bytes a file may reach before it is
// rotated (0: never); retain is how many rotated files are kept (at least 1
// when maxSize is set, so a rotation never discards lines straight away).
func OpenFile(path string, maxSize int64, retain int) (*RotatingFile, error) {
	switch {
	case maxSize < 0:
		return nil, fmt.Errorf("open log %s: maximum size %d is negative", path, maxSize)
	case maxSize > 0 && retain < 1:
		return nil, fmt.Errorf("open log %s: retain %d rotated files; at least 1 is needed to rotate", path, retain)
	}
	r := &RotatingFile{path: path, maxSize: maxSize, retain: retain}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// open opens r.path and learns its size and whether it ends mid-line (a
// crash can leave a partial last line; the next line then completes it
// before any rotation).
func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_RDWR|os.O_APPEND|os.O_CREATE, logFileMode)
	if err != nil {
		return fmt.Errorf("open log %s: %w", r.path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log %s: %w", r.path, err)
	}
	r.f, r.size, r.lineStart = f, st.Size(), true
	if r.size > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], r.size-1); err != nil {
			f.Close()
			r.f = nil
			return fmt.Errorf("open log %s: read last byte: %w", r.path, err)
		}
		r.lineStart = last[0] == '\n'
	}
	return nil
}

// Write appends p. Lines (each ending in '\n') go whole into one file; p
// may hold several lines or end in an unfinished one, which is held back
// until its newline arrives (or Close), since where it may go depends on
// its full length. A line longer than the maximum size gets a file of its
// own.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("write log %s: %w", r.path, os.ErrClosed)
	}
	data, held := p, len(r.partial)
	if held > 0 {
		data = append(r.partial, p...)
		r.partial = nil
	}
	if r.maxSize > 0 {
		whole := bytes.LastIndexByte(data, '\n') + 1
		// Hold an unfinished line back, unless it is already too long for
		// any file: then it goes out now, in a file of its own.
		if tail := data[whole:]; len(tail) > 0 && int64(len(tail)) <= r.maxSize {
			r.partial = append(r.partial[:0], tail...)
			data = data[:whole]
		}
	}
	n, err := r.write(data)
	if err != nil {
		// Report how much of p (not of the held bytes) went out; the rest,
		// including what was held, is lost, as a failed write loses it.
		r.partial = nil
		return max(0, n-held), err
	}
	return len(p), nil
}

// write appends data, rotating between lines as needed; it returns the
// bytes written.
func (r *RotatingFile) write(data []byte) (int, error) {
	if len(data) > 0 && r.f == nil {
		// The previous rotation could not open the new file; try again.
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	var rotateErr error
	written := 0
	for len(data) > 0 {
		n := r.fit(data)
		if n == 0 {
			err := r.rotate()
			if err == nil {
				continue
			}
			if r.f == nil {
				return written, err
			}
			// Keep the lines rather than the size limit, and report it.
			rotateErr = err
			n = len(data)
		}
		m, err := r.f.Write(data[:n])
		written += m
		r.size += int64(m)
		if m > 0 {
			r.lineStart = data[m-1] == '\n'
		}
		if err != nil {
			return written, fmt.Errorf("write log %s: %w", r.path, err)
		}
		data = data[n:]
	}
	return written, rotateErr
}

// fit returns how many leading bytes of p go into the current file, or 0
// when the file must be rotated first.
func (r *RotatingFile) fit(p []byte) int {
	if r.maxSize <= 0 {
		return len(p)
	}
	if !r.lineStart {
		// Finish the current line where it started.
		return lineLen(p)
	}
	room := r.maxSize - r.size
	n := 0
	for n < len(p) {
		l := lineLen(p[n:])
		if int64(n+l) > room {
			break
		}
		n += l
	}
	if n == 0 && r.size == 0 {
		// A line larger than the limit: alone in its file, not lost.
		return lineLen(p)
	}
	return n
}

// lineLen is the length of p's first line including its newline, or len(p)
// when p holds no newline.
func lineLen(p []byte) int {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return i + 1
	}
	return len(p)
}

// Rotate moves the current file aside now, if it holds anything and ends
// with a whole line. It is for callers that rotate on a signal.
func (r *RotatingFile) Rotate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("rotate log %s: %w", r.path, os.ErrClosed)
	}
	if r.f != nil && (r.size == 0 || !r.lineStart) {
		return nil
	}
	return r.rotate()
}

// rotate renames path to path.1 (shifting older files up and deleting the
// ones beyond retain) and opens a new path. Rename before reopen: the data
// written so far is never copied or truncated, so nothing is lost. On
// failure the old file stays open (r.f != nil) if it can be.
func (r *RotatingFile) rotate() error {
	if r.f != nil {
		// A close error loses nothing: the data already went to the kernel
		// with each write, and the descriptor is gone either way.
		_ = r.f.Close()
		r.f = nil
	}
	if err := r.shift(); err != nil {
		if oerr := r.open(); oerr != nil {
			return errors.Join(&RotateError{Path: r.path, Err: err}, oerr)
		}
		return &RotateError{Path: r.path, Err: err}
	}
	return r.open()
}

// shift renames path.N to path.N+1 from the oldest kept file down, then path
// to path.1, and deletes numbered files beyond retain (left over from a
// larger retain setting, or the one just shifted out).
func (r *RotatingFile) shift() error {
	for i := r.retain - 1; i >= 1; i-- {
		err := os.Rename(r.numbered(i), r.numbered(i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(r.path, r.numbered(1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for i := r.retain + 1; ; i++ {
		err := os.Remove(r.numbered(i))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (r *RotatingFile) numbered(i int) string { return r.path + "." + strconv.Itoa(i) }

// Close closes the file; later writes fail. Closing twice is harmless.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	// An unfinished line is kept as it is rather than dropped.
	_, werr := r.write(r.partial)
	r.partial = nil
	if r.f == nil {
		return werr
	}
	err := errors.Join(werr, r.f.Close())
	r.f = nil
	if err != nil {
		return fmt.Errorf("close log %s: %w", r.path, err)
	}
	return nil
}

var _ io.WriteCloser = (*RotatingFile)(nil)
