// Package upstream is the terminal handler of Dijk's chain
// (server → policy → cache → upstream): it forwards each query to the
// configured upstream resolvers and returns their answer.
//
// Upstreams are given as server strings (see ParseServer): plain DNS over
// UDP (TCP when truncated) or TCP only, DNS over TLS (RFC 7858) and DNS over
// HTTPS (RFC 8484). Every upstream is dialled by IP, so Dijk never needs a
// resolver to reach its resolvers.
//
// Every attempt uses a fresh query and accepts only an answer whose ID and
// question match (RFC 5452 §3, §9.1). Plain attempts use a fresh socket,
// so a fresh source port. Identical in-flight queries share one exchange
// (RFC 5452 §5). Truncated UDP answers are retried over TCP (RFC 1035
// §4.2.1). Upstreams that fail are skipped for a cooldown.
//
// Encrypted upstreams always verify the certificate (RFC 8310 strict
// profile, TLS 1.2 or later) and never fall back to cleartext. DoT keeps a
// few connections per upstream and pipelines queries on them, matching
// answers by ID (RFC 7766 §6.2.1, §7); a query whose connection broke is
// retried once on a new one. DoH keeps one HTTP/2 client per upstream and
// sends POST with ID 0 (RFC 8484 §4.1). Queries on both are padded to a
// multiple of 128 octets (RFC 8467). Connections idle for 30 s are closed.
//
// Metrics (registered on Options.Registerer; the upstream label is the
// server string as configured):
//
//	dijk_upstream_request_duration_seconds{upstream}  histogram: time of attempts that got an answer (incl. a TCP retry)
//	dijk_upstream_errors_total{upstream,kind}         counter: failed attempts; kind is one of
//	                                                   timeout              no matching answer before the attempt's deadline
//	                                                   network              dial, write or read error (e.g. ICMP port unreachable, connection reset)
//	                                                   rcode                answer was SERVFAIL, REFUSED or NOTIMP
//	                                                   truncated_tcp_failed UDP answer had TC set and the TCP retry failed (UDP upstreams)
//	                                                   tls                  TLS handshake failed: untrusted or mismatched certificate, alert (DoT, DoH)
//	                                                   http                 DoH answer unusable: status not 200, wrong content type, over 65535 octets, or no matching DNS message
//	dijk_upstream_mismatched_total{upstream}          counter: ignored answers whose ID or question did not match, or that did not parse
//	dijk_upstream_connections_total{upstream}         counter: connections opened to DoT and DoH upstreams
//	dijk_upstream_loops_total                         counter: queries refused as a forwarding loop (ErrLoop)
//	dijk_upstream_up{upstream}                        gauge: 1 healthy or untested, 0 in cooldown
package upstream
