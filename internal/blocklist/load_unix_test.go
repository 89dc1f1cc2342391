//go:build unix

package blocklist

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLoadFromPipe guards the line-counting pass: a list that can be read
// only once (a pipe, process substitution) must still load in full, since
// an empty result would silently unblock everything.
func TestLoadFromPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "list.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	written := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			written <- err
			return
		}
		_, err = f.WriteString("# Source: test\ndeepseek.com\nexact:cmpassport.com\n")
		if closeErr := f.Close(); err == nil {
			err = closeErr
		}
		written <- err
	}()
	trie, infos, warnings, err := Load([]string{fifo}, nil)
	if err != nil {
		t.Fatalf("Load(fifo) error = %v", err)
	}
	if err := <-written; err != nil {
		t.Fatalf("writing the fifo: %v", err)
	}
	if len(warnings) != 0 || len(infos) != 1 || infos[0].Entries != 2 {
		t.Fatalf("Load(fifo) infos = %+v, warnings = %v, want 2 entries and no warnings", infos, warnings)
	}
	if got, ok := trie.Lookup("chat.deepseek.com."); !ok || got.Name != "deepseek.com" {
		t.Errorf("Lookup(chat.deepseek.com.) = %+v, %v, want deepseek.com", got, ok)
	}
}
