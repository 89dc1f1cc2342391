package hitlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// logFiles reads path and its rotated files, newest last, as a list of
// file contents; missing numbers end the list.
func logFiles(t *testing.T, path string) []string {
	t.Helper()
	var files []string
	for i := 1; ; i++ {
		data, err := os.ReadFile(path + "." + strconv.Itoa(i))
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append([]string{string(data)}, files...) // oldest first
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return append(files, string(data))
}

// checkRotated checks that the files hold exactly want, in order, each line
// whole in one file, and that no file exceeds maxSize unless it holds a
// single line longer than that.
func checkRotated(t *testing.T, files []string, want []string, maxSize int) {
	t.Helper()
	var got []string
	for i, f := range files {
		if f != "" && !strings.HasSuffix(f, "\n") {
			t.Errorf("file %d of %d ends mid-line: %q", i+1, len(files), f[max(0, len(f)-40):])
		}
		lines := strings.SplitAfter(f, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(f) > maxSize && len(lines) != 1 {
			t.Errorf("file %d of %d is %d bytes with %d lines; over the %d-byte limit", i+1, len(files), len(f), len(lines), maxSize)
		}
		got = append(got, lines...)
	}
	if len(got) != len(want) {
		t.Fatalf("files hold %d lines, want %d", len(got), len(want))
	}
	seen := make(map[string]int)
	for i := range got {
		seen[got[i]]++
		if got[i] != want[i] {
			t.Fatalf("line %d = %q, want %q", i, got[i], want[i])
		}
	}
	for l, n := range seen {
		if n != 1 {
			t.Errorf("line %q appears %d times", l, n)
		}
	}
}

// testLines returns n distinct lines of varying length, one of them
// longer than big bytes.
func testLines(n, big int) []string {
	lines := make([]string, n)
	for i := range lines {
		pad := strings.Repeat("x", (i*37)%90)
		if i == n/2 {
			pad = strings.Repeat("L", big+10)
		}
		lines[i] = fmt.Sprintf(`{"seq":%d,"pad":"%s"}`+"\n", i, pad)
	}
	return lines
}

func TestRotationKeepsEveryLineOnce(t *testing.T) {
	const maxSize = 300
	lines := testLines(400, maxSize)
	all := strings.Join(lines, "")
	tests := []struct {
		name   string
		chunks func() []string // how the lines reach Write
	}{
		{name: "one line per write", chunks: func() []string { return lines }},
		{
			name: "several lines per write",
			chunks: func() []string {
				var out []string
				for i := 0; i < len(lines); i += 7 {
					out = append(out, strings.Join(lines[i:min(i+7, len(lines))], ""))
				}
				return out
			},
		},
		{
			name: "writes split inside lines",
			chunks: func() []string {
				var out []string
				for i := 0; i < len(all); i += 53 {
					out = append(out, all[i:min(i+53, len(all))])
				}
				return out
			},
		},
		{name: "everything in one write", chunks: func() []string { return []string{all} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hits.jsonl")
			f, err := OpenFile(path, maxSize, 200)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.chunks() {
				n, err := f.Write([]byte(c))
				if err != nil || n != len(c) {
					t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(c))
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			files := logFiles(t, path)
			if len(files) < 50 {
				t.Errorf("%d files; the test means many rotations", len(files))
			}
			checkRotated(t, files, lines, maxSize)
		})
	}
}

func TestRotationThroughLogger(t *testing.T) {
	const maxSize, events = 4000, 300
	path := filepath.Join(t.TempDir(), "hits.jsonl")
	f, err := OpenFile(path, maxSize, 200)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Writer: f, Queue: events})
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		e := sampleEvent()
		e.QueryID = uint16(i)
		l.Log(e)
	}
	l.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	files := logFiles(t, path)
	var want []string
	for _, file := range files {
		for _, line := range strings.SplitAfter(file, "\n") {
			if line != "" {
				want = append(want, line)
			}
		}
	}
	checkRotated(t, files, want, maxSize)
	if len(files) < 10 {
		t.Errorf("%d files; want many rotations", len(files))
	}
	// Every event once, in order.
	for i, line := range want {
		if !strings.Contains(line, fmt.Sprintf(`"id":%d,`, i)) {
			t.Fatalf("line %d is not event %d: %s", i, i, line)
		}
	}
	if len(want) != events {
		t.Errorf("%d lines, want %d", len(want), events)
	}
}

func TestRetention(t *testing.T) {
	tests := []struct {
		name   string
		retain int
		stale  []int // numbered files left by an earlier, larger retain
	}{
		{name: "retain 1", retain: 1},
		{name: "retain 3", retain: 3},
		{name: "stale files beyond retain removed", retain: 2, stale: []int{3, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "q.jsonl")
			for _, n := range tt.stale {
				if err := os.WriteFile(path+"."+strconv.Itoa(n), []byte("old\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f, err := OpenFile(path, 10, tt.retain)
			if err != nil {
				t.Fatal(err)
			}
			// Ten-byte lines: one per file, so line i ends in file i.
			for i := range 20 {
				if _, err := fmt.Fprintf(f, "line %03d\n", i); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			files := logFiles(t, path)
			if len(files) != tt.retain+1 {
				t.Fatalf("%d files, want the current one and %d rotated", len(files), tt.retain)
			}
			for i, got := range files {
				want := fmt.Sprintf("line %03d\n", 20-len(files)+i)
				if got != want {
					t.Errorf("file %d = %q, want %q (the newest lines kept)", i, got, want)
				}
			}
			if _, err := os.Stat(path + "." + strconv.Itoa(tt.retain+1)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s.%d exists beyond retain: %v", path, tt.retain+1, err)
			}
		})
	}
}

func TestReopenExistingFile(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		write    string
		want     []string // files, oldest first
	}{
		{
			name:     "appends when there is room",
			existing: "aaaa\n",
			write:    "bbbb\n",
			want:     []string{"aaaa\nbbbb\n"},
		},
		{
			name:     "rotates a full file before the first line",
			existing: "aaaaaaaaaaaaaaa\n",
			write:    "bbbb\n",
			want:     []string{"aaaaaaaaaaaaaaa\n", "bbbb\n"},
		},
		{
			name:     "completes a partial last line before rotating",
			existing: "aaaaaaaaaaaaaaa\npart",
			write:    "ial\nbbbb\n",
			want:     []string{"aaaaaaaaaaaaaaa\npartial\n", "bbbb\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hits.jsonl")
			if err := os.WriteFile(path, []byte(tt.existing), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := OpenFile(path, 16, 5)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte(tt.write)); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got := logFiles(t, path)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("files = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNeverRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hits.jsonl")
	f, err := OpenFile(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789\n"), 1000)
	if _, err := f.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if files := logFiles(t, path); len(files) != 1 || len(files[0]) != len(big) {
		t.Errorf("got %d files, want one of %d bytes", len(files), len(big))
	}
}

func TestRotationFailureKeepsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hits.jsonl")
	// A non-empty directory where the rotated file must go: rename fails.
	if err := os.MkdirAll(filepath.Join(path+".1", "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := OpenFile(path, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("line 0001\n")); err != nil {
		t.Fatal(err)
	}
	n, err := f.Write([]byte("line 0002\nline 0003\n"))
	var re *RotateError
	if !errors.As(err, &re) || n != 20 {
		t.Fatalf("Write = %d, %v; want 20 and a *RotateError", n, err)
	}
	// Rotation works again once the obstacle is gone.
	if err := os.RemoveAll(path + ".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("line 0004\n")); err != nil {
		t.Fatalf("Write after the obstacle went: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := logFiles(t, path)
	want := []string{"line 0001\nline 0002\nline 0003\n", "line 0004\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("files = %q, want %q", got, want)
	}
}

func TestOpenFileErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		maxSize int64
		retain  int
		want    string
	}{
		{name: "missing directory", path: filepath.Join(dir, "missing", "hits.jsonl"), maxSize: 100, retain: 1, want: "no such file"},
		{name: "negative size", path: filepath.Join(dir, "a"), maxSize: -1, retain: 1, want: "negative"},
		{name: "rotation without retention", path: filepath.Join(dir, "b"), maxSize: 100, retain: 0, want: "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := OpenFile(tt.path, tt.maxSize, tt.retain)
			if err == nil {
				f.Close()
				t.Fatal("OpenFile succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q lacks %q or the path", err, tt.want)
			}
		})
	}
}

func TestRotatingFileClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hits.jsonl")
	f, err := OpenFile(path, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o007 != 0 {
		t.Errorf("mode %v: other users may read client addresses", perm)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := f.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
}

func TestRotateOnDemand(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string // files, oldest first
	}{
		{name: "moves the file aside", writes: []string{"a\n"}, want: []string{"a\n", ""}},
		{name: "empty file stays", writes: nil, want: []string{""}},
		{name: "an unfinished line goes to the new file", writes: []string{"a\nb"}, want: []string{"a\n", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hits.jsonl")
			f, err := OpenFile(path, 1000, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.writes {
				if _, err := f.Write([]byte(w)); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Rotate(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Rotate(); !errors.Is(err, os.ErrClosed) {
				t.Errorf("Rotate after Close = %v, want os.ErrClosed", err)
			}
			got := logFiles(t, path)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("files = %q, want %q", got, tt.want)
			}
		})
	}
}
