// Package blocklist turns domain lists into an immutable suffix trie that
// answers "is this query name blocked, and by which list line?".
//
// Lists come in Dijk's plain format, hosts files, the DNS subset of Adblock
// syntax and RPZ zone files (see Format); a path's format is detected from
// its content unless the source names it ("rpz:/path"). Each entry covers a
// name, the names below it, or both (Kind), may carry a block response
// (Action), or may be an exception (Entry.Allow), which LoadPolicy puts into
// a trie of its own. Lint finds entries that change nothing, and WriteRPZ
// exports what is loaded for resolvers that speak RPZ.
//
// Lists are parsed line by line; a malformed or unsupported line becomes a
// Warning and never costs the rest of the list, because a firewall that
// silently loads half a list fails open. Lookups take names in DNS
// presentation format as the resolver sees them and allocate nothing, so
// they can sit on the hot path of every query.
//
// The package deliberately knows nothing about DNS library types: it deals in
// strings, so the DNS library can be replaced without touching it.
package blocklist
