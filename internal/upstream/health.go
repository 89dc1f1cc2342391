package upstream

import (
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// upstream is one configured resolver, its transport and its health.
type upstream struct {
	addr string // as configured: the metrics label and the name in logs
	dial string // IP:port dialled
	// udpAddr is dial resolved once: a UDP exchange opens its socket
	// without parsing and resolving the address string each time.
	udpAddr *net.UDPAddr
	ip      netip.Addr // for loop detection
	tr      Transport
	dot     *dotPool   // TransportTLS only
	doh     *dohClient // TransportHTTPS only
	// downUntil is the end of the cooldown in unix nanoseconds of
	// Forwarder.now; 0 when the upstream is healthy or untested.
	downUntil atomic.Int64
	m         upstreamMetrics
}

// down reports whether u is in cooldown at now.
func (u *upstream) down(now time.Time) bool {
	until := u.downUntil.Load()
	return until != 0 && now.UnixNano() < until
}

// markDown starts (or restarts) u's cooldown.
func (f *Forwarder) markDown(u *upstream, cause error) {
	if u.downUntil.Swap(f.now().Add(f.cooldown).UnixNano()) == 0 {
		f.log.Warn("upstream down, skipping it during cooldown",
			"upstream", u.addr, "cooldown", f.cooldown, "error", cause)
	}
}

// markUp ends u's cooldown after it answered.
func (f *Forwarder) markUp(u *upstream) {
	if u.downUntil.Load() != 0 && u.downUntil.Swap(0) != 0 {
		f.log.Info("upstream answering again", "upstream", u.addr)
	}
}

// candidates returns the upstreams to try, in configured order: the healthy
// ones, or all of them when every one is in cooldown (trying beats failing).
func (f *Forwarder) candidates(now time.Time) []*upstream {
	healthy := 0
	for _, u := range f.upstreams {
		if !u.down(now) {
			healthy++
		}
	}
	if healthy == 0 || healthy == len(f.upstreams) {
		return f.upstreams
	}
	list := make([]*upstream, 0, healthy)
	for _, u := range f.upstreams {
		if !u.down(now) {
			list = append(list, u)
		}
	}
	return list
}

// isUpstream reports whether addr is the IP of one of our upstreams.
func (f *Forwarder) isUpstream(addr netip.Addr) bool {
	addr = addr.Unmap()
	// A loopback client shares its address with a local upstream (Unbound
	// on 127.0.0.1, say) while being an ordinary program on the same host:
	// its duplicate queries are coalesced, not refused. A loop through a
	// loopback upstream still cannot amplify: the looped query waits on the
	// one in flight and both fail at the timeout.
	if addr.IsLoopback() && !f.loopbackLoops {
		return false
	}
	for _, u := range f.upstreams {
		if u.ip == addr {
			return true
		}
	}
	return false
}
