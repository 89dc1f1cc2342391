package config

import (
	"os"
	"path/filepath"
	"testing"

	defaults "github.com/dijk-dns/dijk/config"
)

// FuzzLoadYAML feeds arbitrary bytes as the configuration file: Load must
// never panic, and must return either a valid config or an error.
func FuzzLoadYAML(f *testing.F) {
	seeds := []string{
		string(defaults.Default),
		"",
		"cache:\n  sise: 5\n",
		"cache: 5\n",
		"listen:\n  dns:\n    udp: 1\n",
		"listen: [\n",
		"- a\n",
		"sinkhole:\n  action: ip\n  ipv4: 192.0.2.1\n  ipv6: \"::ffff:1.2.3.4\"\n  ttl: 300\n",
		"cache.size: 5\ncache:\n  size: 6\n",
		"a: &a [*a]\n",
		"upstream:\n  servers: 192.0.2.1:53\n  timeout: {a: 1}\n",
		"log:\n  level: [debug]\n  hits: ~\n",
		"? [a, b]\n: c\n",
		"1: 2\ncache:\n  3: 4\n",
		"log:\n  hits_max_size: 1e300\n  hits_retain: 0\n  client_ip: hash\n",
		"log:\n  hits_max_size: 9999999999TiB\n  syslog:\n    address: \"[::1]:514\"\n    facility: [local0]\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Per input, not per target: fuzz workers are separate processes.
		path := filepath.Join(t.TempDir(), "dijk.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(flags(t, "--config", path), nil)
		switch {
		case err != nil && cfg != nil:
			t.Fatalf("Load returned both a config and %v", err)
		case err == nil && cfg == nil:
			t.Fatal("Load returned neither a config nor an error")
		case err == nil:
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Load returned a config that fails Validate: %v", verr)
			}
		}
	})
}
