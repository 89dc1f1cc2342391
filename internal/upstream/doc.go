// Package upstream is the terminal handler of Dijk's chain
// (server → policy → cache → upstream): it forwards each query to the
// configured upstream resolvers and returns their answer.
//
// Every attempt uses a fresh query (random ID, fresh UDP socket, so a fresh
// source port) and accepts only an answer whose ID and question match
// (RFC 5452 §3, §9.1). Identical in-flight queries share one exchange
// (RFC 5452 §5). Truncated UDP answers are retried over TCP (RFC 1035
// §4.2.1). Upstreams that time out are skipped for a cooldown.
//
// Metrics (registered on Options.Registerer):
//
//	dijk_upstream_request_duration_seconds{upstream}  histogram: time of attempts that got an answer (incl. a TCP retry)
//	dijk_upstream_errors_total{upstream,kind}         counter: failed attempts; kind is one of
//	                                                   timeout              no matching answer before the attempt's deadline
//	                                                   network              dial, write or read error (e.g. ICMP port unreachable)
//	                                                   rcode                answer was SERVFAIL, REFUSED or NOTIMP
//	                                                   truncated_tcp_failed UDP answer had TC set and the TCP retry failed
//	dijk_upstream_mismatched_total{upstream}          counter: ignored answers whose ID or question did not match, or that did not parse
//	dijk_upstream_loops_total                         counter: queries refused as a forwarding loop (ErrLoop)
//	dijk_upstream_up{upstream}                        gauge: 1 healthy or untested, 0 in cooldown
package upstream
