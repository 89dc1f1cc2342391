// Package soc gives the security operations centre a live view of what Dijk
// blocks: which devices still try to reach banned services, since when, and
// how often. A Recorder receives every hit-log event next to the hit-log
// writer and keeps, in bounded memory and since start only:
//
//   - a ring of the most recent hits (Options.RingSize, default 10,000);
//   - per device (client IP): first seen, last seen, count, bypass count and
//     up to Options.NamesPerDevice distinct names; at most Options.MaxDevices
//     devices, the least recently seen evicted first;
//   - hits per name (top names; estimates once more than Options.MaxNames
//     distinct names were seen), per list, and per hour for 48 hours.
//
// The hit log stays the record; this package is a view that restarts empty.
//
// # HTTP API
//
// Recorder.Handler serves JSON under /api/v1/ and an HTML console at /.
// GET and HEAD only. Times are RFC 3339 in UTC. Field names follow the hit
// log's Elastic Common Schema layout where one exists (client.ip,
// dns.question.name, rule.name, dijk.list). Errors are
//
//	{"error": "parameter limit: \"0\" is not a whole number from 1 to 1000", "parameter": "limit"}
//
// with status 400 for a bad, unknown or repeated parameter, and 401 when a
// token is configured and missing or wrong.
//
// GET /api/v1/hits?since=&client=&list=&kind=&limit= returns recent hits from
// the ring, newest first. since is an RFC 3339 time or a duration back from
// now ("15m", "24h"); client an IP address; list a list name as in dijk.list
// (builtin:deepseek); kind block or bypass; limit 1 to 1000, default 100.
// more says that more hits matched than limit.
//
//	{"hits": [{
//	   "@timestamp": "2025-06-02T09:14:07.123Z",
//	   "event": {"kind": "event", "action": "nxdomain"},
//	   "client": {"ip": "192.0.2.77", "port": 53124},
//	   "network": {"transport": "udp", "type": "ipv4"},
//	   "dns": {"id": 4242, "question": {"name": "chat.deepseek.com", "type": "A", "class": "IN"}, "response_code": "NXDOMAIN"},
//	   "rule": {"name": "deepseek.com", "ruleset": "builtin:deepseek", "id": "builtin:deepseek:12"},
//	   "dijk": {"kind": "block", "group": "default", "list": "builtin:deepseek", "list_version": "…", "entry": "deepseek.com", "match": "suffix", "line": 12}
//	 }],
//	 "count": 1, "limit": 100, "more": false}
//
// GET /api/v1/stats?devices=&sort=&names= returns the aggregates. devices
// (1 to 10,000, default 100) and sort (last_seen, the default; count;
// first_seen) size and order the device table; names (1 to 1000, default
// 20) sizes the top-names table.
//
//	{"generated": "…", "started": "…",
//	 "totals": {"hits": 1234, "bypass": 3, "first_hit": "…", "last_hit": "…",
//	            "devices_seen": 41, "devices_tracked": 40, "devices_evicted": 1,
//	            "names_tracked": 17, "recent_hits": 1234},
//	 "devices": [{"client": {"ip": "192.0.2.77"}, "first_seen": "…", "last_seen": "…",
//	              "count": 57, "bypass": 0, "names": ["chat.deepseek.com"], "names_truncated": false}],
//	 "top_names": [{"dns": {"question": {"name": "chat.deepseek.com"}}, "count": 800}],
//	 "per_hour": [{"start": "2025-06-02T09:00:00Z", "count": 12}],
//	 "per_list": [{"dijk": {"list": "builtin:deepseek"}, "count": 1200}],
//	 "lists": [{"source": "builtin:deepseek", "entries": 120, "updated": "…", "failures": 0}]}
//
// per_hour always has 48 entries, oldest first, ending with the current
// hour. A top name's "overcount", when present, bounds how far its count
// may be too high. devices_seen counts a device again if it returns after
// eviction, as does the dijk_soc_new_devices_total metric.
//
// # Console
//
// GET / is a server-rendered page (no JavaScript, no external resources;
// its stylesheet is /console.css) with the totals, a bar chart of blocks
// per hour, the devices table (id "devices"), the latest 50 hits (id
// "hits"), top names, hits per list and the block lists' status. It
// reloads itself every 30 seconds.
//
// # Authentication
//
// With HandlerOptions.Token set, every request needs
// "Authorization: Bearer <token>". Browsers can send the token as the
// password of HTTP Basic authentication (any user name): the 401 offers
// Basic so that a browser prompts for it.
//
// # Metrics
//
// dijk_soc_new_devices_total counts client addresses blocked for the first
// time since start; dijk_soc_devices is the size of the device table;
// dijk_soc_device_evictions_total counts devices dropped from the full table.
package soc
