package config

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // the key of each expected problem, in order
		text   string   // a fragment the message must contain, if any
	}{
		{name: "default is valid", mutate: func(*Config) {}},

		// listen.dns
		{name: "no DNS listener", mutate: func(c *Config) { c.Listen.DNS = nil }, want: []string{"listen.dns"}},
		{name: "DNS listener without port", mutate: func(c *Config) { c.Listen.DNS = []string{"127.0.0.1"} }, want: []string{"listen.dns"}, text: "missing port"},
		{name: "DNS port 0", mutate: func(c *Config) { c.Listen.DNS = []string{"127.0.0.1:0"} }, want: []string{"listen.dns"}, text: "1 to 65535"},
		{name: "DNS port too high", mutate: func(c *Config) { c.Listen.DNS = []string{"127.0.0.1:65536"} }, want: []string{"listen.dns"}},
		{name: "DNS port by name", mutate: func(c *Config) { c.Listen.DNS = []string{"127.0.0.1:domain"} }, want: []string{"listen.dns"}},
		{name: "DNS listener hostname", mutate: func(c *Config) { c.Listen.DNS = []string{"localhost:53"} }, want: []string{"listen.dns"}, text: "must be an IP address"},
		{name: "DNS listener listed twice", mutate: func(c *Config) { c.Listen.DNS = []string{":53", ":53"} }, want: []string{"listen.dns"}, text: "twice"},
		{name: "DNS listener on all addresses", mutate: func(c *Config) { c.Listen.DNS = []string{":53"} }},
		{name: "DNS listeners IPv4 and IPv6", mutate: func(c *Config) { c.Listen.DNS = []string{"0.0.0.0:53", "[::1]:53", "[fe80::1%eth0]:53"} }},
		{name: "two bad DNS listeners, two problems", mutate: func(c *Config) { c.Listen.DNS = []string{"a", "b:0"} }, want: []string{"listen.dns", "listen.dns"}},

		// encrypted and schemed upstreams, access, rate limit, token
		{name: "DoT and DoH upstreams", mutate: func(c *Config) {
			c.Upstream.Servers = []string{"tls://192.0.2.1#dns.example", "https://dns.example/dns-query#192.0.2.2", "udp://192.0.2.3", "tcp://[2001:db8::3]:5353"}
			c.Upstream.CAFile = "/etc/dijk/ca.pem"
		}},
		{name: "unknown upstream scheme", mutate: func(c *Config) { c.Upstream.Servers = []string{"quic://192.0.2.1"} }, want: []string{"upstream.servers"}, text: "unknown scheme"},
		{name: "DoT without server", mutate: func(c *Config) { c.Upstream.Servers = []string{"tls://"} }, want: []string{"upstream.servers"}, text: "missing"},
		{name: "udp:// upstream is the listener", mutate: func(c *Config) { c.Upstream.Servers = []string{"udp://127.0.0.1:1053"} }, want: []string{"upstream.servers"}, text: "never forward to itself"},
		{name: "CA file without encrypted upstream", mutate: func(c *Config) { c.Upstream.CAFile = "/etc/dijk/ca.pem" }, want: []string{"upstream.ca_file"}},
		{name: "empty access list", mutate: func(c *Config) { c.Access.Allow = nil }, want: []string{"access.allow"}, text: "refuses every client"},
		{name: "negative rate", mutate: func(c *Config) { c.RateLimit.QPS = -1 }, want: []string{"ratelimit.qps"}},
		{name: "tiny burst", mutate: func(c *Config) { c.RateLimit.QPS, c.RateLimit.Burst = 1000, 5 }, want: []string{"ratelimit.burst"}},
		{name: "rate limit off", mutate: func(c *Config) { c.RateLimit = RateLimit{} }},
		{name: "short token", mutate: func(c *Config) { c.HTTP.Token = "secret" }, want: []string{"http.token"}},
		{name: "pprof on loopback", mutate: func(c *Config) { c.HTTP.Pprof, c.Listen.HTTP = true, "127.0.0.1:9153" }},
		{name: "pprof beyond the host", mutate: func(c *Config) { c.HTTP.Pprof, c.Listen.HTTP = true, ":9153" }, want: []string{"http.pprof"}, text: "loopback"},
		{name: "negative serve-stale", mutate: func(c *Config) { c.Cache.ServeStale = -time.Second }, want: []string{"cache.serve_stale"}},

		// listen.http
		{name: "HTTP disabled", mutate: func(c *Config) { c.Listen.HTTP = "" }},
		{name: "HTTP on all addresses", mutate: func(c *Config) { c.Listen.HTTP = ":9153" }},
		{name: "HTTP without port", mutate: func(c *Config) { c.Listen.HTTP = "9153" }, want: []string{"listen.http"}},
		{name: "HTTP hostname", mutate: func(c *Config) { c.Listen.HTTP = "localhost:9153" }, want: []string{"listen.http"}},

		// upstream.servers
		{name: "upstreams IPv4 and IPv6", mutate: func(c *Config) { c.Upstream.Servers = []string{"192.0.2.1:53", "[2001:db8::1]:53"} }},
		{name: "upstream hostname", mutate: func(c *Config) { c.Upstream.Servers = []string{"dns.google:53"} }, want: []string{"upstream.servers"}, text: "no resolver to bootstrap them"},
		{name: "upstream without port", mutate: func(c *Config) { c.Upstream.Servers = []string{"192.0.2.1"} }, want: []string{"upstream.servers"}, text: `"192.0.2.1:53"`},
		{name: "IPv6 upstream without port", mutate: func(c *Config) { c.Upstream.Servers = []string{"2001:db8::1"} }, want: []string{"upstream.servers"}, text: `"[2001:db8::1]:53"`},
		{name: "upstream without host", mutate: func(c *Config) { c.Upstream.Servers = []string{":53"} }, want: []string{"upstream.servers"}},
		{name: "upstream bad port", mutate: func(c *Config) { c.Upstream.Servers = []string{"192.0.2.1:x"} }, want: []string{"upstream.servers"}},
		{name: "upstream unspecified", mutate: func(c *Config) { c.Upstream.Servers = []string{"0.0.0.0:53"} }, want: []string{"upstream.servers"}},
		{name: "upstream is the listener", mutate: func(c *Config) { c.Upstream.Servers = []string{"127.0.0.1:1053"} }, want: []string{"upstream.servers"}, text: "never forward to itself"},
		{name: "upstream loopback, other port", mutate: func(c *Config) { c.Upstream.Servers = []string{"127.0.0.1:53"} }},
		{name: "upstream other loopback address, same port", mutate: func(c *Config) { c.Upstream.Servers = []string{"127.0.0.53:1053"} }},
		{
			name: "empty listen host catches loopback upstream",
			mutate: func(c *Config) {
				c.Listen.DNS = []string{":53"}
				c.Upstream.Servers = []string{"127.0.0.53:53"}
			},
			want: []string{"upstream.servers"},
		},
		{
			name: "0.0.0.0 listener catches ::1 upstream",
			mutate: func(c *Config) {
				c.Listen.DNS = []string{"0.0.0.0:53"}
				c.Upstream.Servers = []string{"[::1]:53"}
			},
			want: []string{"upstream.servers"},
		},
		{
			name: ":: listener catches 127.0.0.1 upstream",
			mutate: func(c *Config) {
				c.Listen.DNS = []string{"[::]:53"}
				c.Upstream.Servers = []string{"127.0.0.1:53"}
			},
			want: []string{"upstream.servers"},
		},
		{
			name: "all-address listener, remote upstream on same port",
			mutate: func(c *Config) {
				c.Listen.DNS = []string{":53"}
				c.Upstream.Servers = []string{"192.0.2.1:53"}
			},
		},
		{
			name: "IPv4-mapped upstream is the listener",
			mutate: func(c *Config) {
				c.Upstream.Servers = []string{"[::ffff:127.0.0.1]:1053"}
			},
			want: []string{"upstream.servers"},
		},
		{
			name: "specific listener, upstream on its address",
			mutate: func(c *Config) {
				c.Listen.DNS = []string{"192.0.2.7:53"}
				c.Upstream.Servers = []string{"192.0.2.7:53", "192.0.2.8:53"}
			},
			want: []string{"upstream.servers"},
		},

		// upstream.timeout
		{name: "timeout zero", mutate: func(c *Config) { c.Upstream.Timeout = 0 }, want: []string{"upstream.timeout"}},
		{name: "timeout negative", mutate: func(c *Config) { c.Upstream.Timeout = -time.Second }, want: []string{"upstream.timeout"}},
		{name: "timeout 30s", mutate: func(c *Config) { c.Upstream.Timeout = 30 * time.Second }},
		{name: "timeout above 30s", mutate: func(c *Config) { c.Upstream.Timeout = 31 * time.Second }, want: []string{"upstream.timeout"}},

		// blocklists
		{name: "no blocklists", mutate: func(c *Config) { c.Blocklists = []string{} }, want: []string{"blocklists"}},
		{name: "builtin without name", mutate: func(c *Config) { c.Blocklists = []string{"builtin:"} }, want: []string{"blocklists"}, text: "needs a list name"},
		{name: "empty blocklist entry", mutate: func(c *Config) { c.Blocklists = []string{"builtin:deepseek", " "} }, want: []string{"blocklists"}, text: "item 1"},
		{name: "blocklist path", mutate: func(c *Config) { c.Blocklists = []string{"/etc/dijk/extra.txt", "lists/local.txt"} }},

		// sinkhole
		{name: "unknown action", mutate: func(c *Config) { c.Sinkhole.Action = "drop" }, want: []string{"sinkhole.action"}},
		{name: "empty action", mutate: func(c *Config) { c.Sinkhole.Action = "" }, want: []string{"sinkhole.action"}},
		{name: "upper-case action", mutate: func(c *Config) { c.Sinkhole.Action = "NXDOMAIN" }, want: []string{"sinkhole.action"}},
		{name: "action null", mutate: func(c *Config) { c.Sinkhole.Action = "null" }},
		{name: "action refused", mutate: func(c *Config) { c.Sinkhole.Action = "refused" }},
		{name: "action ip without addresses", mutate: func(c *Config) { c.Sinkhole.Action = "ip" }, want: []string{"sinkhole.action"}, text: "sinkhole.ipv4 or sinkhole.ipv6"},
		{
			name: "action ip with IPv4 only",
			mutate: func(c *Config) {
				c.Sinkhole.Action = "ip"
				c.Sinkhole.IPv4 = netip.MustParseAddr("192.0.2.10")
			},
		},
		{
			name: "action ip with IPv6 only",
			mutate: func(c *Config) {
				c.Sinkhole.Action = "ip"
				c.Sinkhole.IPv6 = netip.MustParseAddr("2001:db8::10")
			},
		},
		{name: "IPv6 in ipv4", mutate: func(c *Config) { c.Sinkhole.IPv4 = netip.MustParseAddr("2001:db8::10") }, want: []string{"sinkhole.ipv4"}},
		{name: "IPv4-mapped in ipv4", mutate: func(c *Config) { c.Sinkhole.IPv4 = netip.MustParseAddr("::ffff:192.0.2.10") }, want: []string{"sinkhole.ipv4"}, text: "192.0.2.10"},
		{name: "IPv4 in ipv6", mutate: func(c *Config) { c.Sinkhole.IPv6 = netip.MustParseAddr("192.0.2.10") }, want: []string{"sinkhole.ipv6"}},
		{name: "IPv4-mapped in ipv6", mutate: func(c *Config) { c.Sinkhole.IPv6 = netip.MustParseAddr("::ffff:192.0.2.10") }, want: []string{"sinkhole.ipv6"}, text: "IPv4-mapped"},
		{name: "zone in ipv6", mutate: func(c *Config) { c.Sinkhole.IPv6 = netip.MustParseAddr("fe80::1%eth0") }, want: []string{"sinkhole.ipv6"}},
		{name: "ttl zero", mutate: func(c *Config) { c.Sinkhole.TTL = 0 }, want: []string{"sinkhole.ttl"}},
		{name: "ttl below 1s", mutate: func(c *Config) { c.Sinkhole.TTL = 999 * time.Millisecond }, want: []string{"sinkhole.ttl"}},
		{name: "ttl 1s", mutate: func(c *Config) { c.Sinkhole.TTL = time.Second }},
		{name: "ttl 24h", mutate: func(c *Config) { c.Sinkhole.TTL = 24 * time.Hour }},
		{name: "ttl above 24h", mutate: func(c *Config) { c.Sinkhole.TTL = 24*time.Hour + time.Second }, want: []string{"sinkhole.ttl"}, text: "RFC 2308"},
		{name: "ttl fractional seconds", mutate: func(c *Config) { c.Sinkhole.TTL = 1500 * time.Millisecond }, want: []string{"sinkhole.ttl"}},

		// cache
		{name: "cache disabled", mutate: func(c *Config) { c.Cache.Size = 0 }},
		{name: "cache size negative", mutate: func(c *Config) { c.Cache.Size = -1 }, want: []string{"cache.size"}},
		{name: "min ttl negative", mutate: func(c *Config) { c.Cache.MinTTL = -time.Second }, want: []string{"cache.min_ttl"}},
		{name: "max ttl negative", mutate: func(c *Config) { c.Cache.MaxTTL = -time.Second }, want: []string{"cache.max_ttl"}},
		{
			name: "max ttl below min ttl",
			mutate: func(c *Config) {
				c.Cache.MinTTL = time.Hour
				c.Cache.MaxTTL = time.Minute
			},
			want: []string{"cache.max_ttl"},
			text: "cache.min_ttl",
		},
		{
			name: "max ttl 0 with min ttl",
			mutate: func(c *Config) {
				c.Cache.MinTTL = time.Hour
				c.Cache.MaxTTL = 0
			},
		},
		{
			name: "max ttl equal to min ttl",
			mutate: func(c *Config) {
				c.Cache.MinTTL = time.Hour
				c.Cache.MaxTTL = time.Hour
			},
		},

		// log
		{name: "odd log level", mutate: func(c *Config) { c.Log.Level = slog.Level(2) }, want: []string{"log.level"}},
		{name: "debug log level", mutate: func(c *Config) { c.Log.Level = slog.LevelDebug }},
		{name: "hits empty", mutate: func(c *Config) { c.Log.Hits = "" }, want: []string{"log.hits"}},
		{name: "hits to a file", mutate: func(c *Config) { c.Log.Hits = "/var/log/dijk/hits.jsonl" }},

		{
			name: "every problem reported at once",
			mutate: func(c *Config) {
				c.Listen.DNS = nil
				c.Listen.HTTP = "x"
				c.Upstream.Servers = []string{"dns.google:53"}
				c.Upstream.Timeout = 0
				c.Blocklists = nil
				c.Sinkhole.Action = "drop"
				c.Sinkhole.IPv4 = netip.MustParseAddr("::1")
				c.Sinkhole.IPv6 = netip.MustParseAddr("192.0.2.1")
				c.Sinkhole.TTL = 0
				c.Cache.Size = -1
				c.Cache.MinTTL = -1
				c.Cache.MaxTTL = -1
				c.Log.Level = 1
				c.Log.Hits = ""
			},
			want: []string{
				"listen.dns", "listen.http", "upstream.servers", "upstream.timeout", "blocklists",
				"sinkhole.action", "sinkhole.ipv4", "sinkhole.ipv6", "sinkhole.ttl",
				"cache.size", "cache.min_ttl", "cache.max_ttl", "log.level", "log.hits",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.mutate(c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want problems with %q", tt.want)
			}
			// Each line is one problem and must start with its key.
			lines := strings.Split(err.Error(), "\n")
			var keys []string
			for _, l := range lines {
				key, _, ok := strings.Cut(l, ": ")
				if !ok {
					t.Errorf("problem %q does not start with a key", l)
				}
				keys = append(keys, key)
			}
			if !slices.Equal(keys, tt.want) {
				t.Errorf("problems name keys %q, want %q:\n%s", keys, tt.want, err)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error lacks %q:\n%s", tt.text, err)
			}
		})
	}
}
