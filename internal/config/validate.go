package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds checked by Validate.
const (
	maxUpstreamTimeout = 30 * time.Second // stub resolvers give up well before
	minSinkholeTTL     = time.Second
	maxSinkholeTTL     = 24 * time.Hour // RFC 2308: negative-answer TTLs above a day are problematic
)

// Validate reports every invalid value, each message starting with its key.
func (c *Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems lists every invalid value as a *keyError.
func (c *Config) problems() []error {
	var p []error
	add := func(key, format string, args ...any) {
		p = append(p, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
	}

	// listen.dns
	if len(c.Listen.DNS) == 0 {
		add("listen.dns", "at least one address is required, e.g. \"127.0.0.1:53\"")
	}
	type listenAddr struct {
		text string
		host netip.Addr // zero: all addresses
		port uint16
	}
	var listens []listenAddr
	seen := make(map[string]bool)
	for _, s := range c.Listen.DNS {
		host, port, err := parseListen(s)
		if err != nil {
			add("listen.dns", "%s", err)
			continue
		}
		if seen[s] {
			add("listen.dns", "%q is listed twice", s)
			continue
		}
		seen[s] = true
		listens = append(listens, listenAddr{s, host, port})
	}

	// listen.http
	if c.Listen.HTTP != "" {
		if _, _, err := parseListen(c.Listen.HTTP); err != nil {
			add("listen.http", "%s (\"\" disables the HTTP server)", err)
		}
	}

	// upstream.servers
	for _, s := range c.Upstream.Servers {
		up, checkSelf, err := parseUpstreamURL(s)
		if err != nil {
			add("upstream.servers", "%s", err)
			continue
		}
		if !checkSelf {
			continue
		}
		if err != nil {
			add("upstream.servers", "%s", err)
			continue
		}
		for _, l := range listens {
			if !forwardsToSelf(l.host, l.port, up) {
				continue
			}
			add("upstream.servers", "%q is Dijk's own listen address %q (listen.dns); Dijk must never forward to itself", s, l.text)
		}
	}

	if c.Upstream.CAFile != "" && !anyEncrypted(c.Upstream.Servers) {
		add("upstream.ca_file", "is set but no upstream uses tls:// or https://")
	}

	// access.allow
	if len(c.Access.Allow) == 0 {
		add("access.allow", "is empty, which refuses every client; list the client networks, e.g. \"10.0.0.0/8\"")
	}

	// ratelimit
	for key, v := range map[string]int{"ratelimit.qps": c.RateLimit.QPS, "ratelimit.burst": c.RateLimit.Burst, "ratelimit.slip": c.RateLimit.Slip} {
		if v < 0 {
			add(key, "%d must not be negative", v)
		}
	}
	if c.RateLimit.QPS > 0 && c.RateLimit.Burst > 0 && c.RateLimit.Burst < c.RateLimit.QPS/10 {
		add("ratelimit.burst", "%d is far below ratelimit.qps %d; bursts of normal clients would be dropped", c.RateLimit.Burst, c.RateLimit.QPS)
	}

	// cache.serve_stale
	if c.Cache.ServeStale < 0 {
		add("cache.serve_stale", "%s must not be negative", c.Cache.ServeStale)
	}

	if n := c.HTTP.RecentHits; n < 1 || n > 1_000_000 {
		add("http.recent_hits", "%d is outside 1 to 1000000", n)
	}
	// Profiles show memory, names and addresses: never beyond the host.
	if c.HTTP.Pprof && !LoopbackListen(c.Listen.HTTP) {
		add("http.pprof", "needs listen.http on a loopback address, not %q", c.Listen.HTTP)
	}

	// policy.groups
	p = append(p, c.groupProblems()...)

	// rpz
	if len(c.RPZ.TransferAllow) > 0 {
		name, rest, ok := strings.Cut(string(c.RPZ.TSIGKey), ":")
		alg, secret, ok2 := strings.Cut(rest, ":")
		switch {
		case !ok || !ok2 || name == "" || secret == "":
			add("rpz.tsig_key", "transfers need a TSIG key: name:algorithm:base64secret")
		case !slices.Contains([]string{"hmac-sha256", "hmac-sha384", "hmac-sha512"}, strings.TrimSuffix(strings.ToLower(alg), ".")):
			add("rpz.tsig_key", "algorithm %q: want hmac-sha256, hmac-sha384 or hmac-sha512", alg)
		}
		if c.RPZ.Zone == "" {
			add("rpz.zone", "is empty")
		}
	}

	// lists
	if c.Lists.Refresh < 0 {
		add("lists.refresh", "%s must not be negative", c.Lists.Refresh)
	} else if c.Lists.Refresh > 0 && c.Lists.Refresh < time.Minute {
		add("lists.refresh", "%s is below a minute; list servers would see a request storm", c.Lists.Refresh)
	}
	if c.Lists.CacheDir == "" {
		add("lists.cache_dir", "is empty; remote lists need a place for their last good copy")
	}
	for _, key := range []struct {
		name    string
		sources []string
	}{{"blocklists", c.Blocklists}, {"allowlists", c.Allowlists}} {
		for _, src := range key.sources {
			if strings.Contains(src, "http://") {
				add(key.name, "%q: http:// is refused, a list could be changed in transit; use https://", src)
			}
		}
	}

	// http.token
	if t := c.HTTP.Token; t != "" && len(t) < 16 {
		add("http.token", "is shorter than 16 characters; use a long random value")
	}

	// upstream.timeout
	switch t := c.Upstream.Timeout; {
	case t <= 0:
		add("upstream.timeout", "%s must be above 0", t)
	case t > maxUpstreamTimeout:
		add("upstream.timeout", "%s is above the limit of %s", t, maxUpstreamTimeout)
	}

	// blocklists
	if len(c.Blocklists) == 0 {
		add("blocklists", "at least one list is required, e.g. \"builtin:deepseek\"")
	}
	for i, b := range c.Blocklists {
		name, builtin := strings.CutPrefix(b, "builtin:")
		switch {
		case builtin && strings.TrimSpace(name) == "":
			add("blocklists", "item %d: %q needs a list name, e.g. \"builtin:deepseek\"", i, b)
		case strings.TrimSpace(b) == "":
			add("blocklists", "item %d is empty; want builtin:NAME or a file path", i)
		}
	}

	// sinkhole
	switch c.Sinkhole.Action {
	case "nxdomain", "null", "refused":
	case "ip":
		if !c.Sinkhole.IPv4.IsValid() && !c.Sinkhole.IPv6.IsValid() {
			add("sinkhole.action", "\"ip\" needs sinkhole.ipv4 or sinkhole.ipv6 (the information page address)")
		}
	default:
		add("sinkhole.action", "%q is not one of nxdomain, null, ip, refused", c.Sinkhole.Action)
	}
	if a := c.Sinkhole.IPv4; a.IsValid() && !a.Is4() {
		if a.Is4In6() {
			add("sinkhole.ipv4", "%s is IPv4-mapped; write it as %s", a, a.Unmap().WithZone(""))
		} else {
			add("sinkhole.ipv4", "%s is not an IPv4 address (IPv6 goes in sinkhole.ipv6)", a)
		}
	}
	if a := c.Sinkhole.IPv6; a.IsValid() {
		switch {
		case a.Is4():
			add("sinkhole.ipv6", "%s is not an IPv6 address (IPv4 goes in sinkhole.ipv4)", a)
		case a.Is4In6():
			add("sinkhole.ipv6", "%s is an IPv4-mapped address; put %s in sinkhole.ipv4", a, a.Unmap().WithZone(""))
		case a.Zone() != "":
			add("sinkhole.ipv6", "%s has a zone, which an answer record cannot carry", a)
		}
	}
	switch t := c.Sinkhole.TTL; {
	case t < minSinkholeTTL:
		add("sinkhole.ttl", "%s is below %s", t, minSinkholeTTL)
	case t > maxSinkholeTTL:
		add("sinkhole.ttl", "%s is above %s (RFC 2308: negative-answer TTLs above a day are problematic)", t, maxSinkholeTTL)
	case t%time.Second != 0:
		add("sinkhole.ttl", "%s is not a whole number of seconds (DNS TTLs are seconds)", t)
	}

	// cache
	if c.Cache.Size < 0 {
		add("cache.size", "%d is negative; 0 disables the cache", c.Cache.Size)
	}
	if c.Cache.MinTTL < 0 {
		add("cache.min_ttl", "%s is negative", c.Cache.MinTTL)
	}
	switch {
	case c.Cache.MaxTTL < 0:
		add("cache.max_ttl", "%s is negative; 0 means no cap", c.Cache.MaxTTL)
	case c.Cache.MaxTTL != 0 && c.Cache.MaxTTL < c.Cache.MinTTL:
		add("cache.max_ttl", "%s is below cache.min_ttl %s (0 means no cap)", c.Cache.MaxTTL, c.Cache.MinTTL)
	}

	// log
	switch c.Log.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		add("log.level", "%s is not one of debug, info, warn, error", c.Log.Level)
	}
	if strings.TrimSpace(c.Log.Hits) == "" {
		add("log.hits", "empty; want stdout, off or a file path")
	}
	switch m := c.Log.HitsMaxSize; {
	case m < 0:
		add("log.hits_max_size", "%d is negative; 0 never rotates", int64(m))
	case m > 0 && m < minRotateSize:
		add("log.hits_max_size", "%s is below %s; write a unit, e.g. \"100MB\" (0 never rotates)", m, ByteSize(minRotateSize))
	}
	if r := c.Log.HitsRetain; r < 1 || r > maxRetain {
		add("log.hits_retain", "%d is not from 1 to %d (rotated files kept; to keep one file only, set log.hits_max_size: 0)", r, maxRetain)
	}
	switch q := strings.TrimSpace(c.Log.Queries); {
	case q == "":
		add("log.queries", "empty; want off, stdout or a file path")
	case q != "off" && q != "stdout" && c.Log.Hits != "off" && c.Log.Hits != "stdout" &&
		filepath.Clean(q) == filepath.Clean(c.Log.Hits):
		// Two writers rotating one file would rename it from under each other.
		add("log.queries", "%q is also log.hits; give the query log a file of its own", q)
	}
	switch c.Log.ClientIP {
	case "full", "truncate":
		if c.Log.ClientIPKey != "" {
			// Refused rather than ignored: whoever set a key meant to hash,
			// and full addresses would be logged instead.
			add("log.client_ip_key", "is set but log.client_ip is %q; set log.client_ip: hash to use it, or remove the key", c.Log.ClientIP)
		}
	case "hash":
		if n := len(c.Log.ClientIPKey); n < minClientIPKey {
			// The message never quotes the key.
			add("log.client_ip_key", "%d bytes; log.client_ip hash needs a secret key of at least %d bytes, e.g. from `openssl rand -hex 16` (prefer the environment variable DIJK_LOG_CLIENT_IP_KEY)", n, minClientIPKey)
		}
	default:
		add("log.client_ip", "%q is not one of full, truncate, hash", c.Log.ClientIP)
	}
	p = append(p, c.Log.Syslog.problems()...)
	return p
}

// Log bounds checked by Validate.
const (
	// minRotateSize catches a size written without a unit: "100" is 100
	// bytes, which would rotate on every line.
	minRotateSize = 1_000_000
	// maxRetain bounds the renames done at each rotation.
	maxRetain = 1000
	// minClientIPKey matches hitlog.MinClientIPKey: shorter keys could be
	// brute-forced over the small space of internal addresses.
	minClientIPKey = 16
	// Header field limits of RFC 5424 section 6.
	maxSyslogAppName = 48
)

// problems lists the invalid log.syslog values.
func (s Syslog) problems() []error {
	var p []error
	add := func(key, format string, args ...any) {
		p = append(p, &keyError{key: key, msg: fmt.Sprintf(format, args...)})
	}
	if s.Address != "" {
		host, port, err := splitHostPort(s.Address)
		switch {
		case err != nil:
			add("log.syslog.address", "%s (\"\" disables syslog)", err)
		case host == "":
			add("log.syslog.address", "%q: the host is missing; want host:port, e.g. \"siem.example.gov:6514\"", s.Address)
		default:
			if _, err := parsePort(s.Address, port); err != nil {
				add("log.syslog.address", "%s", err)
			}
		}
	}
	switch s.Transport {
	case "udp", "tcp":
		if s.CAFile != "" {
			add("log.syslog.ca_file", "is set but log.syslog.transport is %q; it applies to tls only", s.Transport)
		}
		if s.ServerName != "" {
			add("log.syslog.server_name", "is set but log.syslog.transport is %q; it applies to tls only", s.Transport)
		}
	case "tls":
	default:
		add("log.syslog.transport", "%q is not one of udp, tcp, tls", s.Transport)
	}
	if !slices.Contains(syslogFacilities(), strings.ToLower(s.Facility)) {
		add("log.syslog.facility", "%q is not one of %s", s.Facility, strings.Join(syslogFacilities(), ", "))
	}
	switch {
	case s.AppName == "":
		add("log.syslog.app_name", "empty; want a name such as \"dijk\"")
	case len(s.AppName) > maxSyslogAppName:
		add("log.syslog.app_name", "%q is longer than %d bytes (RFC 5424)", s.AppName, maxSyslogAppName)
	case strings.IndexFunc(s.AppName, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
		add("log.syslog.app_name", "%q must be printable ASCII without spaces (RFC 5424)", s.AppName)
	}
	return p
}

// syslogFacilities are the facility names hitlog.ParseFacility accepts, in
// code order (RFC 5424 section 6.2.1, named as in syslog.h).
func syslogFacilities() []string {
	return []string{
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
		"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
	}
}

// forwardsToSelf reports whether queries sent to up would reach the listener
// host:port. A listener on all addresses also receives what is sent to
// loopback; its other addresses are not known here.
func forwardsToSelf(host netip.Addr, port uint16, up netip.AddrPort) bool {
	if port != up.Port() {
		return false
	}
	if !host.IsValid() || host.IsUnspecified() {
		return up.Addr().IsLoopback()
	}
	return host.Unmap().WithZone("") == up.Addr()
}

// parseListen checks a listen address: host:port where host is empty (all
// addresses) or an IP literal, and port is 1..65535.
func parseListen(s string) (netip.Addr, uint16, error) {
	host, portText, err := splitHostPort(s)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	port, err := parsePort(s, portText)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if host == "" {
		return netip.Addr{}, port, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("%q: host %q must be an IP address, or empty for all addresses", s, host)
	}
	return a, port, nil
}

// parseUpstreamURL checks one upstream.servers entry. Plain IP:port and
// udp:// or tcp:// forms are checked fully and returned for the forwarding-
// to-self check; tls:// and https:// are encrypted upstreams whose full
// syntax the forwarder checks when it starts (checkSelf false).
func parseUpstreamURL(s string) (up netip.AddrPort, checkSelf bool, err error) {
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		up, err := parseUpstream(s)
		return up, true, err
	}
	switch scheme {
	case "udp", "tcp":
		if _, err := netip.ParseAddr(strings.Trim(rest, "[]")); err == nil {
			rest = net.JoinHostPort(strings.Trim(rest, "[]"), "53")
		}
		up, err := parseUpstream(rest)
		return up, true, err
	case "tls", "https":
		if rest == "" || strings.HasPrefix(rest, "#") {
			return netip.AddrPort{}, false, fmt.Errorf("%q: the server is missing", s)
		}
		return netip.AddrPort{}, false, nil
	}
	return netip.AddrPort{}, false, fmt.Errorf("%q: unknown scheme %q; want udp://, tcp://, tls:// or https:// (or plain IP:port)", s, scheme)
}

func anyEncrypted(servers []string) bool {
	for _, s := range servers {
		if strings.HasPrefix(s, "tls://") || strings.HasPrefix(s, "https://") {
			return true
		}
	}
	return false
}

// parseUpstream checks an upstream address: an IP literal and a port.
// The returned address is unmapped and without zone, for comparison.
func parseUpstream(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPort{}, fmt.Errorf("%q: missing port; write %q", s, netip.AddrPortFrom(a, 53).String())
	}
	host, portText, err := splitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := parsePort(s, portText)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		return netip.AddrPort{}, fmt.Errorf("%q: the IP address is missing; want IP:port, e.g. \"192.0.2.53:53\"", s)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address; hostnames are refused because there is no resolver to bootstrap them (Dijk is the resolver)", s, host)
	}
	if a.IsUnspecified() {
		return netip.AddrPort{}, fmt.Errorf("%q: the unspecified address is not a server", s)
	}
	return netip.AddrPortFrom(a.Unmap().WithZone(""), port), nil
}

// splitHostPort wraps net.SplitHostPort with a message that quotes s.
func splitHostPort(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		reason := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			reason = ae.Err
		}
		return "", "", fmt.Errorf("%q: %s; want host:port, e.g. \"127.0.0.1:53\"", s, reason)
	}
	return host, port, nil
}

// parsePort checks a numeric port in 1..65535; s is the whole address,
// for the message.
func parsePort(s, port string) (uint16, error) {
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q: port %q must be a number from 1 to 65535", s, port)
	}
	return uint16(n), nil
}

// groupProblems checks policy.groups: unique names, client networks, no
// network claimed by two groups (the most specific one wins, so equal ones
// would be ambiguous), and each sinkhole override after inheriting.
func (c *Config) groupProblems() []error {
	var p []error
	add := func(format string, args ...any) {
		p = append(p, &keyError{key: "policy.groups", msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	owner := map[netip.Prefix]string{}
	for i, g := range c.Policy.Groups {
		label := fmt.Sprintf("group %d (%q)", i, g.Name)
		switch {
		case strings.TrimSpace(g.Name) == "":
			add("group %d has no name", i)
		case g.Name == "default":
			add("%s: \"default\" is the name of the clients in no group", label)
		case names[g.Name]:
			add("%s: the name is used twice", label)
		}
		names[g.Name] = true
		if len(g.Clients) == 0 {
			add("%s: clients is empty; list its networks, e.g. \"10.1.0.0/16\"", label)
		}
		for _, pr := range g.Clients {
			if other, ok := owner[pr]; ok {
				add("%s: network %s is also in group %q; the same network in two groups is ambiguous", label, pr, other)
			}
			owner[pr] = g.Name
		}
		for j, b := range slices.Concat(g.Blocklists, g.Allowlists) {
			if strings.TrimSpace(b) == "" {
				add("%s: list %d is empty", label, j)
			}
		}
		if g.Sinkhole != nil {
			merged := c.GroupSinkhole(g)
			probe := *c
			probe.Sinkhole, probe.Policy.Groups = merged, nil
			for _, e := range probe.problems() {
				if ke, ok := e.(*keyError); ok && strings.HasPrefix(ke.key, "sinkhole.") {
					add("%s: %s", label, ke.Error())
				}
			}
		}
	}
	return p
}

// GroupSinkhole is a group's sinkhole: its override, with unset fields taken
// from the top-level sinkhole.
func (c *Config) GroupSinkhole(g Group) Sinkhole {
	s := c.Sinkhole
	if o := g.Sinkhole; o != nil {
		if o.Action != "" {
			s.Action = o.Action
		}
		if o.IPv4.IsValid() {
			s.IPv4 = o.IPv4
		}
		if o.IPv6.IsValid() {
			s.IPv6 = o.IPv6
		}
		if o.TTL != 0 {
			s.TTL = o.TTL
		}
	}
	return s
}

// LoopbackListen reports whether a listen address accepts loopback
// connections only.
func LoopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
