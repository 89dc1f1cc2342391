package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	defaults "github.com/dijk-dns/dijk/config"
)

// defaultConfig is config/dijk.yaml written out by hand, so a change to
// either side shows up here.
func defaultConfig() *Config {
	return &Config{
		Listen: Listen{
			DNS:  []string{"127.0.0.1:1053"},
			HTTP: "127.0.0.1:9153",
		},
		Upstream: Upstream{
			Servers: []string{},
			Timeout: 2 * time.Second,
		},
		Blocklists: []string{"builtin:deepseek"},
		Allowlists: []string{},
		Access: Access{Allow: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
			netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("::1/128"),
			netip.MustParsePrefix("fc00::/7"), netip.MustParsePrefix("fe80::/10"),
		}},
		RateLimit: RateLimit{QPS: 500, Burst: 1000, Slip: 2},
		Bypass:    Bypass{FirefoxCanary: true, PrivateRelay: true, DDR: true},
		Policy:    Policy{BlockIPs: []string{}, Groups: []Group{}},
		HTTP:      HTTP{RecentHits: 10000},
		Lists:     Lists{Refresh: 6 * time.Hour, CacheDir: "/var/lib/dijk/lists"},
		RPZ:       RPZ{Zone: "rpz.dijk.", TransferAllow: []netip.Prefix{}},
		Sinkhole: Sinkhole{
			Action: "nxdomain",
			TTL:    5 * time.Minute,
		},
		Cache: Cache{
			Size:       10000,
			MinTTL:     0,
			MaxTTL:     24 * time.Hour,
			ServeStale: 24 * time.Hour,
		},
		Log: Log{
			Level:       slog.LevelInfo,
			Hits:        "stdout",
			HitsMaxSize: 100_000_000,
			HitsRetain:  10,
			Queries:     "off",
			ClientIP:    "full",
			Syslog: Syslog{
				Transport: "udp",
				Facility:  "local0",
				AppName:   "dijk",
			},
		},
	}
}

// writeConfig writes content to a file in a fresh temporary directory.
func writeConfig(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dijk.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// flags returns a flag set with RegisterFlags applied and args parsed.
func flags(t testing.TB, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("dijk", pflag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return fs
}

// sameConfig compares configurations; %+v prints nil and empty slices
// alike, which Load's callers do not distinguish either.
func sameConfig(a, b *Config) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func TestLoadDefaults(t *testing.T) {
	tests := []struct {
		name    string
		fs      func(t *testing.T) *pflag.FlagSet
		environ []string
	}{
		{name: "nil flag set", fs: func(*testing.T) *pflag.FlagSet { return nil }},
		{name: "flags registered, none set", fs: func(t *testing.T) *pflag.FlagSet { return flags(t) }},
		{
			name:    "unrelated environment",
			fs:      func(t *testing.T) *pflag.FlagSet { return flags(t) },
			environ: []string{"PATH=/usr/bin", "HOME=/root", "DIJKSTRA=1", "dijk_cache_size=5", "DIJK", "=C:=C:\\"},
		},
		{
			name: "unrelated flag set",
			fs: func(t *testing.T) *pflag.FlagSet {
				fs := flags(t)
				fs.Bool("verbose", false, "")
				if err := fs.Parse([]string{"--verbose"}); err != nil {
					t.Fatal(err)
				}
				return fs
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.fs(t), tt.environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if want := defaultConfig(); !sameConfig(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// TestDefaultHasEveryKey keeps config/dijk.yaml, keys() and Config in step.
func TestDefaultHasEveryKey(t *testing.T) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaults.Default)); err != nil {
		t.Fatalf("embedded default: %v", err)
	}
	yamlKeys := v.AllKeys()
	slices.Sort(yamlKeys)

	var tableKeys []string
	for _, k := range keys() {
		tableKeys = append(tableKeys, k.name)
	}
	slices.Sort(tableKeys)

	var structKeys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for f := range typ.Fields() {
			tag := f.Tag.Get("mapstructure")
			if tag == "" {
				t.Errorf("field %s%s has no mapstructure tag", prefix, f.Name)
				continue
			}
			if tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
				walk(prefix+tag+".", f.Type)
				continue
			}
			structKeys = append(structKeys, prefix+tag)
		}
	}
	walk("", reflect.TypeFor[Config]())
	slices.Sort(structKeys)

	tests := []struct {
		name string
		got  []string
	}{
		{name: "embedded YAML", got: yamlKeys},
		{name: "Config tags", got: structKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tableKeys) {
				t.Errorf("keys %q\nwant (keys()) %q", tt.got, tableKeys)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "section key", key: "listen.dns", want: "DIJK_LISTEN_DNS"},
		{name: "underscore in key", key: "cache.min_ttl", want: "DIJK_CACHE_MIN_TTL"},
		{name: "top-level key", key: "blocklists", want: "DIJK_BLOCKLISTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := envName(tt.key); got != tt.want {
				t.Errorf("envName(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// layerFile sets the four probe keys in TestLoadPrecedence.
const layerFile = `
listen:
  dns: ["127.0.0.1:2053"]
cache:
  size: 1
  min_ttl: 1s
log:
  level: debug
`

// layerEnv sets the same keys as layerFile.
var layerEnv = []string{
	"DIJK_LISTEN_DNS=127.0.0.1:3053, 127.0.0.2:3053",
	"DIJK_CACHE_SIZE=2",
	"DIJK_CACHE_MIN_TTL=2s",
	"DIJK_LOG_LEVEL=WARN",
}

// layerArgs sets the same keys as layerFile.
var layerArgs = []string{
	"--listen.dns=127.0.0.1:4053", "--listen.dns=127.0.0.2:4053",
	"--cache.size=3",
	"--cache.min_ttl=3s",
	"--log.level=error",
}

func TestLoadPrecedence(t *testing.T) {
	type probe struct {
		dns    []string
		size   int
		minTTL time.Duration
		level  slog.Level
	}
	var (
		fromDefault = probe{[]string{"127.0.0.1:1053"}, 10000, 0, slog.LevelInfo}
		fromFile    = probe{[]string{"127.0.0.1:2053"}, 1, time.Second, slog.LevelDebug}
		fromEnv     = probe{[]string{"127.0.0.1:3053", "127.0.0.2:3053"}, 2, 2 * time.Second, slog.LevelWarn}
		fromFlags   = probe{[]string{"127.0.0.1:4053", "127.0.0.2:4053"}, 3, 3 * time.Second, slog.LevelError}
	)
	tests := []struct {
		name    string
		file    string // "" = no --config
		environ []string
		args    []string
		want    probe
	}{
		{name: "embedded default", want: fromDefault},
		{name: "file over default", file: layerFile, want: fromFile},
		{name: "env over default", environ: layerEnv, want: fromEnv},
		{name: "flags over default", args: layerArgs, want: fromFlags},
		{name: "env over file", file: layerFile, environ: layerEnv, want: fromEnv},
		{name: "flags over file", file: layerFile, args: layerArgs, want: fromFlags},
		{name: "flags over env", environ: layerEnv, args: layerArgs, want: fromFlags},
		{name: "flags over env over file", file: layerFile, environ: layerEnv, args: layerArgs, want: fromFlags},
		{
			name:    "each key from its highest layer",
			file:    layerFile,
			environ: []string{"DIJK_CACHE_SIZE=2", "DIJK_CACHE_MIN_TTL=2s"},
			args:    []string{"--cache.size=3"},
			want:    probe{[]string{"127.0.0.1:2053"}, 3, 2 * time.Second, slog.LevelDebug},
		},
		{
			name: "file leaves other keys at default",
			file: "cache:\n  size: 7\n",
			want: probe{[]string{"127.0.0.1:1053"}, 7, 0, slog.LevelInfo},
		},
		{
			name: "empty value in file keeps default",
			file: "cache:\n  size:\nlog:\n",
			want: fromDefault,
		},
		{
			name:    "first of duplicate env entries wins, as os.Getenv",
			environ: []string{"DIJK_CACHE_SIZE=5", "DIJK_CACHE_SIZE=6"},
			want:    probe{[]string{"127.0.0.1:1053"}, 5, 0, slog.LevelInfo},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			cfg, err := Load(flags(t, args...), tt.environ)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := probe{cfg.Listen.DNS, cfg.Cache.Size, cfg.Cache.MinTTL, cfg.Log.Level}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if tt.file == "" && cfg.File != "" {
				t.Errorf("File = %q without --config", cfg.File)
			}
			if tt.file != "" && cfg.File == "" {
				t.Error("File is empty with --config")
			}
		})
	}
}

func TestLoadDecoding(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		args    []string
		check   func(*Config) error
	}{
		{
			name: "YAML string where a list is expected",
			file: "listen:\n  dns: 127.0.0.1:53, 127.0.0.2:53\n",
			check: func(c *Config) error {
				return wantEqual(c.Listen.DNS, []string{"127.0.0.1:53", "127.0.0.2:53"})
			},
		},
		{
			name:    "env list, spaces and empty items dropped",
			environ: []string{"DIJK_BLOCKLISTS= builtin:deepseek ,, /etc/dijk/extra.txt ,"},
			check: func(c *Config) error {
				return wantEqual(c.Blocklists, []string{"builtin:deepseek", "/etc/dijk/extra.txt"})
			},
		},
		{
			name: "empty list in file clears the default",
			file: "upstream:\n  servers: []\n",
			check: func(c *Config) error {
				return wantEqual(len(c.Upstream.Servers), 0)
			},
		},
		{
			name:    "empty env clears a list from the file",
			file:    "upstream:\n  servers: [\"192.0.2.1:53\"]\n",
			environ: []string{"DIJK_UPSTREAM_SERVERS="},
			check: func(c *Config) error {
				return wantEqual(len(c.Upstream.Servers), 0)
			},
		},
		{
			name:    "empty flag clears a list from env",
			environ: []string{"DIJK_UPSTREAM_SERVERS=192.0.2.1:53"},
			args:    []string{"--upstream.servers="},
			check: func(c *Config) error {
				return wantEqual(len(c.Upstream.Servers), 0)
			},
		},
		{
			name: "file list of upstreams",
			file: "upstream:\n  servers:\n    - 192.0.2.1:53\n    - \"[2001:db8::1]:53\"\n",
			check: func(c *Config) error {
				return wantEqual(c.Upstream.Servers, []string{"192.0.2.1:53", "[2001:db8::1]:53"})
			},
		},
		{
			name: "durations",
			file: "upstream:\n  timeout: 1500ms\nsinkhole:\n  ttl: 1h\ncache:\n  min_ttl: 0\n  max_ttl: 1h30m\n",
			check: func(c *Config) error {
				return wantEqual(
					[]time.Duration{c.Upstream.Timeout, c.Sinkhole.TTL, c.Cache.MinTTL, c.Cache.MaxTTL},
					[]time.Duration{1500 * time.Millisecond, time.Hour, 0, 90 * time.Minute})
			},
		},
		{
			name: "addresses from file",
			file: "sinkhole:\n  action: ip\n  ipv4: 192.0.2.10\n  ipv6: 2001:db8::10\n",
			check: func(c *Config) error {
				return wantEqual(
					[]netip.Addr{c.Sinkhole.IPv4, c.Sinkhole.IPv6},
					[]netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")})
			},
		},
		{
			name:    "address from env, empty flag unsets it",
			environ: []string{"DIJK_SINKHOLE_ACTION=ip", "DIJK_SINKHOLE_IPV4=192.0.2.10", "DIJK_SINKHOLE_IPV6=2001:db8::10"},
			args:    []string{"--sinkhole.ipv6="},
			check: func(c *Config) error {
				return wantEqual(
					[]netip.Addr{c.Sinkhole.IPv4, c.Sinkhole.IPv6},
					[]netip.Addr{netip.MustParseAddr("192.0.2.10"), {}})
			},
		},
		{
			name: "level is case-insensitive",
			file: "log:\n  level: DeBuG\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.Level, slog.LevelDebug)
			},
		},
		{
			name: "keys are case-insensitive",
			file: "Cache:\n  Size: 42\n",
			check: func(c *Config) error {
				return wantEqual(c.Cache.Size, 42)
			},
		},
		{
			name: "empty file is the default",
			file: "# nothing here\n",
			check: func(c *Config) error {
				return wantEqual(fmt.Sprintf("%+v", c.Cache), fmt.Sprintf("%+v", defaultConfig().Cache))
			},
		},
		{
			name: "embedded default as a file",
			file: string(defaults.Default),
			check: func(c *Config) error {
				want := defaultConfig()
				want.File = c.File
				return wantEqual(fmt.Sprintf("%+v", c), fmt.Sprintf("%+v", want))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { loadAndCheck(t, tt.file, tt.args, tt.environ, tt.check) })
	}
}

// wantEqual returns an error describing the difference, or nil.
func wantEqual(got, want any) error {
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("got %#v, want %#v", got, want)
	}
	return nil
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string // written to a temp file; "{file}" in want is its path
		args    []string
		environ []string
		want    []string // each must appear in the error
		wantNot []string // none may appear
		is      error    // errors.Is target, if any
	}{
		{
			name: "unknown nested key in file",
			file: "cache:\n  sise: 5\n",
			want: []string{`config {file}: unknown key "cache.sise" (did you mean "cache.size"?)`},
		},
		{
			name: "unknown section in file",
			file: "cach:\n  size: 5\n",
			want: []string{`config {file}: unknown key "cach.size"`},
		},
		{
			name: "unknown top-level key in file",
			file: "upstreams: [\"192.0.2.1:53\"]\n",
			want: []string{`config {file}: unknown key "upstreams"`},
		},
		{
			name: "every unknown key reported",
			file: "foo: 1\nsinkhole:\n  bar: 2\n  action: null\n",
			want: []string{`unknown key "foo"`, `unknown key "sinkhole.bar"`},
		},
		{
			name: "key below a leaf key",
			file: "listen:\n  dns:\n    udp: 1\n",
			want: []string{`config {file}: key "listen.dns.udp" is inside "listen.dns"`},
		},
		{
			name: "section given a value",
			file: "cache: 5\n",
			want: []string{`config {file}: key "cache" must be a mapping`},
		},
		{
			name: "malformed YAML names file and line",
			file: "listen:\n  dns: [\"127.0.0.1:53\"\n  http: x\n",
			want: []string{"config {file}: invalid YAML", "line "},
		},
		{
			name: "YAML that is not a mapping",
			file: "- a\n- b\n",
			want: []string{"config {file}: invalid YAML", "line 1"},
		},
		{
			name: "tab indentation",
			file: "cache:\n\tsize: 5\n",
			want: []string{"config {file}: invalid YAML", "line 2"},
		},
		{
			name: "missing config file names the path",
			args: []string{"--config", "/nonexistent/dijk.yaml"},
			want: []string{"config /nonexistent/dijk.yaml: no such file or directory"},
			is:   fs.ErrNotExist,
		},
		{
			name: "empty --config",
			args: []string{"--config="},
			want: []string{"--config: empty file name"},
		},
		{
			name:    "unknown DIJK_ variable",
			environ: []string{"DIJK_FOO=1"},
			want:    []string{"environment variable DIJK_FOO: no such configuration key"},
		},
		{
			name:    "misspelt DIJK_ variable",
			environ: []string{"DIJK_CACHE_SISE=1"},
			want:    []string{`environment variable DIJK_CACHE_SISE: no such configuration key (did you mean "DIJK_CACHE_SIZE"?)`},
		},
		{
			name:    "dotted spelling is not an env name",
			environ: []string{"DIJK_CACHE.SIZE=1"},
			want:    []string{"environment variable DIJK_CACHE.SIZE"},
		},
		{
			name:    "file and env problems together",
			file:    "cache:\n  sise: 5\n",
			environ: []string{"DIJK_NOPE=1"},
			want:    []string{`unknown key "cache.sise"`, "environment variable DIJK_NOPE"},
		},
		{
			name: "bad duration in file",
			file: "upstream:\n  timeout: 2 seconds\n",
			want: []string{`upstream.timeout: invalid duration "2 seconds"`},
		},
		{
			name: "duration without unit",
			file: "sinkhole:\n  ttl: 300\n",
			want: []string{`sinkhole.ttl: duration 300 has no unit; write e.g. "300s"`},
		},
		{
			name:    "bad duration in env",
			environ: []string{"DIJK_CACHE_MIN_TTL=forever"},
			want:    []string{`cache.min_ttl: invalid duration "forever"`},
		},
		{
			name: "duration given a list",
			file: "cache:\n  max_ttl: [1s]\n",
			want: []string{"cache.max_ttl: expected a duration"},
		},
		{
			name:    "bad number in env",
			environ: []string{"DIJK_CACHE_SIZE=lots"},
			want:    []string{"cache.size: "},
		},
		{
			name:    "bad level",
			environ: []string{"DIJK_LOG_LEVEL=verbose"},
			want:    []string{`log.level: "verbose" is not one of debug, info, warn, error`},
		},
		{
			name: "numeric level",
			file: "log:\n  level: 4\n",
			want: []string{"log.level: expected one of debug, info, warn, error"},
		},
		{
			name:    "bad address",
			environ: []string{"DIJK_SINKHOLE_IPV4=192.0.2.300"},
			want:    []string{`sinkhole.ipv4: invalid IP address "192.0.2.300"`},
		},
		{
			name: "list where a string is expected",
			file: "listen:\n  http: [a, b]\n",
			want: []string{"listen.http: "},
		},
		{
			name: "every decode error reported",
			file: "listen:\n  dns: [\"127.0.0.1:53\", [x]]\n  http: [a]\ncache:\n  size: lots\nlog:\n  level: 4\n",
			want: []string{
				"listen.dns: item 1: expected a string, got a list",
				"listen.http: expected a string, got a list",
				`cache.size: cannot read "lots" as a whole number`,
				"log.level: expected one of debug, info, warn, error, got 4",
			},
		},
		{
			name:    "decode and validation errors together, no double report",
			environ: []string{"DIJK_SINKHOLE_TTL=soon", "DIJK_SINKHOLE_ACTION=drop"},
			want:    []string{`sinkhole.ttl: invalid duration "soon"`, `sinkhole.action: "drop" is not one of`},
			wantNot: []string{"sinkhole.ttl: 0s"},
		},
		{
			name:    "Load validates",
			environ: []string{"DIJK_BLOCKLISTS="},
			want:    []string{"blocklists: at least one list is required"},
		},
		{
			name:    "Load validates after all layers",
			file:    "upstream:\n  timeout: 1m\n",
			environ: []string{"DIJK_UPSTREAM_SERVERS=127.0.0.1:5353"},
			args:    []string{"--listen.dns=127.0.0.1:5353"},
			want:    []string{"upstream.timeout: 1m0s is above", "upstream.servers: \"127.0.0.1:5353\" is Dijk's own listen address"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, path := tt.args, ""
			if tt.file != "" {
				path = writeConfig(t, tt.file)
				args = append([]string{"--config", path}, args...)
			}
			cfg, err := Load(flags(t, args...), tt.environ)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Load returned a config with an error: %+v", cfg)
			}
			msg := err.Error()
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "{file}", path)
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(msg, w) {
					t.Errorf("error has %q:\n%s", w, msg)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flags(t)
	tests := []struct {
		name string
		flag string
		env  string
	}{
		{name: "config file", flag: "config"},
	}
	for _, k := range keys() {
		if k.kind == kindFileOnly {
			if fs.Lookup(k.name) != nil {
				t.Errorf("--%s exists, but %s can only be set in the config file", k.name, k.name)
			}
			continue
		}
		tests = append(tests, struct {
			name string
			flag string
			env  string
		}{name: k.name, flag: k.name, env: envName(k.name)})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fs.Lookup(tt.flag)
			if f == nil {
				t.Fatalf("no flag --%s", tt.flag)
			}
			if tt.env != "" && !strings.Contains(f.Usage, tt.env) {
				t.Errorf("--%s usage %q does not name %s", tt.flag, f.Usage, tt.env)
			}
		})
	}
}

func TestFlagParseErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "bad duration", args: []string{"--cache.min_ttl=soon"}, want: "cache.min_ttl"},
		{name: "bad number", args: []string{"--cache.size=lots"}, want: "cache.size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("dijk", pflag.ContinueOnError)
			fs.SetOutput(new(bytes.Buffer))
			RegisterFlags(fs)
			err := fs.Parse(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) = %v, want an error naming %s", tt.args, err, tt.want)
			}
		})
	}
}

// TestFlagOfAnotherType covers a flag set where someone else registered a
// key's name with a different type.
func TestFlagOfAnotherType(t *testing.T) {
	tests := []struct {
		name string
		key  string
	}{
		{name: "list key as string", key: "listen.dns"},
		{name: "duration key as string", key: "cache.max_ttl"},
		{name: "int key as string", key: "cache.size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("dijk", pflag.ContinueOnError)
			fs.String(tt.key, "", "")
			if err := fs.Parse([]string{"--" + tt.key + "=x"}); err != nil {
				t.Fatal(err)
			}
			_, err := Load(fs, nil)
			if err == nil || !strings.Contains(err.Error(), "--"+tt.key) {
				t.Errorf("Load = %v, want an error naming --%s", err, tt.key)
			}
		})
	}
}

func TestNewKeysFromEnvAndFlags(t *testing.T) {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--bypass.private_relay=false", "--ratelimit.qps", "50"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(fs, []string{"DIJK_BYPASS_DDR=false", "DIJK_ACCESS_ALLOW=10.1.0.0/16,192.0.2.7", "DIJK_ALLOWLISTS=/etc/dijk/allow.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("192.0.2.7/32")}
	if !slices.Equal(cfg.Access.Allow, want) {
		t.Errorf("access.allow = %v, want %v", cfg.Access.Allow, want)
	}
	if cfg.Bypass != (Bypass{FirefoxCanary: true, PrivateRelay: false, DDR: false}) {
		t.Errorf("bypass = %+v, want canary only", cfg.Bypass)
	}
	if cfg.RateLimit.QPS != 50 || !slices.Equal(cfg.Allowlists, []string{"/etc/dijk/allow.txt"}) {
		t.Errorf("ratelimit.qps = %d, allowlists = %v", cfg.RateLimit.QPS, cfg.Allowlists)
	}
	_, err = Load(nil, []string{"DIJK_ACCESS_ALLOW=10.1.2.3/16"})
	if err == nil || !strings.Contains(err.Error(), "access.allow") || !strings.Contains(err.Error(), "host bits") {
		t.Errorf("CIDR with host bits: err = %v, want one naming access.allow and the host bits", err)
	}
}

func TestPolicyGroups(t *testing.T) {
	base := `policy:
  groups:
    - name: ministry
      clients: [10.1.0.0/16, 192.0.2.7]
      blocklists: [builtin:deepseek, builtin:chinese-ai]
      sinkhole: {action: ip, ipv4: 10.1.0.80}
    - name: it-lab
      clients: [10.1.5.0/24]
      blocklists: []
`
	cfg, err := loadFile(t, base)
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Policy.Groups
	if len(g) != 2 || g[0].Name != "ministry" || len(g[0].Clients) != 2 || g[0].Clients[1] != netip.MustParsePrefix("192.0.2.7/32") {
		t.Fatalf("groups = %+v", g)
	}
	if s := cfg.GroupSinkhole(g[0]); s.Action != "ip" || s.IPv4 != netip.MustParseAddr("10.1.0.80") || s.TTL != 5*time.Minute {
		t.Errorf("ministry sinkhole = %+v, want ip 10.1.0.80 with the inherited 5m TTL", s)
	}
	if s := cfg.GroupSinkhole(g[1]); s != cfg.Sinkhole {
		t.Errorf("it-lab sinkhole = %+v, want the top-level one", s)
	}

	bad := []struct {
		name, yaml, want string
	}{
		{"no name", "policy:\n  groups:\n    - clients: [10.0.0.0/8]\n", "has no name"},
		{"no clients", "policy:\n  groups:\n    - name: a\n", "clients is empty"},
		{"same network twice", "policy:\n  groups:\n    - {name: a, clients: [10.0.0.0/8]}\n    - {name: b, clients: [10.0.0.0/8]}\n", "also in group"},
		{"duplicate name", "policy:\n  groups:\n    - {name: a, clients: [10.0.0.0/8]}\n    - {name: a, clients: [10.1.0.0/16]}\n", "used twice"},
		{"bad sinkhole override", "policy:\n  groups:\n    - {name: a, clients: [10.0.0.0/8], sinkhole: {action: ip}}\n", "sinkhole.action"},
		{"unknown key in a group", "policy:\n  groups:\n    - {name: a, clients: [10.0.0.0/8], blocklist: [x]}\n", "blocklist"},
		{"bad network", "policy:\n  groups:\n    - {name: a, clients: [10.0.0.300/8]}\n", "policy.groups"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadFile(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Load(nil, []string{"DIJK_POLICY_GROUPS=x"}); err == nil || !strings.Contains(err.Error(), "only be set in the config file") {
		t.Errorf("env for policy.groups: err = %v", err)
	}
}

func loadFile(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	return Load(flags(t, "--config", writeConfig(t, yaml)), nil)
}

// loadAndCheck loads a configuration from an optional file, flags and
// environment, and runs check on it: the body of the table-driven load tests.
func loadAndCheck(t *testing.T, file string, args, environ []string, check func(*Config) error) {
	t.Helper()
	if file != "" {
		args = append([]string{"--config", writeConfig(t, file)}, args...)
	}
	cfg, err := Load(flags(t, args...), environ)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := check(cfg); err != nil {
		t.Error(err)
	}
}
