package blocklist

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// builtinPrefix marks a list shipped inside the binary: "builtin:NAME" is NAME.txt.
const builtinPrefix = "builtin:"

// ListInfo describes one loaded source.
type ListInfo struct {
	Source string
	// Format is the syntax the source was read as: what its prefix says, or
	// what DetectFormat chose, so a misdetected list shows in the logs.
	Format   Format
	Entries  int // entries loaded, exceptions included
	Warnings int
	// Version identifies the list's content: the first 12 hex digits of its
	// SHA-256. Hit logs carry it, so the SOC can tell which list version
	// caused a block.
	Version string
	// AllowEntries is how many of Entries are exceptions: all of an allow
	// source's, and a block source's "@@" and rpz-passthru entries.
	AllowEntries int
}

// listSpec is a source reference taken apart.
type listSpec struct {
	source   string // as configured: the name in infos, warnings and rules
	location string // a path, or "builtin:NAME"
	format   Format // from the "FORMAT:" prefix; FormatAuto if none
	// legacy reads a builtin list without a prefix as Parse does: the
	// shipped lists are plain, and a stray "*.name" in them is a bug to
	// report, not a rule to load.
	legacy bool
}

// parseSpec splits "FORMAT:LOCATION" ("hosts:/etc/hosts.block"); a source
// without a known format name before its first colon is a location.
// SourceLocation returns where a list source lives once its optional
// format prefix ("hosts:", "rpz:", ...) is removed: a path, "builtin:NAME",
// or a remote URL.
func SourceLocation(source string) string {
	return parseSpec(source).location
}

// IsRemote reports whether a source is fetched over the network
// (https://, http://, axfr://) rather than read from disk or the binary.
func IsRemote(source string) bool {
	loc := SourceLocation(source)
	return strings.HasPrefix(loc, "https://") || strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "axfr://")
}

func parseSpec(source string) listSpec {
	spec := listSpec{source: source, location: source}
	if prefix, rest, ok := strings.Cut(source, ":"); ok && prefix+":" != builtinPrefix {
		if f, err := ParseFormatName(prefix); err == nil {
			spec.format, spec.location = f, rest
			return spec
		}
	}
	spec.legacy = strings.HasPrefix(source, builtinPrefix)
	return spec
}

// Load reads every source in order and builds one trie. A source is "builtin:NAME" (NAME.txt in
// builtin) or a file path, optionally after a format prefix ("hosts:/path", "adblock:", "rpz:",
// "plain:", "auto:"). A path without a prefix is read in the format DetectFormat picks; a builtin
// list without one in the plain format as Parse reads it. An unknown builtin name (the error lists
// the available ones), a missing or unreadable file is an error naming the source. Malformed and
// unsupported lines are returned as warnings.
//
// Load builds a block trie only: exceptions in a source ("@@||name^", rpz-passthru) are skipped
// with a warning. LoadPolicy applies them.
//
// Any source failing fails the whole load: a partial trie would quietly
// unblock what the missing list covers, so the caller should keep serving
// the previous trie instead.
func Load(sources []string, builtin fs.FS) (*Trie, []ListInfo, []Warning, error) {
	block, _, infos, warnings, err := load(sources, nil, builtin, false)
	return block, infos, warnings, err
}

// LoadPolicy loads the block and allow sources (named as for Load) into a
// block trie and an allow trie. Exceptions found in block sources ("@@||name^",
// RPZ rpz-passthru) go into the allow trie; every entry of an allow source is
// an exception, whatever its syntax says, so a block list can serve as an
// allow list unchanged. infos holds the block sources, then the allow ones.
// Errors are as for Load; allowTrie is empty, not nil, without exceptions.
func LoadPolicy(block, allow []string, builtin fs.FS) (blockTrie, allowTrie *Trie, infos []ListInfo, warnings []Warning, err error) {
	return load(block, allow, builtin, true)
}

func load(blockSources, allowSources []string, builtin fs.FS, exceptions bool) (*Trie, *Trie, []ListInfo, []Warning, error) {
	// Counting lines first sizes the trie: on a 1M-entry list, growing the
	// tables as entries arrive took longer and needed about 40% more peak
	// memory than reading the files twice.
	blockSize, err := sizeAll(blockSources, builtin)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	allowSize, err := sizeAll(allowSources, builtin)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	blockBuilder := newBuilder(blockSize)
	var allowBuilder *Builder
	if exceptions {
		allowBuilder = newBuilder(allowSize)
	}
	infos := make([]ListInfo, 0, len(blockSources)+len(allowSources))
	var warnings []Warning
	read := func(source string, emit func(*ListInfo, Entry) error) error {
		info := ListInfo{Source: source}
		listWarnings, err := loadSource(parseSpec(source), builtin, &info, func(e Entry) error {
			return emit(&info, e)
		})
		if err != nil {
			return err
		}
		blockBuilder.setVersion(source, info.Version)
		if allowBuilder != nil {
			allowBuilder.setVersion(source, info.Version)
		}
		info.Warnings = len(listWarnings)
		infos = append(infos, info)
		warnings = append(warnings, listWarnings...)
		return nil
	}
	for _, source := range blockSources {
		err := read(source, func(info *ListInfo, e Entry) error {
			if !e.Allow {
				blockBuilder.add(source, e) // the parsers return canonical names
				info.Entries++
				return nil
			}
			if allowBuilder == nil {
				return fmt.Errorf("exception for %q skipped: Load builds a block list only; load this list with LoadPolicy", e.Name)
			}
			e.Action = ActionDefault // an exception answers nothing itself
			allowBuilder.add(source, e)
			info.Entries++
			info.AllowEntries++
			return nil
		})
		if err != nil {
			return nil, nil, nil, nil, err
		}
	}
	for _, source := range allowSources {
		err := read(source, func(info *ListInfo, e Entry) error {
			e.Allow, e.Action = true, ActionDefault
			allowBuilder.add(source, e)
			info.Entries++
			info.AllowEntries++
			return nil
		})
		if err != nil {
			return nil, nil, nil, nil, err
		}
	}
	var allowTrie *Trie
	if allowBuilder != nil {
		allowTrie = allowBuilder.Build()
	}
	return blockBuilder.Build(), allowTrie, infos, warnings, nil
}

// listSize bounds what a list holds: no more entries than lines, and no
// more name bytes than file bytes (a name may grow when normalised, so
// both are hints only).
type listSize struct {
	lines, bytes int
}

func sizeAll(sources []string, builtin fs.FS) (listSize, error) {
	var total listSize
	for _, source := range sources {
		n, err := sizeOf(parseSpec(source), builtin)
		if err != nil {
			return listSize{}, err
		}
		total.lines += n.lines
		total.bytes += n.bytes
	}
	return total, nil
}

// sizeOf measures source if it is a regular file, and returns zero
// otherwise: a pipe cannot be read twice.
func sizeOf(spec listSpec, builtin fs.FS) (listSize, error) {
	if !isRegularFile(spec.location, builtin) {
		return listSize{}, nil // only a size hint: the parse pass reports real errors
	}
	f, err := openSource(spec.location, builtin)
	if err != nil {
		return listSize{}, fmt.Errorf("opening list %s: %w", spec.source, err)
	}
	defer f.Close() // read-only: a close error cannot lose data
	buf := make([]byte, 64<<10)
	size := listSize{lines: 1} // the last line may lack a newline
	for {
		n, err := f.Read(buf)
		size.lines += bytes.Count(buf[:n], []byte{'\n'})
		size.bytes += n
		switch {
		case errors.Is(err, io.EOF):
			return size, nil
		case err != nil:
			return listSize{}, fmt.Errorf("reading list %s: %w", spec.source, err)
		}
	}
}

// WithFetched lets LoadPolicy read remote sources (https:// URLs) from the
// local copies in fetched, URL → path, while rules and hit logs keep
// naming the URL.
func WithFetched(builtin fs.FS, fetched map[string]string) fs.FS {
	return withFetched{FS: builtin, fetched: fetched}
}

type withFetched struct {
	fs.FS
	fetched map[string]string
}

// localPath maps a remote source to its local copy.
func localPath(source string, builtin fs.FS) string {
	if wf, ok := builtin.(withFetched); ok {
		if p, ok := wf.fetched[source]; ok {
			return p
		}
	}
	return source
}

func isRegularFile(source string, builtin fs.FS) bool {
	source = localPath(source, builtin)
	var (
		info fs.FileInfo
		err  error
	)
	if name, isBuiltin := strings.CutPrefix(source, builtinPrefix); isBuiltin {
		if builtin == nil {
			return false
		}
		info, err = fs.Stat(builtin, name+".txt")
	} else {
		info, err = os.Stat(source)
	}
	return err == nil && info.Mode().IsRegular()
}

// loadSource parses one source, handing its entries to emit, and fills in
// info's Format and Version.
func loadSource(spec listSpec, builtin fs.FS, info *ListInfo, emit func(Entry) error) ([]Warning, error) {
	f, err := openSource(spec.location, builtin)
	if err != nil {
		return nil, fmt.Errorf("opening list %s: %w", spec.source, err)
	}
	defer f.Close() // read-only: a close error cannot lose data
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(f, h), maxLineLen)
	var p lineParser = plainParser{}
	info.Format = FormatPlain
	if !spec.legacy {
		if info.Format = spec.format; info.Format == FormatAuto {
			if info.Format, err = detectReader(br); err != nil {
				return nil, fmt.Errorf("loading list %s: %w", spec.source, err)
			}
		}
		if p, err = newParser(info.Format); err != nil {
			return nil, fmt.Errorf("loading list %s: %w", spec.source, err)
		}
	}
	warnings, err := parseLines(spec.source, br, p, emit)
	if err != nil {
		return nil, fmt.Errorf("loading list %s: %w", spec.source, err)
	}
	if _, err := io.Copy(h, f); err != nil { // parseLines may stop early on an I/O error only
		return nil, fmt.Errorf("loading list %s: %w", spec.source, err)
	}
	info.Version = hex.EncodeToString(h.Sum(nil))[:12]
	return warnings, nil
}

func openSource(source string, builtin fs.FS) (io.ReadCloser, error) {
	source = localPath(source, builtin)
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		return nil, errors.New("a remote list must be fetched first (no copy available)")
	}
	name, isBuiltin := strings.CutPrefix(source, builtinPrefix)
	if !isBuiltin {
		return os.Open(source)
	}
	if builtin == nil {
		return nil, errors.New("no builtin lists available")
	}
	f, err := builtin.Open(name + ".txt")
	if err == nil {
		return f, nil
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
		return nil, err
	}
	available, listErr := builtinNames(builtin)
	if listErr != nil {
		return nil, errors.Join(err, listErr)
	}
	return nil, fmt.Errorf("unknown builtin list %q (available: %s): %w", name, strings.Join(available, ", "), err)
}

// builtinNames lists the builtin sources, for the unknown-name error.
func builtinNames(builtin fs.FS) ([]string, error) {
	files, err := fs.Glob(builtin, "*.txt")
	if err != nil {
		return nil, fmt.Errorf("listing builtin lists: %w", err)
	}
	if len(files) == 0 {
		return []string{"none"}, nil
	}
	names := make([]string, len(files))
	for i, file := range files {
		names[i] = builtinPrefix + strings.TrimSuffix(file, ".txt")
	}
	return names, nil
}
