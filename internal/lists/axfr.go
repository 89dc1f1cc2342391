package lists

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// transferZone pulls an RPZ from a primary over AXFR ("axfr://host:port/zone")
// and writes it as a zone file in CacheDir, which the RPZ parser then reads
// like any list. A failed transfer keeps the last good copy; only a zone
// with no copy at all fails the load.
func (m *Manager) transferZone(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return "", fmt.Errorf("list %s: want axfr://host:port/zone", loc)
	}
	zone := dns.Fqdn(strings.Trim(u.Path, "/"))
	addr := u.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "53")
	}
	if m.opts.CacheDir == "" {
		return "", fmt.Errorf("list %s: lists.cache_dir is needed for zone transfers", loc)
	}
	sum := sha256.Sum256([]byte(loc))
	path := filepath.Join(m.opts.CacheDir, "axfr-"+strings.TrimSuffix(zone, ".")+"-"+hex.EncodeToString(sum[:4])+".rpz")
	text, err := m.pullZone(addr, zone)
	if err == nil {
		err = writeAtomic(path, text)
	}
	if err != nil {
		if _, statErr := os.Stat(path); statErr == nil {
			m.log.Warn("zone transfer failed; using the last good copy", "list", loc, "err", err)
			return path, nil
		}
		return "", fmt.Errorf("list %s: %w", loc, err)
	}
	return path, nil
}

func (m *Manager) pullZone(addr, zone string) ([]byte, error) {
	q := new(dns.Msg).SetAxfr(zone)
	tr := &dns.Transfer{DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	if key := m.opts.AXFRKey; key != "" {
		name, rest, _ := strings.Cut(key, ":")
		alg, secret, ok := strings.Cut(rest, ":")
		if !ok {
			return nil, fmt.Errorf("lists.axfr_tsig_key: want name:algorithm:base64secret")
		}
		tr.TsigSecret = map[string]string{dns.Fqdn(name): secret}
		q.SetTsig(dns.Fqdn(name), dns.Fqdn(alg), 300, time.Now().Unix())
	}
	env, err := tr.In(q, addr)
	if err != nil {
		return nil, fmt.Errorf("transfer %s from %s: %w", zone, addr, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n", zone)
	soas := 0
	for e := range env {
		if e.Error != nil {
			return nil, fmt.Errorf("transfer %s from %s: %w", zone, addr, e.Error)
		}
		for _, rr := range e.RR {
			if rr.Header().Rrtype == dns.TypeSOA {
				if soas++; soas == 2 {
					continue // the closing SOA repeats the first
				}
			}
			b.WriteString(rr.String())
			b.WriteByte('\n')
		}
	}
	if soas < 2 {
		return nil, fmt.Errorf("transfer %s from %s: incomplete (no closing SOA)", zone, addr)
	}
	return []byte(b.String()), nil
}

// writeAtomic replaces path with data so readers never see half a zone.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".axfr-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
