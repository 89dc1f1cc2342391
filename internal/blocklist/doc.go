// Package blocklist turns domain lists into an immutable suffix trie that
// answers "is this query name blocked, and by which list line?".
//
// Lists are parsed line by line; a malformed line becomes a Warning and never
// costs the rest of the list, because a firewall that silently loads half a
// list fails open. Lookups take names in DNS presentation format as the
// resolver sees them and allocate nothing, so they can sit on the hot path of
// every query.
//
// The package deliberately knows nothing about DNS library types: it deals in
// strings, so the DNS library can be replaced without touching it.
package blocklist
