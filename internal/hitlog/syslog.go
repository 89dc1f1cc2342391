package hitlog

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dijk-dns/dijk/internal/rawio"
)

// SyslogOptions configures the syslog sink. Messages follow RFC 5424 with
// the JSON line as MSG.
type SyslogOptions struct {
	// Address is the collector's host:port.
	Address string
	// Transport is "udp" (RFC 5426: one message per datagram), "tcp"
	// (RFC 6587 octet counting) or "tls" (RFC 5425, octet counting).
	// "" means udp.
	Transport string
	// CAFile is a PEM file of the CAs that may sign the collector's
	// certificate (tls only); "" means the system roots.
	CAFile string
	// ServerName is the name the collector's certificate must carry (tls
	// only); "" means the host part of Address.
	ServerName string
	// Facility is a facility name (RFC 5424 section 6.2.1, as in syslog.h):
	// kern ... local7. "" means local0.
	Facility string
	// AppName is the APP-NAME field; "" means "dijk".
	AppName string
}

// Syslog transports.
const (
	SyslogUDP = "udp"
	SyslogTCP = "tcp"
	SyslogTLS = "tls"
)

// Timing of the syslog connection. A stalled collector holds the sink for
// at most syslogWriteTimeout before the connection is dropped; while it is
// down, lines are dropped and counted rather than queued, and reconnects
// back off from syslogMinBackoff to syslogMaxBackoff.
const (
	syslogDialTimeout  = 5 * time.Second
	syslogWriteTimeout = 5 * time.Second
	syslogMinBackoff   = time.Second
	syslogMaxBackoff   = time.Minute
)

// Field limits of the RFC 5424 header (section 6).
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
)

// syslogTimeFormat is RFC 3339 with microseconds, the finest precision
// RFC 5424 allows (TIME-SECFRAC is at most six digits).
const syslogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// ParseFacility returns the code of a syslog facility name, case-insensitive.
func ParseFacility(name string) (int, error) {
	names := [...]string{
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
		"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
	}
	for code, n := range names {
		if strings.EqualFold(name, n) {
			return code, nil
		}
	}
	return 0, fmt.Errorf("syslog facility %q is not one of %s", name, strings.Join(names[:], ", "))
}

// syslogSink sends each line as one RFC 5424 message.
type syslogSink struct {
	network string // "udp" or "tcp"; tls runs over tcp
	address string
	tls     *tls.Config // nil unless transport tls
	stream  bool        // octet-counted framing on a stream connection
	// header is " HOSTNAME APP-NAME PROCID MSGID - ", fixed for the life
	// of the sink.
	facility int
	header   []byte

	m    *counters
	log  *slog.Logger
	name string // "hit log", for the service log

	conn    net.Conn
	dead    chan struct{} // closed when the collector closes conn
	healthy bool          // a write on conn succeeded
	retryAt time.Time     // no dial before this
	backoff time.Duration
	down    bool // warned about the outage and not yet recovered

	buf     []byte // framed messages not yet written (stream only)
	pending int    // messages in buf
	msg     []byte // scratch for one message
}

func newSyslogSink(o SyslogOptions, hostname, msgID string, m *counters, log *slog.Logger, name string) (*syslogSink, error) {
	host, _, err := net.SplitHostPort(o.Address)
	if err != nil {
		return nil, fmt.Errorf("syslog address %q: %w", o.Address, err)
	}
	if o.Facility == "" {
		o.Facility = "local0"
	}
	facility, err := ParseFacility(o.Facility)
	if err != nil {
		return nil, err
	}
	if o.AppName == "" {
		o.AppName = "dijk"
	}
	s := &syslogSink{
		address: o.Address, facility: facility, m: m, log: log, name: name,
		backoff: syslogMinBackoff,
	}
	switch o.Transport {
	case "", SyslogUDP:
		s.network = "udp"
	case SyslogTCP:
		s.network, s.stream = "tcp", true
	case SyslogTLS:
		s.network, s.stream = "tcp", true
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if s.tls.ServerName == "" {
			s.tls.ServerName = host
		}
		if o.CAFile != "" {
			pool, err := loadCAFile(o.CAFile)
			if err != nil {
				return nil, err
			}
			s.tls.RootCAs = pool
		}
	default:
		return nil, fmt.Errorf("syslog transport %q is not one of udp, tcp, tls", o.Transport)
	}
	if (o.CAFile != "" || o.ServerName != "") && s.tls == nil {
		return nil, fmt.Errorf("syslog CA file and server name apply to transport tls only, not %q", s.network)
	}
	s.header = fmt.Appendf(nil, " %s %s %s %s - ",
		headerField(hostname, maxHostname), headerField(o.AppName, maxAppName),
		headerField(strconv.Itoa(os.Getpid()), maxProcID), headerField(msgID, maxMsgID))
	return s, nil
}

// loadCAFile reads a PEM bundle of CA certificates.
func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("syslog CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("syslog CA file %s: no PEM certificate found", path)
	}
	return pool, nil
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII
// without spaces, at most max bytes; "-" (the nil value) when empty.
func headerField(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// format appends one RFC 5424 message for e to dst:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
func (s *syslogSink) format(dst []byte, e entry) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(s.facility*8+e.severity), 10)
	dst = append(dst, ">1 "...)
	if e.time.IsZero() {
		dst = append(dst, '-')
	} else {
		dst = e.time.UTC().AppendFormat(dst, syslogTimeFormat)
	}
	dst = append(dst, s.header...)
	// MSG is the JSON line as MSG-ANY, without the UTF-8 BOM of MSG-UTF8:
	// collectors hand MSG to JSON parsers, which reject a BOM. No newline:
	// datagrams and octet counting delimit the message already.
	return append(dst, bytes.TrimSuffix(e.line, []byte{'\n'})...)
}

// open connects before the first line arrives, so that line is not
// dropped for want of a connection and a bad address shows in the service
// log at startup. It runs on the sink's goroutine, never the caller's.
func (s *syslogSink) open() { s.connect() }

func (s *syslogSink) add(e entry) {
	if s.conn != nil && s.peerClosed() {
		// The collector closed the connection (a restart, say): reconnect
		// now rather than lose lines to a write into a dead socket.
		s.disconnect(nil)
		s.retryAt = time.Time{}
	}
	if s.conn == nil && !s.connect() {
		s.m.dropped.Inc()
		return
	}
	s.msg = s.format(s.msg[:0], e)
	if !s.stream {
		// One message per datagram (RFC 5426). A refused datagram is an
		// error for that line only; the socket stays usable.
		_ = s.conn.SetWriteDeadline(time.Now().Add(syslogWriteTimeout))
		if _, err := s.conn.Write(s.msg); err != nil {
			s.m.writeErrors.Inc()
			s.warn("syslog send failed", err)
			return
		}
		s.m.written.Inc()
		s.recovered()
		return
	}
	// Octet counting (RFC 6587 section 3.4.1): MSG-LEN SP SYSLOG-MSG.
	s.buf = strconv.AppendInt(s.buf, int64(len(s.msg)), 10)
	s.buf = append(s.buf, ' ')
	s.buf = append(s.buf, s.msg...)
	s.pending++
	if len(s.buf) >= batchSize {
		s.flush()
	}
}

func (s *syslogSink) flush() {
	if !s.stream || s.pending == 0 {
		return
	}
	if s.conn == nil {
		// The collector closed the connection mid-batch and the reconnect
		// failed.
		s.m.dropped.Add(float64(s.pending))
		s.buf, s.pending = s.buf[:0], 0
		return
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(syslogWriteTimeout))
	_, err := s.conn.Write(s.buf)
	if err != nil {
		// Which of the batch arrived cannot be known; count it all lost.
		s.m.writeErrors.Add(float64(s.pending))
		wasHealthy := s.healthy
		s.disconnect(err)
		if wasHealthy {
			s.retryAt = time.Time{} // a first reconnect at once, then back off
		}
	} else {
		s.m.written.Add(float64(s.pending))
		s.healthy = true
		s.backoff = syslogMinBackoff
		s.recovered()
	}
	s.buf, s.pending = s.buf[:0], 0
}

// connect dials the collector unless a back-off is running; it reports
// whether there is a connection.
func (s *syslogSink) connect() bool {
	now := time.Now()
	if now.Before(s.retryAt) {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), syslogDialTimeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if s.tls != nil {
		d := tls.Dialer{Config: s.tls}
		conn, err = d.DialContext(ctx, s.network, s.address)
	} else {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, s.network, s.address); err == nil {
			// One send per hit on UDP: raw, so it does not wake sysmon.
			conn = rawio.Wrap(conn)
		}
	}
	if err != nil {
		s.retryAt = time.Now().Add(s.backoff)
		s.backoff = min(2*s.backoff, syslogMaxBackoff)
		s.warn("syslog connect failed; dropping lines until it succeeds", err)
		return false
	}
	s.conn, s.healthy = conn, false
	s.dead = nil
	if s.stream {
		// The collector never sends anything, so a read returns only when it
		// closes the connection; watching for that lets add reconnect before
		// writing into a dead socket.
		dead := make(chan struct{})
		go func() {
			defer close(dead)
			_, _ = io.Copy(io.Discard, conn)
		}()
		s.dead = dead
	}
	return true
}

func (s *syslogSink) peerClosed() bool {
	if s.dead == nil {
		return false
	}
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// disconnect drops the connection; lines are dropped until connect succeeds.
func (s *syslogSink) disconnect(err error) {
	if s.conn == nil {
		return
	}
	_ = s.conn.Close()
	if s.dead != nil {
		<-s.dead // the reader returns once conn is closed
	}
	s.conn, s.dead, s.healthy = nil, nil, false
	s.retryAt = time.Now().Add(s.backoff)
	s.backoff = min(2*s.backoff, syslogMaxBackoff)
	if err != nil {
		s.warn("syslog connection lost; dropping lines until it is back", err)
	}
}

// warn logs the first failure of an outage only, so a dead collector does
// not flood the service log.
func (s *syslogSink) warn(msg string, err error) {
	if s.down {
		return
	}
	s.down = true
	s.log.Warn(s.name+" "+msg, "address", s.address, "err", err)
}

func (s *syslogSink) recovered() {
	if s.down {
		s.down = false
		s.log.Info(s.name+" syslog delivery recovered", "address", s.address)
	}
}

func (s *syslogSink) close() {
	s.disconnect(nil)
}
