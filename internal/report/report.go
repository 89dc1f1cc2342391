// Package report summarises Dijk hit logs for the SOC: which devices still
// try to reach blocked services, since when, and how often.
//
// An Aggregator streams hit-log files (plain, rotated or gzip, detected by
// the magic bytes) line by line and keeps only aggregates, so memory grows
// with the number of distinct devices, names and device/name pairs, each of
// which is capped; it never grows with the number of lines. Lines that are
// too long, not JSON, or lack a needed field are skipped and counted, never
// fatal; lines of another dataset (the query log) are filtered out. Result then produces the three sections (devices, top names, hits
// per hour), which WriteTable, WriteCSV and WriteJSON render.
//
// CSV layout: one CSV document with a header row and a leading section
// column, so a spreadsheet or `csvgrep -c section -m devices` can split it:
//
//	section,key,count,devices,first_seen,last_seen,names,more
//	summary,lines_read,N          (also lines_skipped, lines_filtered, hits,
//	                               other_device_hits, other_name_hits)
//	summary,window,,,SINCE,UNTIL  (empty bound: unbounded)
//	filter,group|list|kind,,,,,VALUE (only when the filter is set)
//	devices,IP,HITS,,FIRST,LAST,NAME NAME ...,N (N names not listed)
//	top_names,NAME,HITS,DEVICES,FIRST,LAST,,
//	per_hour,HOUR,HITS,,,,,
//	note,TEXT,,,,,,
//
// Times are RFC 3339 in UTC, to the second (JSON keeps nanoseconds). Names
// in the names column are separated by spaces, which DNS names in a hit log
// never contain (the resolver escapes them as \032). Query names are chosen
// by clients, so a cell starting with = + - @ gets a leading ' to stop
// spreadsheets from evaluating it.
//
// JSON layout: one indented object with window {since, until} (null when
// open), filters, lines_read, lines_skipped, lines_filtered, hits, devices
// [{client_ip, first_seen, last_seen, count, names [{name, count}],
// names_more}], top_names [{name, count, devices, first_seen, last_seen}],
// per_hour [{hour, count}], distinct_names, other_device_hits,
// other_name_hits, other_hour_hits, notes and input_errors.
package report

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultTop            = 20
	DefaultNamesPerDevice = 20
	DefaultMaxDevices     = 100_000
	DefaultMaxNames       = 100_000
	DefaultMaxPairs       = 1_000_000
	DefaultMaxHours       = 10 * 366 * 24
	DefaultMaxLineBytes   = 64 << 10
	DefaultMaxWarnings    = 5
	DefaultProgressEvery  = 250 * time.Millisecond
)

// Options configures an Aggregator. Zero values mean the defaults above.
type Options struct {
	// Since and Until bound the window: Since <= @timestamp < Until. A zero
	// time leaves that side open.
	Since, Until time.Time
	// Group keeps only lines of this policy group; "default" also matches
	// lines without a group. Empty keeps all groups.
	Group string
	// List keeps only lines whose dijk.list or rule.ruleset equals it.
	// Empty keeps all lists.
	List string
	// Kind keeps only lines of this dijk.kind: "block" (also lines without
	// a kind, written before kinds existed) or "bypass". Empty keeps both.
	Kind string

	// Top is how many names the top-names section lists.
	Top int
	// NamesPerDevice is how many names a device row lists; the rest are
	// counted as "+N more".
	NamesPerDevice int

	// The caps that bound memory. Hits beyond MaxDevices or MaxNames
	// still count in the totals; beyond MaxPairs, names per device and
	// devices per name become lower bounds. Each cap that is hit adds a
	// note to the Result.
	MaxDevices, MaxNames, MaxPairs int
	// MaxHours caps the hours in the per-hour section.
	MaxHours int
	// MaxLineBytes is the longest line read, newline excluded; longer
	// lines are skipped.
	MaxLineBytes int

	// Warnings receives one message per skipped line, file:line first, for
	// the first MaxWarnings of them (negative: none). Nil discards them.
	Warnings    io.Writer
	MaxWarnings int

	// Progress, when set, receives a self-overwriting status line (lines
	// and MB read) at most every ProgressEvery; it is cleared when a file
	// is done. Set it only for a terminal.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Now is the clock for progress; nil means time.Now.
	Now func() time.Time

	// Stdin is read for the file name "-".
	Stdin io.Reader
}

// Aggregator accumulates hit-log lines. It is not safe for concurrent use.
type Aggregator struct {
	opts               Options
	since, until       int64 // Unix ns; valid when hasSince, hasUntil
	hasSince, hasUntil bool

	sc scanner
	f  fields

	// Strings are interned here: a device's or name's bytes are copied
	// once, when first seen; lookups with string(b) do not allocate.
	devIdx  map[string]int32
	devs    []devStat
	nameIdx map[string]int32
	names   []nameStat
	pairs   map[uint64]int64 // device index<<32 | name index -> hits
	hours   map[int64]int64  // hour since the epoch -> hits

	// The current hour's count is kept aside: logs are in time order, so
	// this saves a map update per line.
	curHour, curHourHits int64

	read, skipped, filtered, hits          int64
	otherDev, otherName, otherHour, noPair int64
	otherDataset                           int64
	warned                                 int
	errs                                   []string

	// Reading state, reused across files.
	plain, lines *bufio.Reader
	gz           *gzip.Reader
	bytesRead    int64
	lastProgress time.Time
	progressOn   bool
}

type devStat struct {
	ip          string
	first, last int64
	hits        int64
}

type nameStat struct {
	name        string
	first, last int64
	hits        int64
	devices     int
}

// New returns an empty Aggregator.
func New(opts Options) *Aggregator {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opts.Top, DefaultTop)
	def(&opts.NamesPerDevice, DefaultNamesPerDevice)
	def(&opts.MaxDevices, DefaultMaxDevices)
	def(&opts.MaxNames, DefaultMaxNames)
	def(&opts.MaxPairs, DefaultMaxPairs)
	def(&opts.MaxHours, DefaultMaxHours)
	def(&opts.MaxLineBytes, DefaultMaxLineBytes)
	if opts.MaxWarnings == 0 {
		opts.MaxWarnings = DefaultMaxWarnings
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = DefaultProgressEvery
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Aggregator{
		opts:    opts,
		devIdx:  make(map[string]int32),
		nameIdx: make(map[string]int32),
		pairs:   make(map[uint64]int64),
		hours:   make(map[int64]int64),
	}
	if !opts.Since.IsZero() {
		a.since, a.hasSince = clampNS(opts.Since), true
	}
	if !opts.Until.IsZero() {
		a.until, a.hasUntil = clampNS(opts.Until), true
	}
	return a
}

// clampNS is t in Unix nanoseconds, saturated instead of overflowing.
func clampNS(t time.Time) int64 {
	if t.Before(time.Unix(0, math.MinInt64)) {
		return math.MinInt64
	}
	if t.After(time.Unix(0, math.MaxInt64)) {
		return math.MaxInt64
	}
	return t.UnixNano()
}

// ReadFile reads one input: a file name, or "-" for Options.Stdin (named
// "stdin" in messages). A failure is returned and also recorded in the
// Result.
func (a *Aggregator) ReadFile(name string) error {
	if name == "-" {
		if a.opts.Stdin == nil {
			return a.fail(errors.New("stdin: no standard input"))
		}
		return a.Read("stdin", a.opts.Stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return a.fail(fmt.Errorf("hit log: %w", err)) // err names the file
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return a.fail(fmt.Errorf("%s: is a directory", name))
	}
	return a.Read(name, f)
}

func (a *Aggregator) fail(err error) error {
	a.errs = append(a.errs, err.Error())
	return err
}

// Read aggregates one stream, gzip or plain; name labels its messages. A
// read or decompression error stops this stream (what was read so far
// counts) and is returned and recorded in the Result.
func (a *Aggregator) Read(name string, r io.Reader) error {
	defer a.clearProgress()
	bufSize := a.opts.MaxLineBytes + 1 // the newline
	src := &countingReader{r: r, n: &a.bytesRead}
	if a.plain == nil {
		a.plain = bufio.NewReaderSize(src, bufSize)
	} else {
		a.plain.Reset(src)
	}
	lines := a.plain
	magic, err := a.plain.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return a.fail(fmt.Errorf("%s: read: %w", name, err))
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		if a.gz == nil {
			a.gz, err = gzip.NewReader(a.plain)
		} else {
			err = a.gz.Reset(a.plain)
		}
		if err != nil {
			return a.fail(fmt.Errorf("%s: gzip: %w", name, err))
		}
		if a.lines == nil {
			a.lines = bufio.NewReaderSize(a.gz, bufSize)
		} else {
			a.lines.Reset(a.gz)
		}
		lines = a.lines
	}
	no := 0 // line number, for messages
	for {
		line, err := lines.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			no++
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lines.ReadSlice('\n')
			}
			a.read++
			a.skip(name, no, rTooLong, nil)
		} else if len(line) > 0 {
			no++
			a.line(name, no, line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return a.fail(fmt.Errorf("%s:%d: read: %w", name, no+1, err))
		}
		if a.opts.Progress != nil && no%1024 == 0 {
			a.progress(name)
		}
	}
}

// line aggregates one line, newline included.
func (a *Aggregator) line(name string, no int, line []byte) {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if isBlank(line) {
		return // e.g. a trailing empty line; not worth a warning
	}
	a.read++
	f := &a.f
	if !a.sc.parse(line, f) {
		a.skip(name, no, a.sc.why, nil)
		return
	}
	for _, want := range [...]field{fTimestamp, fIP, fName} {
		if len(f.val[want]) == 0 {
			a.skip(name, no, rMissing, []byte(fieldName(want)))
			return
		}
	}
	ts, ok := parseTimestamp(f.val[fTimestamp])
	if !ok {
		a.skip(name, no, rTimestamp, f.val[fTimestamp])
		return
	}
	if ds := f.val[fDataset]; len(ds) > 0 && string(ds) != hitsDataset {
		// The query log shares the layout; its allowed queries are no hits.
		a.otherDataset++
		a.filtered++
		return
	}
	if (a.hasSince && ts < a.since) || (a.hasUntil && ts >= a.until) || !a.wanted(f) {
		a.filtered++
		return
	}
	a.hits++
	a.add(ts, f.val[fIP], f.val[fName])
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// hitsDataset is the hit log's event.dataset.
const hitsDataset = "dijk.hits"

// kindBlock is what a line without dijk.kind is.
const kindBlock = "block"

// wanted applies the group, list and kind filters.
func (a *Aggregator) wanted(f *fields) bool {
	if g := a.opts.Group; g != "" {
		got := f.val[fGroup]
		if len(got) == 0 {
			got = []byte(defaultGroup)
		}
		if string(got) != g {
			return false
		}
	}
	if l := a.opts.List; l != "" && string(f.val[fList]) != l && string(f.val[fRuleset]) != l {
		return false
	}
	if k := a.opts.Kind; k != "" {
		got := f.val[fKind]
		if len(got) == 0 {
			got = []byte(kindBlock)
		}
		if string(got) != k {
			return false
		}
	}
	return true
}

// defaultGroup is how lines without a policy group are shown and filtered.
const defaultGroup = "default"

func (a *Aggregator) add(ts int64, ip, name []byte) {
	hour := floorDiv(ts, int64(time.Hour))
	if hour != a.curHour || a.curHourHits == 0 {
		a.flushHour()
		a.curHour = hour
	}
	a.curHourHits++

	dev, ok := a.devIdx[string(ip)]
	if !ok {
		if len(a.devs) >= a.opts.MaxDevices {
			dev = -1
			a.otherDev++
		} else {
			s := string(ip)
			dev = int32(len(a.devs))
			a.devIdx[s] = dev
			a.devs = append(a.devs, devStat{ip: s, first: ts, last: ts})
		}
	}
	if dev >= 0 {
		d := &a.devs[dev]
		d.hits++
		d.first, d.last = min(d.first, ts), max(d.last, ts)
	}

	n, ok := a.nameIdx[string(name)]
	if !ok {
		if len(a.names) >= a.opts.MaxNames {
			n = -1
			a.otherName++
		} else {
			s := string(name)
			n = int32(len(a.names))
			a.nameIdx[s] = n
			a.names = append(a.names, nameStat{name: s, first: ts, last: ts})
		}
	}
	if n >= 0 {
		s := &a.names[n]
		s.hits++
		s.first, s.last = min(s.first, ts), max(s.last, ts)
	}

	if dev < 0 || n < 0 {
		return
	}
	key := uint64(dev)<<32 | uint64(n)
	if c, ok := a.pairs[key]; ok {
		a.pairs[key] = c + 1
	} else if len(a.pairs) < a.opts.MaxPairs {
		a.pairs[key] = 1
		a.names[n].devices++
	} else {
		a.noPair++
	}
}

// flushHour moves the current hour's count into the map.
func (a *Aggregator) flushHour() {
	if a.curHourHits == 0 {
		return
	}
	if c, ok := a.hours[a.curHour]; ok || len(a.hours) < a.opts.MaxHours {
		a.hours[a.curHour] = c + a.curHourHits
	} else {
		a.otherHour += a.curHourHits
	}
	a.curHourHits = 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// skip counts a rejected line and describes it while warnings remain.
func (a *Aggregator) skip(name string, no int, why reason, detail []byte) {
	a.skipped++
	if a.opts.Warnings == nil || a.opts.MaxWarnings < 0 || a.warned >= a.opts.MaxWarnings {
		return
	}
	a.warned++
	a.clearProgress()
	var msg string
	switch why {
	case rSyntax:
		msg = fmt.Sprintf("invalid JSON at byte %d", a.sc.whyAt+1)
		if a.sc.whyAt >= len(a.sc.data) {
			msg = "invalid JSON: the line ends early"
		}
	case rDepth:
		msg = "JSON nested too deeply"
	case rNotObject:
		msg = "not a JSON object"
	case rType:
		msg = a.sc.typeError()
	case rMissing:
		msg = "no " + string(detail)
	case rTimestamp:
		msg = fmt.Sprintf("bad @timestamp %q", truncate(detail, 40))
	case rTooLong:
		msg = fmt.Sprintf("longer than %d bytes", a.opts.MaxLineBytes)
	}
	fmt.Fprintf(a.opts.Warnings, "%s:%d: skipped: %s\n", name, no, msg)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func (a *Aggregator) progress(name string) {
	now := a.opts.Now()
	if a.progressOn && now.Sub(a.lastProgress) < a.opts.ProgressEvery {
		return
	}
	a.lastProgress = now
	a.progressOn = true
	// \r and erase-line redraw in place on a terminal.
	fmt.Fprintf(a.opts.Progress, "\r\x1b[K%s: %d lines, %.1f MB read", name, a.read, float64(a.bytesRead)/1e6)
}

func (a *Aggregator) clearProgress() {
	if a.progressOn {
		fmt.Fprint(a.opts.Progress, "\r\x1b[K")
		a.progressOn = false
	}
}

type countingReader struct {
	r io.Reader
	n *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// Result is a finished report.
type Result struct {
	// The window and filters the report was made with; zero or empty when
	// unbounded.
	Since, Until      time.Time
	Group, List, Kind string

	// LinesRead counts non-blank lines; each was skipped (malformed or
	// too long), filtered out (outside the window or filters), or a hit.
	LinesRead, LinesSkipped, LinesFiltered, Hits int64

	// Devices lists every tracked device, most hits first.
	Devices []Device
	// TopNames lists the most-hit names, at most Options.Top of them.
	TopNames []Name
	// DistinctNames counts the names tracked (at most MaxNames).
	DistinctNames int
	// PerHour covers every hour from the first hit to the last, zero hours
	// included (only non-zero hours if that span exceeds MaxHours).
	PerHour []Hour

	// Hits on devices, names or hours beyond their caps.
	OtherDeviceHits, OtherNameHits, OtherHourHits int64

	// Notes explain caps that were hit and incomplete inputs.
	Notes []string
	// InputErrors lists inputs that could not be read completely.
	InputErrors []string
}

// Device is one client address.
type Device struct {
	IP          string
	First, Last time.Time
	Hits        int64
	// Names are the names it asked for, most hits first, at most
	// NamesPerDevice; More counts the other distinct names.
	Names []NameCount
	More  int
}

// NameCount is a name and how often a device asked for it.
type NameCount struct {
	Name string
	Hits int64
}

// Name is one query name across all devices.
type Name struct {
	Name        string
	Hits        int64
	Devices     int
	First, Last time.Time
}

// Hour is the hits in the hour starting at Hour (UTC).
type Hour struct {
	Hour time.Time
	Hits int64
}

// Result builds the report from what has been read so far.
func (a *Aggregator) Result() *Result {
	a.flushHour()
	r := &Result{
		Since: a.opts.Since, Until: a.opts.Until,
		Group: a.opts.Group, List: a.opts.List, Kind: a.opts.Kind,
		LinesRead: a.read, LinesSkipped: a.skipped, LinesFiltered: a.filtered, Hits: a.hits,
		DistinctNames:   len(a.names),
		OtherDeviceHits: a.otherDev, OtherNameHits: a.otherName, OtherHourHits: a.otherHour,
		InputErrors: slices.Clone(a.errs),
	}
	r.Devices = a.devices()
	r.TopNames = a.topNames()
	r.PerHour = a.perHour(r)
	if a.otherDev > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("device cap of %d reached: %d hits from further devices count in the totals and in hits per name, but not in the device list or devices per name (raise --max-devices)", a.opts.MaxDevices, a.otherDev))
	}
	if a.otherName > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("name cap of %d reached: %d hits on further names count in the totals and in hits per device, but not in the name lists (raise --max-names)", a.opts.MaxNames, a.otherName))
	}
	if a.noPair > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("device/name pair cap of %d reached: names per device and devices per name are lower bounds (raise --max-pairs)", a.opts.MaxPairs))
	}
	if a.otherHour > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("hour cap of %d reached: %d hits in further hours are not in the per-hour section", a.opts.MaxHours, a.otherHour))
	}
	if a.otherDataset > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d lines of another dataset than %s (such as the query log) were ignored", a.otherDataset, hitsDataset))
	}
	if n := len(a.errs); n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d input(s) could not be read completely; the report covers what was read", n))
	}
	return r
}

func toTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func (a *Aggregator) devices() []Device {
	// Bucket the pairs by device with a counting sort: one allocation
	// for all name lists.
	start := make([]int, len(a.devs)+1)
	for k := range a.pairs {
		start[k>>32+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	all := make([]NameCount, len(a.pairs))
	next := slices.Clone(start[:len(a.devs)])
	for k, hits := range a.pairs {
		d := k >> 32
		all[next[d]] = NameCount{Name: a.names[uint32(k)].name, Hits: hits}
		next[d]++
	}
	out := make([]Device, len(a.devs))
	addrs := make([]netip.Addr, len(a.devs))
	for i, d := range a.devs {
		names := all[start[i]:start[i+1]]
		slices.SortFunc(names, func(x, y NameCount) int {
			if x.Hits != y.Hits {
				return cmpDesc(x.Hits, y.Hits)
			}
			return strings.Compare(x.Name, y.Name)
		})
		keep := min(len(names), a.opts.NamesPerDevice)
		out[i] = Device{
			IP: d.ip, First: toTime(d.first), Last: toTime(d.last), Hits: d.hits,
			Names: names[:keep:keep], More: len(names) - keep,
		}
		addrs[i], _ = netip.ParseAddr(d.ip)
	}
	// Sort indexes so the parsed addresses travel with their devices.
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if out[i].Hits != out[j].Hits {
			return cmpDesc(out[i].Hits, out[j].Hits)
		}
		// Numeric address order; unparsable ones (never written by Dijk)
		// last, by text.
		ai, aj := addrs[i], addrs[j]
		if ai.IsValid() != aj.IsValid() {
			if ai.IsValid() {
				return -1
			}
			return 1
		}
		if c := ai.Compare(aj); c != 0 {
			return c
		}
		return strings.Compare(out[i].IP, out[j].IP)
	})
	sorted := make([]Device, len(out))
	for i, j := range order {
		sorted[i] = out[j]
	}
	return sorted
}

func cmpDesc(x, y int64) int {
	switch {
	case x > y:
		return -1
	case x < y:
		return 1
	}
	return 0
}

func (a *Aggregator) topNames() []Name {
	order := make([]int32, len(a.names))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(i, j int32) int {
		x, y := &a.names[i], &a.names[j]
		if x.hits != y.hits {
			return cmpDesc(x.hits, y.hits)
		}
		return strings.Compare(x.name, y.name)
	})
	order = order[:min(len(order), a.opts.Top)]
	out := make([]Name, len(order))
	for i, j := range order {
		n := &a.names[j]
		out[i] = Name{Name: n.name, Hits: n.hits, Devices: n.devices, First: toTime(n.first), Last: toTime(n.last)}
	}
	return out
}

func (a *Aggregator) perHour(r *Result) []Hour {
	if len(a.hours) == 0 {
		return []Hour{}
	}
	keys := make([]int64, 0, len(a.hours))
	for h := range a.hours {
		keys = append(keys, h)
	}
	slices.Sort(keys)
	first, last := keys[0], keys[len(keys)-1]
	hourTime := func(h int64) time.Time { return time.Unix(h*3600, 0).UTC() }
	if last-first >= int64(a.opts.MaxHours) {
		r.Notes = append(r.Notes, fmt.Sprintf("hits span more than %d hours: the per-hour section lists only hours with hits", a.opts.MaxHours))
		out := make([]Hour, len(keys))
		for i, h := range keys {
			out[i] = Hour{Hour: hourTime(h), Hits: a.hours[h]}
		}
		return out
	}
	out := make([]Hour, 0, last-first+1)
	for h := first; h <= last; h++ {
		out = append(out, Hour{Hour: hourTime(h), Hits: a.hours[h]})
	}
	return out
}
