// Package config builds Dijk's configuration from four layers, lowest first:
// the default embedded in the binary, the YAML file named by --config,
// DIJK_* environment variables and command-line flags. It is the only
// package that imports viper; everything else receives a plain *Config.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	defaults "github.com/dijk-dns/dijk/config"
)

// Config is Dijk's complete, validated configuration.
type Config struct {
	// File is the configuration file used; "" means the embedded default
	// only. It is not a key.
	File string `mapstructure:"-"`
	// Listen says where Dijk serves DNS and HTTP.
	Listen Listen `mapstructure:"listen"`
	// Upstream says where allowed queries are forwarded.
	Upstream Upstream `mapstructure:"upstream"`
	// Blocklists are the lists of names to sinkhole: "builtin:NAME" or a
	// file path.
	Blocklists []string `mapstructure:"blocklists"`
	// Allowlists are exceptions in the same forms: an allow entry wins over
	// a block at the same or a less specific name.
	Allowlists []string `mapstructure:"allowlists"`
	// Access says which clients may query.
	Access Access `mapstructure:"access"`
	// RateLimit bounds answers per client over UDP.
	RateLimit RateLimit `mapstructure:"ratelimit"`
	// Bypass switches the answers to resolver-bypass signals.
	Bypass Bypass `mapstructure:"bypass"`
	// HTTP configures the console and API on listen.http.
	HTTP HTTP `mapstructure:"http"`
	// Policy holds rules beyond the name lists.
	Policy Policy `mapstructure:"policy"`
	// Lists configures remote (https://) list sources.
	Lists Lists `mapstructure:"lists"`
	// RPZ serves the policy as a Response Policy Zone over AXFR.
	RPZ RPZ `mapstructure:"rpz"`
	// Sinkhole says how blocked queries are answered.
	Sinkhole Sinkhole `mapstructure:"sinkhole"`
	// Cache sizes and bounds the answer cache.
	Cache Cache `mapstructure:"cache"`
	// Log sets the service log level and where block events go.
	Log Log `mapstructure:"log"`
}

// Listen holds the addresses Dijk binds.
type Listen struct {
	// DNS are host:port addresses served on both UDP and TCP; an empty host
	// means all addresses.
	DNS []string `mapstructure:"dns"`
	// HTTP is the host:port for /metrics, /healthz and /readyz; "" disables
	// the HTTP server.
	HTTP string `mapstructure:"http"`
}

// Upstream holds the resolvers allowed queries are forwarded to.
type Upstream struct {
	// Servers are IP:port addresses; empty means the nameservers in
	// /etc/resolv.conf minus Dijk's own addresses.
	Servers []string `mapstructure:"servers"`
	// Timeout bounds one query to one upstream.
	Timeout time.Duration `mapstructure:"timeout"`
	// CAFile is a PEM bundle that replaces the system CAs for tls:// and
	// https:// upstreams ("" = system CAs).
	CAFile string `mapstructure:"ca_file"`
}

// Access is the client access list.
type Access struct {
	// Allow holds the networks (CIDRs or single IPs) that may query; all
	// others get REFUSED, so Dijk is never an open resolver.
	Allow []netip.Prefix `mapstructure:"allow"`
}

// RateLimit is per-client response rate limiting over UDP.
type RateLimit struct {
	// QPS is each client's sustained answer rate; 0 disables limiting.
	QPS int `mapstructure:"qps"`
	// Burst is how many answers a client may get at once.
	Burst int `mapstructure:"burst"`
	// Slip: every Slip-th limited query gets a truncated answer (0: none).
	Slip int `mapstructure:"slip"`
}

// Bypass switches the local answers to resolver-bypass signals.
type Bypass struct {
	// FirefoxCanary answers use-application-dns.net NXDOMAIN.
	FirefoxCanary bool `mapstructure:"firefox_canary"`
	// PrivateRelay answers mask.icloud.com and mask-h2.icloud.com NXDOMAIN.
	PrivateRelay bool `mapstructure:"private_relay"`
	// DDR answers _dns.resolver.arpa NODATA and never forwards resolver.arpa.
	DDR bool `mapstructure:"ddr"`
}

// RPZ serves the active policy as a zone over AXFR.
type RPZ struct {
	// Zone is the RPZ's name.
	Zone string `mapstructure:"zone"`
	// TransferAllow are the networks that may transfer it; empty disables
	// transfers.
	TransferAllow []netip.Prefix `mapstructure:"transfer_allow"`
	// TSIGKey is "name:algorithm:base64secret"; transfers must be signed.
	TSIGKey Secret `mapstructure:"tsig_key"`
}

// Lists configures remote list sources.
type Lists struct {
	// Refresh is how often remote lists are fetched again (conditional
	// requests); 0 fetches them only at start and on reload.
	Refresh time.Duration `mapstructure:"refresh"`
	// CacheDir keeps the last good copy of each remote list, so a restart
	// without network still blocks.
	CacheDir string `mapstructure:"cache_dir"`
	// CAFile is a PEM bundle that replaces the system CAs for remote lists.
	CAFile string `mapstructure:"ca_file"`
	// AXFRTSIGKey signs zone transfers of axfr:// sources
	// ("name:algorithm:base64secret"; "" sends them unsigned).
	AXFRTSIGKey Secret `mapstructure:"axfr_tsig_key"`
}

// Policy holds rules beyond the name lists.
type Policy struct {
	// BlockIPs are CIDRs or IPs, or files of one per line: answers with an
	// address (A, AAAA, HTTPS/SVCB hint) inside one are blocked.
	BlockIPs []string `mapstructure:"block_ips"`
	// Groups give client networks their own lists and sinkhole; clients in
	// no group get the top-level blocklists, allowlists and sinkhole.
	Groups []Group `mapstructure:"groups"`
}

// Group is one entry of policy.groups.
type Group struct {
	Name string `mapstructure:"name"`
	// Clients are CIDRs or single IPs; the most specific network wins.
	Clients    []netip.Prefix `mapstructure:"clients"`
	Blocklists []string       `mapstructure:"blocklists"`
	Allowlists []string       `mapstructure:"allowlists"`
	// Sinkhole overrides the top-level sinkhole; unset fields inherit it.
	Sinkhole *Sinkhole `mapstructure:"sinkhole"`
}

// HTTP configures the SOC console and API.
type HTTP struct {
	// Token, when set, is required as a bearer token by the console and API.
	// Without it they are served only on a loopback listen.http.
	Token Secret `mapstructure:"token"`
	// RecentHits is how many recent hits the API and console keep in memory.
	RecentHits int `mapstructure:"recent_hits"`
	// Pprof serves Go's profiler under /debug/pprof/ (loopback only).
	Pprof bool `mapstructure:"pprof"`
}

// Sinkhole holds how blocked queries are answered.
type Sinkhole struct {
	// Action is one of "nxdomain", "null", "ip" or "refused".
	Action string `mapstructure:"action"`
	// IPv4 is the information page address returned in A answers for
	// action "ip"; the zero Addr when unset.
	IPv4 netip.Addr `mapstructure:"ipv4"`
	// IPv6 is the information page address returned in AAAA answers for
	// action "ip"; the zero Addr when unset.
	IPv6 netip.Addr `mapstructure:"ipv6"`
	// TTL is the time to live of blocked answers.
	TTL time.Duration `mapstructure:"ttl"`
}

// Cache holds the answer cache settings.
type Cache struct {
	// Size is the number of answers kept; 0 disables the cache.
	Size int `mapstructure:"size"`
	// MinTTL raises cached TTLs below it; 0 keeps upstream TTLs.
	MinTTL time.Duration `mapstructure:"min_ttl"`
	// MaxTTL caps cached TTLs; 0 means no cap.
	MaxTTL time.Duration `mapstructure:"max_ttl"`
	// ServeStale is how long after expiry an answer may still be served
	// when every upstream fails (RFC 8767); 0 disables it.
	ServeStale time.Duration `mapstructure:"serve_stale"`
}

// Log holds the logging settings.
type Log struct {
	// Level is the minimum level of the service log.
	Level slog.Level `mapstructure:"level"`
	// Hits is where block events go as JSON lines: "stdout", "off" or a
	// file path.
	Hits string `mapstructure:"hits"`
	// HitsMaxSize is the size at which a log file (log.hits or
	// log.queries) is rotated; 0 never rotates.
	HitsMaxSize ByteSize `mapstructure:"hits_max_size"`
	// HitsRetain is how many rotated files are kept per log file.
	HitsRetain int `mapstructure:"hits_retain"`
	// Queries is where every answered query goes as a JSON line: "off",
	// "stdout" or a file path.
	Queries string `mapstructure:"queries"`
	// ClientIP is how client addresses are logged: "full", "truncate"
	// (IPv4 /24, IPv6 /56) or "hash" (keyed by ClientIPKey).
	ClientIP string `mapstructure:"client_ip"`
	// ClientIPKey is the HMAC key for ClientIP "hash".
	ClientIPKey Secret `mapstructure:"client_ip_key"`
	// Syslog sends the log lines to a syslog collector as well.
	Syslog Syslog `mapstructure:"syslog"`
}

// Syslog holds the syslog sink settings.
type Syslog struct {
	// Address is the collector's host:port; "" disables syslog.
	Address string `mapstructure:"address"`
	// Transport is "udp", "tcp" or "tls".
	Transport string `mapstructure:"transport"`
	// CAFile is a PEM file of CAs for the collector's certificate (tls);
	// "" means the system roots.
	CAFile string `mapstructure:"ca_file"`
	// ServerName is the name in the collector's certificate (tls); ""
	// means the host of Address.
	ServerName string `mapstructure:"server_name"`
	// Facility is a syslog facility name, e.g. "local0".
	Facility string `mapstructure:"facility"`
	// AppName is the APP-NAME of every message.
	AppName string `mapstructure:"app_name"`
}

// Secret is a configuration value that must not appear in output: it
// prints as "[redacted]" when set.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// MarshalText keeps JSON and text encoders, slog's included, from printing
// the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// configFlag names the flag that selects the configuration file.
const configFlag = "config"

// envPrefix starts every environment variable Dijk reads.
const envPrefix = "DIJK_"

// valueKind says how a key's flag is typed.
type valueKind int

const (
	kindString valueKind = iota
	kindList
	kindDuration
	kindInt
	kindBool
	// kindFileOnly is a structured value (a list of mappings) that only the
	// config file can hold: no flag, no environment variable.
	kindFileOnly
)

// keyInfo describes one configuration key.
type keyInfo struct {
	name  string
	kind  valueKind
	usage string
}

// keys lists every configuration key. A test checks it against Config's
// mapstructure tags and the embedded default, so adding a key means adding
// a struct field, a row here and a line in config/dijk.yaml.
func keys() []keyInfo {
	return []keyInfo{
		{"listen.dns", kindList, "DNS listen addresses, host:port, UDP and TCP on each"},
		{"listen.http", kindString, `HTTP listen address for /metrics, /healthz, /readyz ("" disables)`},
		{"upstream.servers", kindList, "upstream resolvers, IP:port (empty: /etc/resolv.conf)"},
		{"upstream.timeout", kindDuration, "timeout of one upstream query"},
		{"upstream.ca_file", kindString, "PEM CA bundle for tls:// and https:// upstreams (default: system CAs)"},
		{"blocklists", kindList, "lists to sinkhole: builtin:NAME or a file path"},
		{"allowlists", kindList, "exceptions to the blocklists: builtin:NAME or a file path"},
		{"access.allow", kindList, "client networks (CIDR or IP) that may query; others get REFUSED"},
		{"ratelimit.qps", kindInt, "answers per second per client over UDP (0 disables)"},
		{"ratelimit.burst", kindInt, "answers a client may get at once"},
		{"ratelimit.slip", kindInt, "every Nth limited query gets a truncated answer (0: none)"},
		{"bypass.firefox_canary", kindBool, "answer Firefox's DoH canary use-application-dns.net NXDOMAIN"},
		{"bypass.private_relay", kindBool, "answer iCloud Private Relay names NXDOMAIN"},
		{"bypass.ddr", kindBool, "answer _dns.resolver.arpa NODATA, never forward resolver.arpa"},
		{"lists.refresh", kindDuration, "how often remote https:// lists are fetched again (0: only at start and reload)"},
		{"lists.cache_dir", kindString, "where the last good copy of each remote list is kept"},
		{"lists.ca_file", kindString, "PEM CA bundle for remote lists (default: system CAs)"},
		{"lists.axfr_tsig_key", kindString, "TSIG key name:algorithm:base64secret for axfr:// list sources"},
		{"rpz.zone", kindString, "name of the RPZ zone served over AXFR"},
		{"rpz.transfer_allow", kindList, "networks that may transfer the RPZ over AXFR (empty: off)"},
		{"rpz.tsig_key", kindString, "TSIG key name:algorithm:base64secret for AXFR (prefer the environment variable)"},
		{"policy.groups", kindFileOnly, "per-network policy groups (config file only)"},
		{"policy.block_ips", kindList, "block answers with addresses in these CIDRs/IPs, or files of them"},
		{"http.recent_hits", kindInt, "recent hits kept in memory for the API and console"},
		{"http.pprof", kindBool, "serve Go's profiler at /debug/pprof/ (needs a loopback listen.http)"},
		{"http.token", kindString, "bearer token for the console and API (prefer the environment variable)"},
		{"sinkhole.action", kindString, "answer to blocked queries: nxdomain, null, ip or refused"},
		{"sinkhole.ipv4", kindString, "IPv4 address answered by action ip"},
		{"sinkhole.ipv6", kindString, "IPv6 address answered by action ip"},
		{"sinkhole.ttl", kindDuration, "TTL of blocked answers"},
		{"cache.size", kindInt, "answers kept in the cache (0 disables it)"},
		{"cache.min_ttl", kindDuration, "floor for cached TTLs"},
		{"cache.max_ttl", kindDuration, "cap for cached TTLs (0: no cap)"},
		{"cache.serve_stale", kindDuration, "serve expired answers this long when upstreams fail (0: off)"},
		{"log.level", kindString, "log level: debug, info, warn or error"},
		{"log.hits", kindString, "where block events go: stdout, off or a file path"},
		{"log.hits_max_size", kindString, `size at which log files rotate, e.g. "100MB", "1GiB" (0: never)`},
		{"log.hits_retain", kindInt, "rotated log files kept"},
		{"log.queries", kindString, "where every answered query goes: off, stdout or a file path"},
		{"log.client_ip", kindString, "client addresses in logs: full, truncate or hash"},
		{"log.client_ip_key", kindString, "HMAC key for client_ip hash, at least 16 bytes (prefer the environment variable)"},
		{"log.syslog.address", kindString, `syslog collector host:port ("" disables syslog)`},
		{"log.syslog.transport", kindString, "syslog transport: udp, tcp or tls"},
		{"log.syslog.ca_file", kindString, "PEM CA file for the collector's certificate (tls; default: system roots)"},
		{"log.syslog.server_name", kindString, "name in the collector's certificate (tls; default: host of the address)"},
		{"log.syslog.facility", kindString, "syslog facility, e.g. local0"},
		{"log.syslog.app_name", kindString, "syslog APP-NAME"},
	}
}

// envName maps a key to its environment variable: cache.min_ttl becomes
// DIJK_CACHE_MIN_TTL.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// RegisterFlags adds --config and one flag per key, named exactly as the key
// (--listen.dns, --cache.min_ttl), to fs. The flags have zero defaults
// because only flags that were set override the other layers.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.String(configFlag, "", "configuration `file` (YAML); without it the embedded default is used")
	for _, k := range keys() {
		if k.kind == kindFileOnly {
			continue
		}
		usage := fmt.Sprintf("%s (env %s)", k.usage, envName(k.name))
		switch k.kind {
		case kindList:
			fs.StringSlice(k.name, nil, usage)
		case kindDuration:
			fs.Duration(k.name, 0, usage)
		case kindInt:
			fs.Int(k.name, 0, usage)
		case kindBool:
			fs.Bool(k.name, false, usage)
		default:
			fs.String(k.name, "", usage)
		}
	}
}

// Load builds the configuration: the embedded default, then the file named
// by --config (if set), then environment variables DIJK_<SECTION>_<KEY>
// taken from environ (os.Environ() in production; list values are
// comma-separated), then the flags in fs that were set. fs may be nil. The
// result is validated; the error lists every problem found.
func Load(fs *pflag.FlagSet, environ []string) (*Config, error) {
	known := keys()
	v := viper.New()
	v.SetConfigType("yaml")

	var errs []error
	path, err := configPath(fs)
	if err != nil {
		errs = append(errs, err)
	}
	if path != "" {
		// The file goes into viper's config layer before any default is set,
		// so v.AllKeys() below lists exactly the file's keys.
		errs = append(errs, readFile(v, path, known)...)
	}

	dv := viper.New()
	dv.SetConfigType("yaml")
	if derrs := readLayer(dv, defaults.Default, "config (embedded default)", known); len(derrs) > 0 {
		// Only a broken build gets here; the tests load the default.
		return nil, errors.Join(derrs...)
	}
	for _, k := range known {
		v.SetDefault(k.name, dv.Get(k.name))
	}

	// Environment then flags, both through Set: a later Set of the same key
	// replaces the earlier one, which gives flags precedence over env.
	errs = append(errs, applyEnv(v, environ, known)...)
	errs = append(errs, applyFlags(v, fs, known)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	cfg := &Config{File: path}
	decodeErrs := decodeErrors(v.UnmarshalExact(cfg, viper.DecodeHook(decodeHook())))
	failed := make(map[string]bool, len(decodeErrs))
	for _, e := range decodeErrs {
		if ke, ok := e.(*keyError); ok {
			failed[ke.key] = true
		}
	}
	// A key that failed to decode holds a zero value; validating it would
	// only add a confusing second message for the same mistake.
	for _, p := range cfg.problems() {
		if ke, ok := p.(*keyError); ok && failed[ke.key] {
			continue
		}
		decodeErrs = append(decodeErrs, p)
	}
	if len(decodeErrs) > 0 {
		return nil, errors.Join(decodeErrs...)
	}
	return cfg, nil
}

// configPath returns the file named by --config, or "" when it was not set.
func configPath(fs *pflag.FlagSet) (string, error) {
	if fs == nil {
		return "", nil
	}
	f := fs.Lookup(configFlag)
	if f == nil || !f.Changed {
		return "", nil
	}
	p := f.Value.String()
	if p == "" {
		// Most likely an unset shell variable; running on defaults instead
		// would hide it.
		return "", errors.New("--config: empty file name")
	}
	return p, nil
}

// readFile reads the configuration file at path into v's config layer.
func readFile(v *viper.Viper, path string, known []keyInfo) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in our message
		}
		return []error{fmt.Errorf("config %s: %w", path, err)}
	}
	return readLayer(v, data, "config "+path, known)
}

// readLayer parses YAML data into v's config layer and reports keys that
// are not configuration keys. source prefixes every message.
func readLayer(v *viper.Viper, data []byte, source string, known []keyInfo) []error {
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		var pe viper.ConfigParseError
		if errors.As(err, &pe) {
			err = pe.Unwrap()
		}
		// yaml errors read "yaml: line 3: ..."; keep the line, drop the
		// package name.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		return []error{fmt.Errorf("%s: invalid YAML: %s", source, msg)}
	}

	leaves := make(map[string]bool, len(known))
	sections := make(map[string]bool)
	for _, k := range known {
		leaves[k.name] = true
		for i := range k.name {
			if k.name[i] == '.' {
				sections[k.name[:i]] = true
			}
		}
	}
	names := make([]string, 0, len(known))
	for _, k := range known {
		names = append(names, k.name)
	}

	fileKeys := v.AllKeys()
	slices.Sort(fileKeys) // stable messages
	var errs []error
	for _, key := range fileKeys {
		switch {
		case leaves[key]:
		case sections[key]:
			// "cache:" with no value is an empty section: keep defaults.
			if v.Get(key) != nil {
				errs = append(errs, fmt.Errorf("%s: key %q must be a mapping of keys, not a single value", source, key))
			}
		case hasLeafPrefix(key, leaves):
			errs = append(errs, fmt.Errorf("%s: key %q is inside %q, which takes a single value or a list", source, key, leafPrefix(key, leaves)))
		default:
			errs = append(errs, fmt.Errorf("%s: unknown key %q%s", source, key, suggest(key, names)))
		}
	}
	return errs
}

// hasLeafPrefix reports whether key lies below a leaf key, e.g.
// "cache.size.x".
func hasLeafPrefix(key string, leaves map[string]bool) bool {
	return leafPrefix(key, leaves) != ""
}

// leafPrefix returns the leaf key that key lies below, or "".
func leafPrefix(key string, leaves map[string]bool) string {
	for i := range key {
		if key[i] == '.' && leaves[key[:i]] {
			return key[:i]
		}
	}
	return ""
}

// applyEnv copies DIJK_* variables from environ into v's override layer.
// The first occurrence of a name wins, as with os.Getenv.
func applyEnv(v *viper.Viper, environ []string, known []keyInfo) []error {
	byEnv := make(map[string]string, len(known))
	names := make([]string, 0, len(known))
	fileOnly := make(map[string]bool)
	for _, k := range known {
		fileOnly[k.name] = k.kind == kindFileOnly
		byEnv[envName(k.name)] = k.name
		names = append(names, envName(k.name))
	}
	seen := make(map[string]bool)
	var errs []error
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) || seen[name] {
			continue
		}
		seen[name] = true
		key, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s: no such configuration key%s", name, suggest(name, names)))
			continue
		}
		if fileOnly[key] {
			errs = append(errs, fmt.Errorf("environment variable %s: %s can only be set in the config file", name, key))
			continue
		}
		// Strings are decoded like file values: lists split on commas,
		// durations parsed, so env and file share one set of rules.
		v.Set(key, value)
	}
	return errs
}

// applyFlags copies the key flags that were set into v's override layer.
func applyFlags(v *viper.Viper, fs *pflag.FlagSet, known []keyInfo) []error {
	if fs == nil {
		return nil
	}
	var errs []error
	for _, k := range known {
		if k.kind == kindFileOnly {
			continue
		}
		f := fs.Lookup(k.name)
		if f == nil || !f.Changed {
			continue
		}
		var (
			val any
			err error
		)
		switch k.kind {
		case kindList:
			val, err = fs.GetStringSlice(k.name)
		case kindDuration:
			val, err = fs.GetDuration(k.name)
		case kindInt:
			val, err = fs.GetInt(k.name)
		case kindBool:
			val, err = fs.GetBool(k.name)
		default:
			val = f.Value.String()
		}
		if err != nil {
			// A flag of the same name but another type, registered by
			// someone other than RegisterFlags.
			errs = append(errs, fmt.Errorf("--%s: %w", k.name, err))
			continue
		}
		v.Set(k.name, val)
	}
	return errs
}
