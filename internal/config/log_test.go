package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ByteSize
		wantErr string
	}{
		{name: "bare bytes", in: "1048576", want: 1 << 20},
		{name: "zero", in: "0", want: 0},
		{name: "bytes unit", in: "512B", want: 512},
		{name: "SI megabytes", in: "100MB", want: 100_000_000},
		{name: "IEC gibibyte", in: "1GiB", want: 1 << 30},
		{name: "kilobytes", in: "64KB", want: 64_000},
		{name: "kibibytes", in: "64KiB", want: 64 << 10},
		{name: "terabyte", in: "2TB", want: 2_000_000_000_000},
		{name: "unit case-insensitive", in: "100mb", want: 100_000_000},
		{name: "space before unit", in: " 5 MiB ", want: 5 << 20},
		{name: "no number", in: "MB", wantErr: `invalid size "MB"`},
		{name: "empty", in: "", wantErr: "invalid size"},
		{name: "negative", in: "-5MB", wantErr: "invalid size"},
		{name: "fraction", in: "1.5GB", wantErr: `unknown unit ".5GB"`},
		{name: "ambiguous unit", in: "100M", wantErr: `unknown unit "M"`},
		{name: "overflow", in: "9999999999TiB", wantErr: "too large"},
		{name: "overflow of the number", in: "99999999999999999999", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseByteSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseByteSize(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseByteSize(%q) = %v, %v; want %d", tt.in, int64(got), err, int64(tt.want))
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		name string
		in   ByteSize
		want string
	}{
		{name: "zero", in: 0, want: "0B"},
		{name: "odd bytes", in: 1001, want: "1001B"},
		{name: "SI", in: 100_000_000, want: "100MB"},
		{name: "IEC", in: 1 << 30, want: "1GiB"},
		{name: "kilo", in: 3000, want: "3KB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if back, err := parseByteSize(tt.want); err != nil || back != tt.in {
				t.Errorf("parseByteSize(%q) = %d, %v; want the round trip to %d", tt.want, int64(back), err, int64(tt.in))
			}
		})
	}
}

func TestLoadLogKeys(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		args    []string
		check   func(*Config) error
	}{
		{
			name: "size with unit in file",
			file: "log:\n  hits_max_size: 1GiB\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.HitsMaxSize, ByteSize(1<<30))
			},
		},
		{
			name: "size as a YAML integer is bytes",
			file: "log:\n  hits_max_size: 2000000\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.HitsMaxSize, ByteSize(2_000_000))
			},
		},
		{
			name: "size as a YAML float with exponent",
			file: "log:\n  hits_max_size: 1e9\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.HitsMaxSize, ByteSize(1_000_000_000))
			},
		},
		{
			name: "size 0 never rotates",
			file: "log:\n  hits_max_size: 0\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.HitsMaxSize, ByteSize(0))
			},
		},
		{
			name:    "size from env",
			environ: []string{"DIJK_LOG_HITS_MAX_SIZE=5MiB", "DIJK_LOG_HITS_RETAIN=3"},
			check: func(c *Config) error {
				return wantEqual([]any{c.Log.HitsMaxSize, c.Log.HitsRetain}, []any{ByteSize(5 << 20), 3})
			},
		},
		{
			name:    "size from flag over env",
			environ: []string{"DIJK_LOG_HITS_MAX_SIZE=5MiB"},
			args:    []string{"--log.hits_max_size=2GB"},
			check: func(c *Config) error {
				return wantEqual(c.Log.HitsMaxSize, ByteSize(2_000_000_000))
			},
		},
		{
			name: "unquoted off is the string off",
			file: "log:\n  queries: off\n  hits: off\n",
			check: func(c *Config) error {
				return wantEqual([]string{c.Log.Queries, c.Log.Hits}, []string{"off", "off"})
			},
		},
		{
			name:    "query log and privacy from env",
			environ: []string{"DIJK_LOG_QUERIES=/var/log/dijk/queries.jsonl", "DIJK_LOG_CLIENT_IP=hash", "DIJK_LOG_CLIENT_IP_KEY=0123456789abcdef"},
			check: func(c *Config) error {
				return wantEqual([]string{c.Log.Queries, c.Log.ClientIP, string(c.Log.ClientIPKey)},
					[]string{"/var/log/dijk/queries.jsonl", "hash", "0123456789abcdef"})
			},
		},
		{
			name: "syslog section in file",
			file: "log:\n  syslog:\n    address: siem.example.gov:6514\n    transport: tls\n    ca_file: /etc/dijk/siem-ca.pem\n    server_name: siem.example.gov\n    facility: LOCAL3\n    app_name: dijk-edge\n",
			check: func(c *Config) error {
				return wantEqual(c.Log.Syslog, Syslog{
					Address: "siem.example.gov:6514", Transport: "tls", CAFile: "/etc/dijk/siem-ca.pem",
					ServerName: "siem.example.gov", Facility: "LOCAL3", AppName: "dijk-edge",
				})
			},
		},
		{
			name:    "syslog from flags and env",
			environ: []string{"DIJK_LOG_SYSLOG_ADDRESS=192.0.2.50:514"},
			args:    []string{"--log.syslog.transport=tcp", "--log.syslog.facility=auth"},
			check: func(c *Config) error {
				return wantEqual([]string{c.Log.Syslog.Address, c.Log.Syslog.Transport, c.Log.Syslog.Facility},
					[]string{"192.0.2.50:514", "tcp", "auth"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { loadAndCheck(t, tt.file, tt.args, tt.environ, tt.check) })
	}
}

func TestLoadLogKeyErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    string
		wantNot string
	}{
		{name: "size without number", environ: []string{"DIJK_LOG_HITS_MAX_SIZE=big"}, want: `log.hits_max_size: invalid size "big"`},
		{name: "negative YAML size", file: "log:\n  hits_max_size: -1\n", want: "log.hits_max_size: size -1 is negative"},
		{name: "fractional YAML size", file: "log:\n  hits_max_size: 1.5\n", want: "log.hits_max_size: size 1.5 is not a whole number"},
		{name: "size given a list", file: "log:\n  hits_max_size: [1]\n", want: "log.hits_max_size: expected a size"},
		{name: "size without unit below the floor", file: "log:\n  hits_max_size: 100\n", want: "log.hits_max_size: 100B is below 1MB; write a unit"},
		{name: "bad size reported once", environ: []string{"DIJK_LOG_HITS_MAX_SIZE=10 parsecs"}, want: "log.hits_max_size: invalid size", wantNot: "is below"},
		{name: "hash without key", environ: []string{"DIJK_LOG_CLIENT_IP=hash"}, want: "log.client_ip_key: 0 bytes; log.client_ip hash needs"},
		{
			name:    "short key is not quoted",
			environ: []string{"DIJK_LOG_CLIENT_IP=hash", "DIJK_LOG_CLIENT_IP_KEY=hunter2"},
			want:    "log.client_ip_key: 7 bytes",
			wantNot: "hunter2",
		},
		{name: "syslog typo in file", file: "log:\n  syslog:\n    adress: x:1\n", want: `unknown key "log.syslog.adress" (did you mean "log.syslog.address"?)`},
		{name: "syslog section given a value", file: "log:\n  syslog: 192.0.2.1:514\n", want: `key "log.syslog" must be a mapping`},
		{name: "syslog env typo", environ: []string{"DIJK_LOG_SYSLOG_ADRESS=x:1"}, want: `did you mean "DIJK_LOG_SYSLOG_ADDRESS"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			if tt.file != "" {
				args = []string{"--config", writeConfig(t, tt.file)}
			}
			cfg, err := Load(flags(t, args...), tt.environ)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error lacks %q:\n%s", tt.want, err)
			}
			if tt.wantNot != "" && strings.Contains(err.Error(), tt.wantNot) {
				t.Errorf("error has %q:\n%s", tt.wantNot, err)
			}
		})
	}
}

func TestValidateLog(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // the key of each expected problem, in order
		text   string
	}{
		{name: "default is valid", mutate: func(*Config) {}},
		{name: "never rotate", mutate: func(c *Config) { c.Log.HitsMaxSize = 0 }},
		{name: "rotate at the floor", mutate: func(c *Config) { c.Log.HitsMaxSize = minRotateSize }},
		{name: "rotate below the floor", mutate: func(c *Config) { c.Log.HitsMaxSize = minRotateSize - 1 }, want: []string{"log.hits_max_size"}},
		{name: "negative size", mutate: func(c *Config) { c.Log.HitsMaxSize = -1 }, want: []string{"log.hits_max_size"}, text: "negative"},
		{name: "retain 1", mutate: func(c *Config) { c.Log.HitsRetain = 1 }},
		{name: "retain 0", mutate: func(c *Config) { c.Log.HitsRetain = 0 }, want: []string{"log.hits_retain"}, text: "log.hits_max_size: 0"},
		{name: "retain too many", mutate: func(c *Config) { c.Log.HitsRetain = maxRetain + 1 }, want: []string{"log.hits_retain"}},
		{name: "queries to stdout with hits", mutate: func(c *Config) { c.Log.Queries = "stdout" }},
		{name: "queries to a file", mutate: func(c *Config) { c.Log.Queries = "/var/log/dijk/queries.jsonl" }},
		{name: "queries empty", mutate: func(c *Config) { c.Log.Queries = " " }, want: []string{"log.queries"}},
		{
			name: "queries and hits share a file",
			mutate: func(c *Config) {
				c.Log.Hits = "/var/log/dijk/hits.jsonl"
				c.Log.Queries = "/var/log/dijk/./hits.jsonl"
			},
			want: []string{"log.queries"},
			text: "also log.hits",
		},
		{name: "truncate", mutate: func(c *Config) { c.Log.ClientIP = "truncate" }},
		{name: "hash with a key", mutate: func(c *Config) { c.Log.ClientIP, c.Log.ClientIPKey = "hash", "0123456789abcdef" }},
		{name: "hash without a key", mutate: func(c *Config) { c.Log.ClientIP = "hash" }, want: []string{"log.client_ip_key"}},
		{name: "hash with a 15-byte key", mutate: func(c *Config) { c.Log.ClientIP, c.Log.ClientIPKey = "hash", "0123456789abcde" }, want: []string{"log.client_ip_key"}},
		{name: "key without hash", mutate: func(c *Config) { c.Log.ClientIPKey = "0123456789abcdef" }, want: []string{"log.client_ip_key"}, text: "log.client_ip: hash"},
		{name: "unknown client_ip", mutate: func(c *Config) { c.Log.ClientIP = "anonymize" }, want: []string{"log.client_ip"}},
		{name: "syslog udp", mutate: func(c *Config) { c.Log.Syslog.Address = "192.0.2.50:514" }},
		{name: "syslog hostname", mutate: func(c *Config) { c.Log.Syslog.Address = "siem.example.gov:6514" }},
		{name: "syslog IPv6", mutate: func(c *Config) { c.Log.Syslog.Address = "[2001:db8::50]:514" }},
		{name: "syslog without port", mutate: func(c *Config) { c.Log.Syslog.Address = "siem.example.gov" }, want: []string{"log.syslog.address"}},
		{name: "syslog without host", mutate: func(c *Config) { c.Log.Syslog.Address = ":514" }, want: []string{"log.syslog.address"}, text: "host is missing"},
		{name: "syslog port 0", mutate: func(c *Config) { c.Log.Syslog.Address = "siem:0" }, want: []string{"log.syslog.address"}},
		{name: "syslog URL", mutate: func(c *Config) { c.Log.Syslog.Address = "tcp://siem:514" }, want: []string{"log.syslog.address"}},
		{name: "syslog tcp", mutate: func(c *Config) { c.Log.Syslog.Transport = "tcp" }},
		{
			name: "syslog tls with CA and name",
			mutate: func(c *Config) {
				c.Log.Syslog.Transport, c.Log.Syslog.CAFile, c.Log.Syslog.ServerName = "tls", "/etc/dijk/ca.pem", "siem"
			},
		},
		{name: "syslog transport unknown", mutate: func(c *Config) { c.Log.Syslog.Transport = "TLS" }, want: []string{"log.syslog.transport"}},
		{name: "CA file without tls", mutate: func(c *Config) { c.Log.Syslog.CAFile = "/etc/dijk/ca.pem" }, want: []string{"log.syslog.ca_file"}},
		{name: "server name without tls", mutate: func(c *Config) { c.Log.Syslog.ServerName = "siem" }, want: []string{"log.syslog.server_name"}},
		{name: "facility upper-case", mutate: func(c *Config) { c.Log.Syslog.Facility = "LOCAL7" }},
		{name: "facility unknown", mutate: func(c *Config) { c.Log.Syslog.Facility = "local8" }, want: []string{"log.syslog.facility"}},
		{name: "app name empty", mutate: func(c *Config) { c.Log.Syslog.AppName = "" }, want: []string{"log.syslog.app_name"}},
		{name: "app name with space", mutate: func(c *Config) { c.Log.Syslog.AppName = "dijk dns" }, want: []string{"log.syslog.app_name"}},
		{name: "app name non-ASCII", mutate: func(c *Config) { c.Log.Syslog.AppName = "dijké" }, want: []string{"log.syslog.app_name"}},
		{name: "app name 48 bytes", mutate: func(c *Config) { c.Log.Syslog.AppName = strings.Repeat("a", 48) }},
		{name: "app name 49 bytes", mutate: func(c *Config) { c.Log.Syslog.AppName = strings.Repeat("a", 49) }, want: []string{"log.syslog.app_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.mutate(c)
			err := c.Validate()
			var keys []string
			if err != nil {
				for _, l := range strings.Split(err.Error(), "\n") {
					key, _, _ := strings.Cut(l, ": ")
					keys = append(keys, key)
				}
			}
			if !slices.Equal(keys, tt.want) {
				t.Fatalf("problems name keys %q, want %q:\n%v", keys, tt.want, err)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error lacks %q:\n%s", tt.text, err)
			}
		})
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const key = "0123456789abcdef-very-secret"
	c := defaultConfig()
	c.Log.ClientIP, c.Log.ClientIPKey = "hash", key
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "cfg", c)
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		out  string
	}{
		{name: "%v", out: fmt.Sprintf("%v", c)},
		{name: "%+v", out: fmt.Sprintf("%+v", c)},
		{name: "%#v", out: fmt.Sprintf("%#v", c)},
		{name: "%s of the field", out: fmt.Sprintf("%s", c.Log.ClientIPKey)},
		{name: "JSON", out: string(js)},
		{name: "slog JSON", out: logged.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.out, "very-secret") {
				t.Errorf("output shows the key: %s", tt.out)
			}
			if !strings.Contains(tt.out, "[redacted]") {
				t.Errorf("output lacks [redacted]: %s", tt.out)
			}
		})
	}
	if string(c.Log.ClientIPKey) != key {
		t.Error("the value itself must stay usable")
	}
}
