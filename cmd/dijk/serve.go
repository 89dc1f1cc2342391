package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dijk-dns/dijk/blocklists"
	"github.com/dijk-dns/dijk/internal/acl"
	"github.com/dijk-dns/dijk/internal/blocklist"
	"github.com/dijk-dns/dijk/internal/bypass"
	"github.com/dijk-dns/dijk/internal/cache"
	"github.com/dijk-dns/dijk/internal/config"
	"github.com/dijk-dns/dijk/internal/hitlog"
	"github.com/dijk-dns/dijk/internal/httpapi"
	"github.com/dijk-dns/dijk/internal/lists"
	"github.com/dijk-dns/dijk/internal/policy"
	"github.com/dijk-dns/dijk/internal/ratelimit"
	"github.com/dijk-dns/dijk/internal/remote"
	"github.com/dijk-dns/dijk/internal/rpzxfr"
	"github.com/dijk-dns/dijk/internal/server"
	"github.com/dijk-dns/dijk/internal/soc"
	"github.com/dijk-dns/dijk/internal/upstream"
	"github.com/dijk-dns/dijk/internal/watch"
)

// resolvConf is where default upstreams come from when none are configured.
const resolvConf = "/etc/resolv.conf"

// shutdownGrace bounds how long SIGTERM waits for in-flight queries.
const shutdownGrace = 10 * time.Second

func serveCommand(args, environ []string, stderr io.Writer) int {
	fs, ok, err := parseFlags("serve", args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dijk: %v\n", err)
		return exitFail
	}
	if !ok {
		return exitOK
	}
	cfg, err := config.Load(fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "dijk: config: %v\n", err)
		return exitFail
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.Log.Level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	inst, err := start(cfg, logger, os.Stdout)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitFail
	}
	logger.Info("dijk started", "version", version, "config", configName(cfg), "dns", inst.dnsAddrs())
	changed := make(chan struct{}, 1)
	stopWatch := inst.watch(ctx, cfg, changed)
	var refresh <-chan time.Time // nil: lists.refresh 0 never fires
	if cfg.Lists.Refresh > 0 {
		t := time.NewTicker(cfg.Lists.Refresh)
		defer t.Stop()
		refresh = t.C
	}
	for {
		select {
		case <-refresh:
			if inst.lists.CurrentSources().HasRemote() {
				_ = inst.reload() // conditional requests: unchanged lists cost a 304
			}
		case <-hup:
			inst.reloadConfig(func() (*config.Config, error) { return config.Load(fs, environ) })
		case <-changed:
			logger.Info("a configuration or list file changed; reloading")
			if next := inst.reloadConfig(func() (*config.Config, error) { return config.Load(fs, environ) }); next != nil &&
				!slices.Equal(watchedFiles(next), watchedFiles(cfg)) {
				stopWatch()
				cfg = next
				stopWatch = inst.watch(ctx, cfg, changed)
				// A newly listed file may have changed before its watch
				// began: reload once more now that it is watched.
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		case <-ctx.Done():
			stopWatch()
			logger.Info("shutting down: draining in-flight queries")
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			err := inst.shutdown(sctx)
			cancel()
			if err != nil {
				logger.Error("unclean shutdown", "err", err)
				return exitFail
			}
			logger.Info("stopped")
			return exitOK
		}
	}
}

// watch reloads on changes to the config file and every list file on disk,
// so an edit takes effect without a signal. It returns a function that
// stops the watch.
func (inst *instance) watch(ctx context.Context, cfg *config.Config, changed chan<- struct{}) (stop func()) {
	files := watchedFiles(cfg)
	inst.log.Debug("watching files", "files", files)
	w, err := watch.New(watch.Options{Files: files, Logger: inst.log, OnChange: func() {
		select {
		case changed <- struct{}{}:
		default: // a reload is already pending
		}
	}})
	if err != nil {
		inst.log.Warn("cannot watch files; reload with SIGHUP instead", "err", err)
		return func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(wctx)
	}()
	return func() { cancel(); <-done }
}

// watchedFiles are the config file and every list or IP file on disk.
func watchedFiles(cfg *config.Config) []string {
	var files []string
	if cfg.File != "" {
		files = append(files, cfg.File)
	}
	sources := slices.Concat(cfg.Blocklists, cfg.Allowlists)
	for _, g := range cfg.Policy.Groups {
		sources = slices.Concat(sources, g.Blocklists, g.Allowlists)
	}
	for _, src := range sources {
		// Built-in lists never change; remote ones are refreshed, not watched.
		if loc := blocklist.SourceLocation(src); !strings.HasPrefix(loc, "builtin:") && !blocklist.IsRemote(src) {
			files = append(files, loc)
		}
	}
	for _, e := range cfg.Policy.BlockIPs {
		if _, err := netip.ParsePrefix(e); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(e); err == nil {
			continue
		}
		files = append(files, e)
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// instance is one running resolver with everything it owns.
type instance struct {
	log      *slog.Logger
	dns      *server.Server
	http     *httpapi.Server
	hits     *hitlog.Logger
	hitsSink io.Closer // the log files of hits and queries
	// queries logs every answered query; nil when log.queries is off.
	queries  *hitlog.Logger
	soc      *soc.Recorder
	lists    *lists.Manager
	policy   *policy.Policy
	cache    *cache.Cache
	upstream *upstream.Forwarder
	registry *prometheus.Registry
	blockIPs []string // policy.block_ips, re-read on reload
	cfg      *config.Config
}

// start builds the request chain and opens the listeners:
//
//	server → acl → ratelimit → bypass → policy → cache → upstream
//
// Access control and rate limiting come first so refused and flooding
// clients cost nothing else; bypass signals and the policy sit above the
// cache, so a list change applies to cached answers at once.
// hitsStdout is where "log.hits: stdout" writes.
func start(cfg *config.Config, logger *slog.Logger, hitsStdout io.Writer) (_ *instance, err error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	inst := &instance{log: logger, registry: newRegistry(), blockIPs: cfg.Policy.BlockIPs, cfg: cfg}
	defer func() {
		if err != nil {
			inst.shutdown(context.Background())
		}
	}()
	reg := inst.registry

	if inst.upstream, err = newForwarder(cfg, logger, reg); err != nil {
		return nil, err
	}
	inst.cache, err = cache.New(cache.Options{
		Size: cfg.Cache.Size, MinTTL: cfg.Cache.MinTTL, MaxTTL: cfg.Cache.MaxTTL,
		StaleFor: cfg.Cache.ServeStale, Registerer: reg,
	}, inst.upstream)
	if err != nil {
		return nil, err
	}

	inst.lists, err = newListManager(cfg, logger, reg)
	if err != nil {
		return nil, err
	}
	loaded, err := inst.lists.Load()
	if err != nil {
		return nil, err
	}
	blockIPs, err := inst.lists.LoadIPRules(cfg.Policy.BlockIPs)
	if err != nil {
		return nil, err
	}

	if err := inst.openHitLog(cfg, hitsStdout); err != nil {
		return nil, err
	}
	if inst.soc, err = soc.New(soc.Options{RingSize: cfg.HTTP.RecentHits, Registerer: reg}); err != nil {
		return nil, err
	}
	socLoggers, err := inst.socLoggers(cfg)
	if err != nil {
		return nil, err
	}
	hits := soc.Tee(socLoggers...)

	action, err := policy.ParseAction(cfg.Sinkhole.Action)
	if err != nil {
		return nil, err
	}
	inst.policy, err = policy.New(policy.Options{
		Sinkhole: policy.Sinkhole{
			Action: action, IPv4: cfg.Sinkhole.IPv4, IPv6: cfg.Sinkhole.IPv6, TTL: cfg.Sinkhole.TTL,
		},
		Hits: hits, Registerer: reg, BlockIPs: blockIPs,
	}, loaded.Block, loaded.Allow, inst.cache)
	if err != nil {
		return nil, err
	}
	if err := inst.policy.Set(loaded.Block, loaded.Allow, loaded.Groups); err != nil {
		return nil, err
	}
	signals, err := bypass.New(bypass.Options{
		FirefoxCanary: cfg.Bypass.FirefoxCanary, PrivateRelay: cfg.Bypass.PrivateRelay, DDR: cfg.Bypass.DDR,
		TTL: cfg.Sinkhole.TTL, Hits: hits, Registerer: reg,
	}, inst.policy)
	if err != nil {
		return nil, err
	}
	limited, err := ratelimit.New(ratelimit.Options{
		QPS: float64(cfg.RateLimit.QPS), Burst: cfg.RateLimit.Burst, Slip: cfg.RateLimit.Slip, Registerer: reg,
	}, signals)
	if err != nil {
		return nil, err
	}
	access, err := acl.New(cfg.Access.Allow, reg, limited)
	if err != nil {
		return nil, err
	}

	sopts := server.Options{
		Listen:  cfg.Listen.DNS,
		Handler: access,
		// The forwarder answers within its own budget; the margin lets it
		// report the failure before the server gives up.
		Timeout:    cfg.Upstream.Timeout + time.Second,
		Logger:     logger,
		Registerer: reg,
	}
	if inst.queries != nil {
		sopts.QueryLog = inst.queries
	}
	if len(cfg.RPZ.TransferAllow) > 0 {
		xfr, err := rpzxfr.New(rpzxfr.Options{
			Zone: cfg.RPZ.Zone, Allow: cfg.RPZ.TransferAllow, Key: string(cfg.RPZ.TSIGKey),
			Policy: inst.policy.Current, TTL: cfg.Sinkhole.TTL,
		})
		if err != nil {
			return nil, fmt.Errorf("rpz: %w", err)
		}
		sopts.Transfer = xfr.Transfer
	}
	if inst.dns, err = server.New(sopts); err != nil {
		return nil, err
	}
	if err := inst.dns.Start(); err != nil {
		return nil, err
	}
	if err := inst.startHTTP(cfg); err != nil {
		return nil, err
	}
	return inst, nil
}

// newListManager builds the list loader for a configuration: the default
// and group lists, built-in, on disk and remote. serve and check share it,
// so check decides exactly as the server does.
func newListManager(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) (*lists.Manager, error) {
	groups, err := groupSources(cfg)
	if err != nil {
		return nil, err
	}
	return lists.New(lists.Options{
		Sources: cfg.Blocklists, Allow: cfg.Allowlists, Groups: groups,
		Builtin: blocklists.FS, Logger: logger, Registerer: reg,
		Fetcher:  func() (*remote.Fetcher, error) { return newFetcher(cfg.Lists, logger, reg) },
		CacheDir: cfg.Lists.CacheDir, AXFRKey: string(cfg.Lists.AXFRTSIGKey),
	})
}

// newFetcher builds the fetcher of remote lists from lists.* settings.
func newFetcher(lc config.Lists, logger *slog.Logger, reg prometheus.Registerer) (*remote.Fetcher, error) {
	opts := remote.Options{CacheDir: lc.CacheDir, Logger: logger, Registerer: reg}
	if lc.CAFile != "" {
		roots, err := upstream.LoadCAFile(lc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("lists.ca_file: %w", err)
		}
		opts.Client = &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			Proxy:           http.ProxyFromEnvironment,
		}}
	}
	f, err := remote.New(opts)
	if err != nil {
		return nil, fmt.Errorf("lists.cache_dir: %w", err)
	}
	return f, nil
}

// newForwarder builds the upstream handler from upstream.* settings; with
// no servers configured it uses the system's, minus Dijk itself.
func newForwarder(cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer) (*upstream.Forwarder, error) {
	servers := cfg.Upstream.Servers
	if len(servers) == 0 {
		var err error
		if servers, err = upstream.DefaultServers(resolvConf, cfg.Listen.DNS); err != nil {
			return nil, err
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("no upstream servers: %s names none besides Dijk itself; set upstream.servers", resolvConf)
		}
		logger.Info("using upstreams from "+resolvConf, "servers", servers)
	}
	opts := upstream.Options{Servers: servers, Timeout: cfg.Upstream.Timeout, Logger: logger, Registerer: reg}
	if cfg.Upstream.CAFile != "" {
		roots, err := upstream.LoadCAFile(cfg.Upstream.CAFile)
		if err != nil {
			return nil, fmt.Errorf("upstream.ca_file: %w", err)
		}
		opts.RootCAs = roots
	}
	fwd, err := upstream.New(opts)
	if err != nil {
		return nil, fmt.Errorf("upstream.servers: %w", err)
	}
	return fwd, nil
}

// socLoggers are the receivers of hit and bypass events: the SOC recorder
// and, unless log.hits and syslog are off, the hit log. The recorder sees
// client addresses under the same log.client_ip rule as the logs.
func (inst *instance) socLoggers(cfg *config.Config) ([]soc.HitLogger, error) {
	mode, err := hitlog.ParseClientIP(cfg.Log.ClientIP)
	if err != nil {
		return nil, fmt.Errorf("log.client_ip: %w", err)
	}
	pseudo, err := hitlog.NewPseudonymizer(mode, []byte(cfg.Log.ClientIPKey))
	if err != nil {
		return nil, fmt.Errorf("log.client_ip_key: %w", err)
	}
	var recorder soc.HitLogger = inst.soc
	if mode != hitlog.ClientIPFull {
		recorder = privateRecorder{next: inst.soc, pseudo: pseudo}
	}
	loggers := []soc.HitLogger{recorder}
	if inst.hits != nil { // a nil *hitlog.Logger must not become a non-nil interface
		loggers = append(loggers, inst.hits)
	}
	return loggers, nil
}

// privateRecorder rewrites client addresses before the SOC recorder keeps
// them in memory and shows them on the console.
type privateRecorder struct {
	next   soc.HitLogger
	pseudo *hitlog.Pseudonymizer
}

func (r privateRecorder) Log(e hitlog.Event) {
	e.Client = r.pseudo.Client(e.Client)
	r.next.Log(e)
}

// startHTTP serves metrics and health, and the SOC console and API. The
// console shows client addresses, so without http.token it is served only
// when the listener is on loopback.
func (inst *instance) startHTTP(cfg *config.Config) error {
	if cfg.Listen.HTTP == "" {
		return nil
	}
	opts := httpapi.Options{
		Addr: cfg.Listen.HTTP, Gatherer: inst.registry, Logger: inst.log, Pprof: cfg.HTTP.Pprof,
		Detail: inst.lists.Remote,
		Ready: func() error {
			if !inst.upstream.Ready() {
				return errors.New("no upstream has answered since the last failures")
			}
			return nil
		},
	}
	token := string(cfg.HTTP.Token)
	if token != "" || config.LoopbackListen(cfg.Listen.HTTP) {
		host, _ := os.Hostname()
		console, err := inst.soc.Handler(soc.HandlerOptions{
			Token: token, Observer: host, Logger: inst.log, ListStatus: inst.listStatus,
		})
		if err != nil {
			return err
		}
		opts.SOC = console
	} else {
		inst.log.Warn("SOC console and API are off: listen.http is not loopback and http.token is empty",
			"listen.http", cfg.Listen.HTTP)
	}
	var err error
	inst.http, err = httpapi.Start(opts)
	return err
}

func (inst *instance) listStatus() []soc.ListStatus {
	st := inst.lists.Status()
	out := make([]soc.ListStatus, len(st))
	for i, s := range st {
		out[i] = soc.ListStatus(s)
	}
	return out
}

func (inst *instance) openHitLog(cfg *config.Config, stdout io.Writer) error {
	lc := cfg.Log
	if lc.Hits == "stdout" && lc.Queries == "stdout" {
		stdout = hitlog.Locked(stdout) // two loggers, one stdout: no torn lines
	}
	var files []io.Closer
	defer func() { inst.hitsSink = hitlog.CloseAll(files...) }() // shutdown closes them, even after a failure here
	open := func(target string) (io.Writer, error) {
		switch target {
		case "off":
			return nil, nil
		case "stdout":
			return stdout, nil
		}
		f, err := hitlog.OpenFile(target, int64(lc.HitsMaxSize), lc.HitsRetain)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		return f, nil
	}
	clientIP, err := hitlog.ParseClientIP(lc.ClientIP)
	if err != nil {
		return fmt.Errorf("log.client_ip: %w", err)
	}
	host, _ := os.Hostname()
	base := hitlog.Options{
		Observer: host, Version: version, ClientIP: clientIP, ClientIPKey: []byte(lc.ClientIPKey),
		Logger: inst.log, Registerer: inst.registry,
	}

	hitsOut, err := open(lc.Hits)
	if err != nil {
		return err
	}
	opts := base
	opts.Writer = hitsOut
	if s := lc.Syslog; s.Address != "" {
		opts.Syslog = &hitlog.SyslogOptions{
			Address: s.Address, Transport: s.Transport, CAFile: s.CAFile, ServerName: s.ServerName,
			Facility: s.Facility, AppName: s.AppName,
		}
	}
	if opts.Writer != nil || opts.Syslog != nil {
		if inst.hits, err = hitlog.New(opts); err != nil {
			return fmt.Errorf("hit log: %w", err)
		}
	}

	// The query log goes to its own target only: every query through syslog
	// would swamp a collector sized for blocks.
	queriesOut, err := open(lc.Queries)
	if err != nil || queriesOut == nil {
		return err
	}
	opts = base
	opts.Writer, opts.Dataset = queriesOut, hitlog.DatasetQueries
	if inst.queries, err = hitlog.New(opts); err != nil {
		return fmt.Errorf("query log: %w", err)
	}
	return nil
}

// reload re-reads the lists and IP rules; on failure those in force stay.
func (inst *instance) reload() error {
	if err := inst.lists.Reload(func(l lists.Loaded) error { return inst.policy.Set(l.Block, l.Allow, l.Groups) }); err != nil {
		return err
	}
	rules, err := inst.lists.LoadIPRules(inst.blockIPs)
	if err != nil {
		inst.log.Error("block_ips reload failed; keeping the rules in force", "err", err)
		return err
	}
	inst.policy.SetBlockIPs(rules)
	return nil
}

// reloadConfig re-reads the configuration and applies what can change
// without a restart: the block lists, allowlists and policy.block_ips.
// Other changes are logged as needing a restart. A configuration that no
// longer loads keeps everything in force. It returns the new configuration,
// or nil when it did not load.
func (inst *instance) reloadConfig(load func() (*config.Config, error)) *config.Config {
	next, err := load()
	if err != nil {
		inst.log.Error("config reload failed; keeping the configuration in force", "err", err)
		_ = inst.reload() // list files may still have changed
		return nil
	}
	if ignored := restartOnlyChanges(inst.cfg, next); len(ignored) > 0 {
		inst.log.Warn("config changes that need a restart were not applied", "sections", ignored)
	}
	groups, err := groupSources(next)
	if err != nil {
		inst.log.Error("config reload failed; keeping the configuration in force", "err", err)
		return nil
	}
	old := inst.lists.SetSources(lists.Sources{Block: next.Blocklists, Allow: next.Allowlists, Groups: groups})
	oldIPs := inst.blockIPs
	inst.blockIPs = next.Policy.BlockIPs
	if err := inst.reload(); err != nil {
		inst.lists.SetSources(old)
		inst.blockIPs = oldIPs
		return nil
	}
	inst.cfg = next
	return next
}

// groupSources turns policy.groups into what the list manager loads.
func groupSources(cfg *config.Config) ([]lists.GroupSources, error) {
	var out []lists.GroupSources
	for _, g := range cfg.Policy.Groups {
		sc := cfg.GroupSinkhole(g)
		action, err := policy.ParseAction(sc.Action)
		if err != nil {
			return nil, fmt.Errorf("policy.groups %s: %w", g.Name, err)
		}
		out = append(out, lists.GroupSources{
			Name: g.Name, Clients: g.Clients, Block: g.Blocklists, Allow: g.Allowlists,
			Sinkhole: policy.Sinkhole{Action: action, IPv4: sc.IPv4, IPv6: sc.IPv6, TTL: sc.TTL},
		})
	}
	return out, nil
}

// restartOnlyChanges names the top-level sections that differ between two
// configurations, apart from those a reload applies.
func restartOnlyChanges(a, b *config.Config) []string {
	x, y := *a, *b
	for _, c := range []*config.Config{&x, &y} {
		c.File, c.Blocklists, c.Allowlists, c.Policy = "", nil, nil, config.Policy{}
	}
	var sections []string
	xv, yv := reflect.ValueOf(x), reflect.ValueOf(y)
	for i := range xv.NumField() {
		if !reflect.DeepEqual(xv.Field(i).Interface(), yv.Field(i).Interface()) {
			sections = append(sections, strings.ToLower(xv.Type().Field(i).Name))
		}
	}
	return sections
}

func (inst *instance) dnsAddrs() []string {
	if inst.dns == nil {
		return nil
	}
	return inst.dns.Addrs()
}

// shutdown drains DNS first, so every query in flight is answered and its
// hit logged, then flushes the logs and stops HTTP and upstream connections.
func (inst *instance) shutdown(ctx context.Context) error {
	var errs []error
	if inst.dns != nil {
		errs = append(errs, inst.dns.Shutdown(ctx))
	}
	if inst.cache != nil {
		inst.cache.Close() // stops background refreshes
	}
	if inst.upstream != nil {
		errs = append(errs, inst.upstream.Close())
	}
	if inst.hits != nil {
		inst.hits.Close()
	}
	if inst.queries != nil {
		inst.queries.Close()
	}
	if inst.hitsSink != nil {
		errs = append(errs, inst.hitsSink.Close())
	}
	if inst.http != nil {
		errs = append(errs, inst.http.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "dijk", Name: "build_info",
		Help:        "Always 1; labels carry the version of the running binary.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return reg
}

func configName(cfg *config.Config) string {
	if cfg.File == "" {
		return "embedded default"
	}
	return cfg.File
}
