package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// tempMarker is in the name of every temporary file, so New can find the
// ones a crash left behind.
const tempMarker = ".tmp-"

// meta is what <name>.meta remembers about the copy next to it, so a
// restarted dijk still sends conditional requests and can recheck the
// copy against the pins.
type meta struct {
	URL          string `json:"url"`
	SHA256       string `json:"sha256"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Signature is the minisign signature the copy was accepted with.
	Signature string    `json:"minisig,omitempty"`
	Updated   time.Time `json:"updated"`
	Fetched   time.Time `json:"fetched"`
}

func (m *meta) state() State {
	return State{Updated: m.Updated, Fetched: m.Fetched, SHA256: m.SHA256}
}

// loadCopy returns the metadata of src's copy if src's pins accept it, and
// nil, nil if there is no copy. The copy is hashed every time, so one
// edited on disk or pinned differently since is never served.
func (f *Fetcher) loadCopy(src Source) (*meta, error) {
	path := f.CachePath(src)
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("remote list %s: cached copy: %w", src.URL, err)
	}
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	m := &meta{}
	raw, err := os.ReadFile(f.metaPath(src))
	if err == nil {
		err = json.Unmarshal(raw, m)
	}
	if err != nil || m.URL != src.URL || m.SHA256 != actual {
		// The meta is lost, or belongs to another body (a crash between the
		// two renames of commit). The copy is still a whole list, since it
		// was renamed into place complete, but the validators and signature
		// are not its own: drop them, so the next request is unconditional.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.log.Warn("remote list metadata unreadable; ignoring it", "url", src.URL, "err", err)
		}
		m = &meta{URL: src.URL, SHA256: actual}
	}
	if err := verify(src, body, []byte(m.Signature)); err != nil {
		return nil, fmt.Errorf("cached copy %s does not pass the pins: %w", path, err)
	}
	return m, nil
}

// commit stores what a successful download brought and returns the state.
func (f *Fetcher) commit(src Source, prev *meta, resp response) (State, error) {
	now := f.opts.Now()
	if resp.notModified {
		m := *prev
		m.Fetched = now
		// A 304 may carry fresh validators (RFC 9110 15.4.5).
		if resp.etag != "" {
			m.ETag = resp.etag
		}
		if resp.lastModified != "" {
			m.LastModified = resp.lastModified
		}
		if err := f.write(src, nil, &m); err != nil {
			return State{}, err
		}
		st := m.state()
		st.NotModified = true
		return st, nil
	}
	sum := sha256.Sum256(resp.body)
	m := meta{
		URL:          src.URL,
		SHA256:       hex.EncodeToString(sum[:]),
		ETag:         resp.etag,
		LastModified: resp.lastModified,
		Signature:    string(resp.signature),
		Updated:      now,
		Fetched:      now,
	}
	body := resp.body
	// The same body again (a server without validators): nothing to
	// rewrite or reload, though validators and signature may be new.
	same := prev != nil && prev.SHA256 == m.SHA256
	if same {
		body = nil
		if !prev.Updated.IsZero() {
			m.Updated = prev.Updated
		}
	}
	if err := f.write(src, body, &m); err != nil {
		return State{}, err
	}
	st := m.state()
	st.NotModified = same
	return st, nil
}

// write replaces the copy (unless body is nil) and then its meta, each by
// rename of a complete temporary file in the same directory, so a reader
// or a crash sees the old file or the new one, never part of one. The meta
// goes last: if a crash falls between, loadCopy sees that the meta does not
// describe the copy and ignores it.
func (f *Fetcher) write(src Source, body []byte, m *meta) error {
	metaJSON, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("remote list %s: encoding metadata: %w", src.URL, err)
	}
	type file struct{ tmp, final string }
	var files []file
	defer func() { // whatever was not renamed into place
		for _, fl := range files {
			os.Remove(fl.tmp)
		}
	}()
	if body != nil {
		tmp, err := stage(f.CachePath(src), body)
		if err != nil {
			return fmt.Errorf("remote list %s: storing copy: %w", src.URL, err)
		}
		files = append(files, file{tmp, f.CachePath(src)})
	}
	tmp, err := stage(f.metaPath(src), append(metaJSON, '\n'))
	if err != nil {
		return fmt.Errorf("remote list %s: storing metadata: %w", src.URL, err)
	}
	files = append(files, file{tmp, f.metaPath(src)})
	for len(files) > 0 {
		if err := os.Rename(files[0].tmp, files[0].final); err != nil {
			return fmt.Errorf("remote list %s: storing copy: %w", src.URL, err)
		}
		files = files[1:]
	}
	syncDir(f.opts.CacheDir)
	return nil
}

// stage writes data to a new temporary file next to final and flushes it
// to disk, so the rename that follows cannot expose an empty file after a
// power loss.
func stage(final string, data []byte) (string, error) {
	t, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+tempMarker+"*")
	if err != nil {
		return "", err
	}
	_, err = t.Write(data)
	if err == nil {
		err = t.Chmod(0o640) // CreateTemp makes 0600; the dijk group may read lists
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(t.Name())
		return "", err
	}
	return t.Name(), nil
}

// syncDir makes the renames durable. Best effort: they are already visible
// to this process, and some filesystems cannot sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
