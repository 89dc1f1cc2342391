// Package lists loads the configured block lists into a trie, on start and
// on every reload, and reports what it loaded. A reload that fails leaves the
// trie in force untouched.
package lists

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/policy"
	"github.com/dijk-dns/dijk/internal/remote"
)

// Options configures a Manager.
type Options struct {
	// Sources are block list references: "builtin:NAME" or file paths.
	Sources []string
	// Allow are allowlist references, in the same forms: exceptions that
	// win over blocks at the same or a less specific name.
	Allow []string
	// Groups are the policy groups, each with its own lists.
	Groups []GroupSources
	// Fetcher returns the fetcher for https:// sources; it is called on
	// first need, so a policy without remote lists needs no cache dir.
	Fetcher func() (*remote.Fetcher, error)
	// CacheDir keeps the last good copy of zones transferred from axfr://
	// sources; AXFRKey ("name:algorithm:base64secret") signs the requests.
	CacheDir string
	AXFRKey  string
	// Builtin holds the lists compiled into the binary.
	Builtin    fs.FS
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Status is one list's state, for the SOC console.
type Status struct {
	Source   string
	Entries  int
	Updated  time.Time // last successful load
	Failures int       // failed loads since start
	Error    string    // why the last load failed, if it did
}

// Manager loads lists.
type Manager struct {
	mu      sync.Mutex
	status  []Status
	remotes map[string]remote.State // by URL, from the last load
	fetcher *remote.Fetcher

	opts    Options
	log     *slog.Logger
	entries *prometheus.GaugeVec
	skipped *prometheus.GaugeVec
	reloads *prometheus.CounterVec
	lastOK  prometheus.Gauge
}

// New registers the list metrics.
func New(opts Options) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &Manager{
		opts: opts,
		log:  opts.Logger,
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dijk", Subsystem: "list", Name: "entries",
			Help: "Entries loaded from each list.",
		}, []string{"list"}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "dijk", Subsystem: "list", Name: "skipped_lines",
			Help: "Malformed lines skipped in each list at the last load.",
		}, []string{"list"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "dijk", Subsystem: "list", Name: "loads_total",
			Help: "List loads, by result (success, failure).",
		}, []string{"result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "dijk", Subsystem: "list", Name: "last_success_timestamp_seconds",
			Help: "Unix time of the last successful list load.",
		}),
	}
	// Both results exist from the start, so increase() sees the first failure.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	for _, c := range []prometheus.Collector{m.entries, m.skipped, m.reloads, m.lastOK} {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("register list metrics: %w", err)
		}
	}
	return m, nil
}

// Sources are the list references in force: the default group's block and
// allow lists, and each policy group's.
type Sources struct {
	Block, Allow []string
	Groups       []GroupSources
}

// GroupSources is one policy group as configured.
type GroupSources struct {
	Name         string
	Clients      []netip.Prefix
	Block, Allow []string
	Sinkhole     policy.Sinkhole
}

// Loaded is a complete policy, built aside before it is swapped in.
type Loaded struct {
	Block, Allow *blocklist.Trie
	Groups       []policy.Group
}

// SetSources replaces the lists the next Load reads, and returns the old
// ones so a caller can restore them when that load fails.
func (m *Manager) SetSources(src Sources) Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := Sources{Block: m.opts.Sources, Allow: m.opts.Allow, Groups: m.opts.Groups}
	m.opts.Sources, m.opts.Allow, m.opts.Groups = src.Block, src.Allow, src.Groups
	return old
}

func (m *Manager) sources() Sources {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Sources{Block: m.opts.Sources, Allow: m.opts.Allow, Groups: m.opts.Groups}
}

// Load reads every block and allow source and returns the new tries.
// Malformed lines are logged with file:line and skipped; a missing source is
// an error.
func (m *Manager) Load() (Loaded, error) {
	src := m.sources()
	var (
		loaded   Loaded
		allInfos []blocklist.ListInfo
	)
	builtin, err := m.fetchRemotes(src)
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.recordFailure(err)
		return Loaded{}, fmt.Errorf("load lists: %w", err)
	}
	block, allow, infos, err := m.loadLists(src.Block, src.Allow, builtin)
	if err == nil {
		loaded.Block, loaded.Allow, allInfos = block, allow, infos
		for _, g := range src.Groups {
			var gb, ga *blocklist.Trie
			if gb, ga, infos, err = m.loadLists(g.Block, g.Allow, builtin); err != nil {
				err = fmt.Errorf("group %s: %w", g.Name, err)
				break
			}
			loaded.Groups = append(loaded.Groups, policy.Group{Name: g.Name, Clients: g.Clients, Block: gb, Allow: ga, Sinkhole: g.Sinkhole})
			allInfos = append(allInfos, infos...)
		}
	}
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.recordFailure(err)
		return Loaded{}, fmt.Errorf("load lists: %w", err)
	}
	allInfos = uniqueInfos(allInfos)
	m.recordSuccess(allInfos)
	m.entries.Reset()
	m.skipped.Reset()
	for _, info := range allInfos {
		m.entries.WithLabelValues(info.Source).Set(float64(info.Entries))
		m.skipped.WithLabelValues(info.Source).Set(float64(info.Warnings))
		m.log.Info("loaded list", "list", info.Source, "format", info.Format.String(), "version", info.Version,
			"entries", info.Entries, "exceptions", info.AllowEntries, "skipped", info.Warnings)
	}
	m.reloads.WithLabelValues("success").Inc()
	m.lastOK.Set(float64(m.opts.Now().Unix()))
	// Parsing leaves a string per line behind, as much again as a large
	// list's names: hand it back to the system now rather than keep it
	// resident until the heap next doubles. The tries hold no pointers,
	// so this collection is short even for a million entries.
	debug.FreeOSMemory()
	return loaded, nil
}

// fetchRemotes brings every https:// source up to date and returns the
// list FS that reads them from their local copies. A failed download keeps
// the last good copy (reported in Remote); only a source with no copy at
// all fails the load.
func (m *Manager) fetchRemotes(src Sources) (fs.FS, error) {
	all := slices.Concat(src.Block, src.Allow)
	for _, g := range src.Groups {
		all = slices.Concat(all, g.Block, g.Allow)
	}
	fetched := map[string]string{}
	states := map[string]remote.State{}
	for _, s := range all {
		loc := remoteLocation(s)
		if loc == "" || fetched[loc] != "" {
			continue
		}
		if strings.HasPrefix(loc, "axfr://") {
			path, err := m.transferZone(loc)
			if err != nil {
				return nil, err
			}
			fetched[loc] = path
			continue
		}
		f, err := m.remoteFetcher()
		if err != nil {
			return nil, err
		}
		rs, err := remote.ParseSource(loc)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		path, st, err := f.Fetch(ctx, rs)
		cancel()
		if err != nil {
			return nil, err
		}
		if st.Err != nil {
			m.log.Warn("remote list not updated; using the last good copy", "list", rs.URL, "err", st.Err)
		}
		fetched[loc], states[loc] = path, st
	}
	m.mu.Lock()
	m.remotes = states
	m.mu.Unlock()
	return blocklist.WithFetched(m.opts.Builtin, fetched), nil
}

func (m *Manager) remoteFetcher() (*remote.Fetcher, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fetcher != nil {
		return m.fetcher, nil
	}
	if m.opts.Fetcher == nil {
		return nil, fmt.Errorf("remote lists are not available")
	}
	f, err := m.opts.Fetcher()
	if err != nil {
		return nil, err
	}
	m.fetcher = f
	return f, nil
}

// remoteLocation returns the URL of a remote source, or "".
func remoteLocation(source string) string {
	if !blocklist.IsRemote(source) {
		return ""
	}
	return blocklist.SourceLocation(source)
}

// HasRemote reports whether any source is an https:// list.
func (s Sources) HasRemote() bool {
	all := slices.Concat(s.Block, s.Allow)
	for _, g := range s.Groups {
		all = slices.Concat(all, g.Block, g.Allow)
	}
	return slices.ContainsFunc(all, func(src string) bool { return remoteLocation(src) != "" })
}

// CurrentSources returns the lists in force.
func (m *Manager) CurrentSources() Sources { return m.sources() }

// Remote describes each remote list as of the last load, for /readyz: when
// its copy was updated and fetched, and the last error. A rejected download
// (checksum or signature) is marked REJECTED.
func (m *Manager) Remote() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	for url, st := range m.remotes {
		line := fmt.Sprintf("remote %s: sha256 %.12s, updated %s, fetched %s", url, st.SHA256,
			st.Updated.UTC().Format(time.RFC3339), st.Fetched.UTC().Format(time.RFC3339))
		if st.Err != nil {
			var rej *remote.RejectedError
			if errors.As(st.Err, &rej) {
				line = "REJECTED " + line
			}
			line += "; last error: " + st.Err.Error()
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return lines
}

// loadLists builds one block and one allow trie and logs skipped lines.
func (m *Manager) loadLists(block, allow []string, builtin fs.FS) (*blocklist.Trie, *blocklist.Trie, []blocklist.ListInfo, error) {
	b, a, infos, warnings, err := blocklist.LoadPolicy(block, allow, builtin)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range warnings {
		m.log.Warn("skipped list line", "problem", w.String())
	}
	return b, a, infos, nil
}

// uniqueInfos keeps the first report of each source: groups often share
// lists, and each list is one metric series.
func uniqueInfos(infos []blocklist.ListInfo) []blocklist.ListInfo {
	seen := map[string]bool{}
	out := infos[:0]
	for _, info := range infos {
		if !seen[info.Source] {
			seen[info.Source] = true
			out = append(out, info)
		}
	}
	return out
}

// Status reports every configured list as of the last load.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.status)
}

func (m *Manager) recordSuccess(infos []blocklist.ListInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	failures := make(map[string]int, len(m.status))
	for _, st := range m.status {
		failures[st.Source] = st.Failures
	}
	now := m.opts.Now()
	m.status = m.status[:0]
	for _, info := range infos {
		st := Status{Source: info.Source, Entries: info.Entries, Updated: now, Failures: failures[info.Source]}
		if rs, ok := m.remotes[remoteLocation(info.Source)]; ok && rs.Err != nil {
			st.Error = "serving the last good copy: " + rs.Err.Error()
		}
		m.status = append(m.status, st)
	}
}

// recordFailure marks every list as failed: a load is all or nothing.
func (m *Manager) recordFailure(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.status) == 0 {
		for _, src := range slices.Concat(m.opts.Sources, m.opts.Allow) { // under m.mu already
			m.status = append(m.status, Status{Source: src})
		}
	}
	for i := range m.status {
		m.status[i].Failures++
		m.status[i].Error = err.Error()
	}
}

// Reload loads the lists and hands the new policy to apply; on failure
// apply is not called, so the running policy stays in force.
func (m *Manager) Reload(apply func(Loaded) error) error {
	loaded, err := m.Load()
	if err == nil {
		err = apply(loaded)
	}
	if err != nil {
		m.log.Error("list reload failed; keeping the lists in force", "err", err)
		return err
	}
	m.log.Info("lists reloaded", "rules", loaded.Block.Len(), "exceptions", loaded.Allow.Len(), "groups", len(loaded.Groups))
	debug.FreeOSMemory() // the lists just replaced, as in Load
	return nil
}

// LoadIPRules reads policy.block_ips: each entry is a CIDR or an IP, or the
// path of a file with one CIDR or IP per line ('#' comments). A malformed
// line is logged with file:line and skipped; a missing file is an error.
func (m *Manager) LoadIPRules(entries []string) ([]policy.IPRule, error) {
	var rules []policy.IPRule
	for _, e := range entries {
		if p, ok := parsePrefix(e); ok {
			rules = append(rules, policy.IPRule{Prefix: p, Source: "policy.block_ips"})
			continue
		}
		fileRules, err := m.loadIPFile(e)
		if err != nil {
			return nil, err
		}
		rules = append(rules, fileRules...)
	}
	return rules, nil
}

func (m *Manager) loadIPFile(path string) ([]policy.IPRule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy.block_ips: %w", err)
	}
	defer f.Close()
	var rules []policy.IPRule
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		p, ok := parsePrefix(text)
		if !ok {
			m.log.Warn("skipped block_ips line", "problem", fmt.Sprintf("%s:%d: %q is neither a CIDR nor an IP address", path, line, text))
			continue
		}
		rules = append(rules, policy.IPRule{Prefix: p, Source: path, Line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("policy.block_ips %s: %w", path, err)
	}
	return rules, nil
}

// parsePrefix reads a CIDR (masked) or a single address.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}
