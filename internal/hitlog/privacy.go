package hitlog

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"net/netip"
)

// ClientIP says how client addresses appear in log lines.
type ClientIP int

const (
	// ClientIPFull logs the address and port as seen.
	ClientIPFull ClientIP = iota
	// ClientIPTruncate zeroes the host bits: IPv4 to /24, IPv6 to /56.
	ClientIPTruncate
	// ClientIPHash logs a keyed hash of the address, so the SOC can count
	// distinct devices without being able to name them.
	ClientIPHash
)

// Prefix lengths kept by ClientIPTruncate: a /24 is a LAN segment, and a /56
// is the usual size of one site's IPv6 delegation.
const (
	truncateBits4 = 24
	truncateBits6 = 56
)

// MinClientIPKey is the shortest key ClientIPHash accepts: shorter keys
// could be brute-forced over the small space of internal addresses.
const MinClientIPKey = 16

// hashedIPBytes is how much of the HMAC is kept: 128 bits make collisions
// between devices negligible while keeping lines short.
const hashedIPBytes = 16

// ParseClientIP parses a log.client_ip value: full, truncate or hash.
func ParseClientIP(s string) (ClientIP, error) {
	switch s {
	case "full":
		return ClientIPFull, nil
	case "truncate":
		return ClientIPTruncate, nil
	case "hash":
		return ClientIPHash, nil
	}
	return 0, fmt.Errorf("client IP mode %q is not one of full, truncate, hash", s)
}

func (m ClientIP) String() string {
	switch m {
	case ClientIPFull:
		return "full"
	case ClientIPTruncate:
		return "truncate"
	case ClientIPHash:
		return "hash"
	}
	return fmt.Sprintf("ClientIP(%d)", int(m))
}

// anonymizer rewrites client addresses. It is used by one goroutine only
// (the Logger's encoder), so the HMAC state is reused without locking.
type anonymizer struct {
	mode ClientIP
	mac  hash.Hash
	sum  []byte
	hex  []byte
}

func newAnonymizer(mode ClientIP, key []byte) (*anonymizer, error) {
	a := &anonymizer{mode: mode}
	switch mode {
	case ClientIPFull, ClientIPTruncate:
	case ClientIPHash:
		if len(key) < MinClientIPKey {
			return nil, fmt.Errorf("client IP hash key is %d bytes; at least %d are required", len(key), MinClientIPKey)
		}
		a.mac = hmac.New(sha256.New, key)
		a.sum = make([]byte, 0, sha256.Size)
		a.hex = make([]byte, 2*hashedIPBytes)
	default:
		return nil, fmt.Errorf("unknown client IP mode %d", int(mode))
	}
	return a, nil
}

// client returns the client.ip text and whether client.port may be logged:
// a port next to a truncated or hashed address would help re-identify it.
func (a *anonymizer) client(ap netip.AddrPort) (ip string, port bool) {
	addr := ap.Addr()
	if a.mode == ClientIPFull || !addr.IsValid() {
		return addr.String(), true
	}
	// The zone names a local interface, not the device; drop it so the
	// same device hashes alike on every interface.
	addr = addr.WithZone("")
	if a.mode == ClientIPTruncate {
		return truncate(addr).String(), false
	}
	// Hash the unmapped address so a device counts once whether it reached
	// a dual-stack socket as IPv4 or as IPv4-mapped IPv6.
	addr = addr.Unmap()
	a.mac.Reset()
	if addr.Is4() {
		b := addr.As4()
		a.mac.Write(b[:])
	} else {
		b := addr.As16()
		a.mac.Write(b[:])
	}
	a.sum = a.mac.Sum(a.sum[:0])
	hex.Encode(a.hex, a.sum[:hashedIPBytes])
	return string(a.hex), false
}

// truncate zeroes the host bits of addr, keeping its format: an
// IPv4-mapped address stays mapped but keeps only its IPv4 /24, since a /56
// would keep the whole IPv4 address.
func truncate(addr netip.Addr) netip.Addr {
	bits := truncateBits6
	switch {
	case addr.Is4():
		bits = truncateBits4
	case addr.Is4In6():
		bits = 96 + truncateBits4
	}
	p, err := addr.Prefix(bits)
	if err != nil { // only for an invalid address, checked by the caller
		return addr
	}
	return p.Addr()
}

// Pseudonymizer applies the client-address mode to addresses kept outside
// the log lines, such as the SOC console's device table, which needs an
// address rather than text: truncate zeroes the host bits as in the logs,
// and hash maps each device to a stable pseudonymous address in fd00::/8
// made of its HMAC, so devices stay distinct but cannot be traced back.
// It is safe for concurrent use.
type Pseudonymizer struct {
	mode ClientIP
	key  []byte
}

// NewPseudonymizer checks the key as the Logger does.
func NewPseudonymizer(mode ClientIP, key []byte) (*Pseudonymizer, error) {
	if _, err := newAnonymizer(mode, key); err != nil {
		return nil, err
	}
	return &Pseudonymizer{mode: mode, key: key}, nil
}

// Client returns ap with its address rewritten by the mode and, unless the
// mode is full, the port dropped.
func (p *Pseudonymizer) Client(ap netip.AddrPort) netip.AddrPort {
	addr := ap.Addr().WithZone("")
	switch {
	case p.mode == ClientIPFull || !addr.IsValid():
		return ap
	case p.mode == ClientIPTruncate:
		return netip.AddrPortFrom(truncate(addr), 0)
	}
	addr = addr.Unmap()
	mac := hmac.New(sha256.New, p.key)
	if addr.Is4() {
		b := addr.As4()
		mac.Write(b[:])
	} else {
		b := addr.As16()
		mac.Write(b[:])
	}
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:], mac.Sum(nil))
	return netip.AddrPortFrom(netip.AddrFrom16(b), 0)
}
