package upstream

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDefaultServers(t *testing.T) {
	const conf = `# generated
search example.net
options edns0 trust-ad
nameserver 192.0.2.1
nameserver 2001:db8::53 # inline comment
;nameserver 192.0.2.99
  nameserver   192.0.2.2   
nameserver fe80::1%eth0
nameserver not-an-ip
nameserver
nameservers 192.0.2.98
`
	all := []string{"192.0.2.1:53", "[2001:db8::53]:53", "192.0.2.2:53", "[fe80::1%eth0]:53"}
	tests := []struct {
		name   string
		conf   string
		listen []string
		local  []string // local interface addresses, for wildcard listens
		want   []string
	}{
		{name: "all nameservers", conf: conf, want: all},
		{name: "no nameserver", conf: "search example.net\n# nameserver 192.0.2.1\n", want: nil},
		{name: "empty file", conf: "", want: nil},
		{name: "own address excluded", conf: conf, listen: []string{"192.0.2.2:53"}, want: []string{"192.0.2.1:53", "[2001:db8::53]:53", "[fe80::1%eth0]:53"}},
		{name: "own IPv6 address excluded", conf: conf, listen: []string{"[2001:db8::53]:53"}, want: []string{"192.0.2.1:53", "192.0.2.2:53", "[fe80::1%eth0]:53"}},
		{name: "other port does not exclude", conf: conf, listen: []string{"192.0.2.2:5353"}, want: all},
		{
			name:   "wildcard excludes loopback and local addresses",
			conf:   "nameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.10\nnameserver 192.0.2.1\nnameserver 0.0.0.0\n",
			listen: []string{"0.0.0.0:53"},
			local:  []string{"127.0.0.1", "192.0.2.10"},
			want:   []string{"192.0.2.1:53"},
		},
		{name: "empty host is a wildcard", conf: "nameserver 127.0.0.1\nnameserver 192.0.2.1\n", listen: []string{":53"}, want: []string{"192.0.2.1:53"}},
		{name: "IPv6 wildcard", conf: "nameserver ::1\nnameserver 192.0.2.1\n", listen: []string{"[::]:53"}, want: []string{"192.0.2.1:53"}},
		{name: "wildcard on another port", conf: "nameserver 127.0.0.1\n", listen: []string{"0.0.0.0:5353"}, want: []string{"127.0.0.1:53"}},
		{name: "zoned local address", conf: conf, listen: []string{"[::]:53"}, local: []string{"fe80::1"}, want: []string{"192.0.2.1:53", "[2001:db8::53]:53", "192.0.2.2:53"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			self, err := parseListen(tt.listen)
			if err != nil {
				t.Fatalf("parseListen: %v", err)
			}
			var local []netip.Addr
			for _, l := range tt.local {
				local = append(local, netip.MustParseAddr(l))
			}
			if got := defaultServers([]byte(tt.conf), self, local); !slices.Equal(got, tt.want) {
				t.Errorf("defaultServers() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDefaultServersFile covers the exported function: file handling and
// listen address errors.
func TestDefaultServersFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 192.0.2.1\nnameserver 127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		listen  []string
		want    []string
		wantErr error
		fail    bool
	}{
		{name: "reads the file", path: path, listen: []string{"127.0.0.1:53"}, want: []string{"192.0.2.1:53"}},
		{name: "wildcard uses this host's addresses", path: path, listen: []string{"0.0.0.0:53"}, want: []string{"192.0.2.1:53"}},
		{name: "no nameservers is not an error", path: empty, want: nil},
		{name: "missing file", path: filepath.Join(dir, "missing"), wantErr: fs.ErrNotExist, fail: true},
		{name: "listen without port", path: path, listen: []string{"127.0.0.1"}, fail: true},
		{name: "listen on a hostname", path: path, listen: []string{"localhost:53"}, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultServers(tt.path, tt.listen)
			if (err != nil) != tt.fail {
				t.Fatalf("DefaultServers() error = %v, want failure %v", err, tt.fail)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("DefaultServers() error = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("DefaultServers() = %q, want %q", got, tt.want)
			}
		})
	}
}
