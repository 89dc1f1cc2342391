package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/miekg/dns"
)

const (
	// idleTimeout closes pooled DoT and DoH connections nobody used for this
	// long. Servers close idle ones too (Unbound after 30 s by default);
	// RFC 7766 §6.2.3 asks clients not to hold them for nothing.
	idleTimeout = 30 * time.Second
	// paddingBlock is the RFC 8467 §4.1 block size for padded queries.
	paddingBlock = 128
	// sessionCacheSize keeps a few TLS sessions per upstream, so a redial
	// resumes instead of a full handshake.
	sessionCacheSize = 8
)

// LoadCAFile reads a PEM bundle of CA certificates for Options.RootCAs.
// Only these CAs are then trusted for encrypted upstreams, not the system's.
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upstream: reading CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("upstream: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// tlsConfig is the client configuration of one encrypted upstream:
// verification on (RFC 8310 strict profile), TLS 1.2 at least (RFC 8310 §9,
// RFC 7525 / BCP 195).
func tlsConfig(srv Server, roots *x509.CertPool, alpn ...string) *tls.Config {
	return &tls.Config{
		ServerName:         srv.ServerName,
		RootCAs:            roots,
		MinVersion:         tls.VersionTLS12,
		NextProtos:         alpn,
		ClientSessionCache: tls.NewLRUClientSessionCache(sessionCacheSize),
	}
}

// isTLSError reports a failed handshake: an untrusted or mismatched
// certificate, a TLS alert, or a peer that does not speak TLS.
func isTLSError(err error) bool {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		alert   tls.AlertError
		record  tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &alert) || errors.As(err, &record)
}

// packPadded packs m with an EDNS(0) Padding option (RFC 7830) that makes
// the message a multiple of paddingBlock octets (RFC 8467 §4.1), so the
// query length says little about the name. m must carry an OPT record.
func packPadded(m *dns.Msg) ([]byte, error) {
	opt := m.IsEdns0()
	if opt == nil {
		return nil, errors.New("padding needs an OPT record")
	}
	pad := &dns.EDNS0_PADDING{}
	opt.Option = append(opt.Option, pad)
	// Len counts the option's 4-octet header, so only the content remains.
	if rest := m.Len() % paddingBlock; rest != 0 {
		pad.Padding = make([]byte, paddingBlock-rest)
	}
	b, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("packing query: %w", err)
	}
	return b, nil
}
