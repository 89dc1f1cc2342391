package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Workload files. Everything is generated from fixed seeds, so two machines
// running the same version of this file send the same queries.
const (
	blockedLines   = 500_000 // dnsperf loops over the file
	cachedNames    = 1_000
	blocked1MLines = 500_000
	genVersion     = "1"
)

var tlds = []string{"com", "net", "org", "info", "biz", "io", "xyz", "top", "cn", "ru", "app", "dev", "nl", "be", "de"}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"

func label(r *rand.Rand, min, max int) string {
	n := min + r.IntN(max-min+1)
	b := make([]byte, n)
	b[0] = alnum[r.IntN(26)] // start with a letter
	for i := 1; i < n; i++ {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

// files names every generated input.
type files struct {
	dir       string
	blocked   string // random subdomains of deepseek.com
	cached    string // the 1,000 warm names
	list1M    string // Dijk: plain list, one domain a line
	unbound1M string // Unbound: local-zone lines
	dnsmasq1M string // dnsmasq: address=/domain/ lines
	blocked1M string // random subdomains of random 1M-list entries
	probe1M   string // a name under the list's last entry: answered NXDOMAIN once the whole list is in
	listSize  int
}

// logDir is where the logged runs write their logs: apart from the
// configs, since Dijk watches its config's directory for changes.
func (fs files) logDir() string { return filepath.Join(fs.dir, "logs") }

func newFiles(dir string, listSize int) files {
	return files{
		dir:       dir,
		blocked:   filepath.Join(dir, "blocked.txt"),
		cached:    filepath.Join(dir, "cached.txt"),
		list1M:    filepath.Join(dir, "list-1m.txt"),
		unbound1M: filepath.Join(dir, "unbound-1m-zones.conf"),
		dnsmasq1M: filepath.Join(dir, "dnsmasq-1m-addresses.conf"),
		blocked1M: filepath.Join(dir, "blocked-1m.txt"),
		listSize:  listSize,
	}
}

// lineWriter writes a file through a buffer and remembers the first error.
type lineWriter struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func create(path string) *lineWriter {
	f, err := os.Create(path)
	lw := &lineWriter{f: f, err: err}
	if err == nil {
		lw.w = bufio.NewWriterSize(f, 1<<20)
	}
	return lw
}

func (lw *lineWriter) printf(format string, a ...any) {
	if lw.err == nil {
		_, lw.err = fmt.Fprintf(lw.w, format, a...)
	}
}

func (lw *lineWriter) close() error {
	if lw.f == nil {
		return lw.err
	}
	if lw.err == nil {
		lw.err = lw.w.Flush()
	}
	if err := lw.f.Close(); lw.err == nil {
		lw.err = err
	}
	return lw.err
}

// generate writes the fixed workload files, unless a stamp shows they are
// already there for these parameters.
func (fs *files) generate() error {
	if err := os.MkdirAll(fs.dir, 0o755); err != nil {
		return err
	}
	stamp := filepath.Join(fs.dir, "generated.stamp")
	want := fmt.Sprintf("v%s list=%d\n", genVersion, fs.listSize)
	entries := listEntries(fs.listSize)
	fs.probe1M = "probe." + entries[len(entries)-1]
	if b, err := os.ReadFile(stamp); err == nil && string(b) == want {
		return nil
	}
	_ = os.Remove(stamp)

	r := rand.New(rand.NewPCG(1, 1))
	w := create(fs.blocked)
	for range blockedLines {
		if r.IntN(5) == 0 {
			w.printf("%s.%s.deepseek.com A\n", label(r, 3, 8), label(r, 4, 12))
		} else {
			w.printf("%s.deepseek.com A\n", label(r, 4, 12))
		}
	}
	if err := w.close(); err != nil {
		return err
	}

	r = rand.New(rand.NewPCG(2, 2))
	w = create(fs.cached)
	for i := range cachedNames {
		// The index keeps the 1,000 names distinct; no hyphen, so no 1M-list entry matches.
		w.printf("%s.%s%d.%s A\n", label(r, 3, 8), label(r, 4, 10), i, tlds[r.IntN(len(tlds))])
	}
	if err := w.close(); err != nil {
		return err
	}

	wl := create(fs.list1M)
	wu := create(fs.unbound1M)
	wd := create(fs.dnsmasq1M)
	wl.printf("# Synthetic block list for the Dijk benchmark: %d domains, suffix rules.\n", len(entries))
	wu.printf("# Synthetic block list for the Dijk benchmark: %d domains.\nserver:\n", len(entries))
	wd.printf("# Synthetic block list for the Dijk benchmark: %d domains.\n", len(entries))
	for _, e := range entries {
		wl.printf("%s\n", e)
		wu.printf("local-zone: \"%s.\" always_nxdomain\n", e)
		wd.printf("address=/%s/\n", e)
	}
	for _, w := range []*lineWriter{wl, wu, wd} {
		if err := w.close(); err != nil {
			return err
		}
	}

	r = rand.New(rand.NewPCG(4, 4))
	w = create(fs.blocked1M)
	for range blocked1MLines {
		w.printf("%s.%s A\n", label(r, 3, 8), entries[r.IntN(len(entries))])
	}
	if err := w.close(); err != nil {
		return err
	}
	return os.WriteFile(stamp, []byte(want), 0o644)
}

// listEntries returns the synthetic block list: n distinct registrable
// domains "label-INDEX.tld", INDEX in base 36 so no two are equal.
func listEntries(n int) []string {
	r := rand.New(rand.NewPCG(3, 3))
	out := make([]string, n)
	for i := range n {
		out[i] = label(r, 4, 12) + "-" + strconv.FormatInt(int64(i), 36) + "." + tlds[r.IntN(len(tlds))]
	}
	return out
}

// writeMiss writes count never-seen allowed names for one run; tag makes the
// names of different runs differ, so no name repeats within a resolver's session.
func writeMiss(path, tag string, count int) error {
	r := rand.New(rand.NewPCG(5, uint64(len(tag))))
	w := create(path)
	tag = strings.ReplaceAll(tag, ".", "-")
	for i := range count {
		w.printf("%s%d.%s.miss.example.net A\n", label(r, 3, 6), i, tag)
	}
	return w.close()
}
