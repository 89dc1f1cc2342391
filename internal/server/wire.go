package server

import (
	"encoding/binary"
	"net"

	"github.com/miekg/dns"
)

// The wire fast path. Nearly every query a resolver sees is plain: one
// question with an uncompressed name, opcode QUERY, and at most an EDNS 0 OPT
// record. For those the UDP reader reads the few fields it needs straight
// from the datagram and writes the answer's header, question and OPT record
// itself, packing only the handler's records with miekg/dns. That skips
// building a dns.Msg for the query, the envelope's copy, and the compression
// map: in BenchmarkDatagram they were about half the user-space work and most
// of the allocations. Anything else takes the general path, which applies
// every protocol rule with miekg's parser; so does an answer the fast writer
// cannot produce exactly (truncation, extended RCODEs).

// DNS header flag bits.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagAD = 1 << 5
	flagCD = 1 << 4
)

// wireQuery is what the fast path reads from a plain query.
type wireQuery struct {
	id       uint16
	flags    uint16
	question []byte // the question section as sent (name, type, class)
	qtype    uint16
	qclass   uint16
	edns     bool
	udpSize  uint16
	do       bool
	upper    bool // the name has upper-case letters
}

// parseWireQuery reads pkt into q and appends the name's presentation form,
// lower-cased, to name. It reports false for anything but a plain query;
// the caller then takes the general path, which answers or rejects it.
func parseWireQuery(pkt []byte, q *wireQuery, name []byte) ([]byte, bool) {
	*q = wireQuery{}
	if len(pkt) < headerLen {
		return name, false
	}
	flags := binary.BigEndian.Uint16(pkt[2:])
	if flags&flagQR != 0 || flags&(0xF<<11) != 0 || // a response, or opcode other than QUERY
		binary.BigEndian.Uint16(pkt[4:]) != 1 || // questions
		binary.BigEndian.Uint16(pkt[6:]) != 0 || binary.BigEndian.Uint16(pkt[8:]) != 0 {
		return name, false
	}
	arcount := binary.BigEndian.Uint16(pkt[10:])
	if arcount > 1 {
		return name, false
	}
	off := headerLen
	start := len(name)
	for {
		if off >= len(pkt) {
			return name, false
		}
		n := int(pkt[off])
		off++
		if n == 0 {
			break
		}
		if n > 63 || off+n > len(pkt) { // a compression pointer or a bad length
			return name, false
		}
		for _, c := range pkt[off : off+n] {
			if !plainLabelByte(c) {
				return name, false // miekg escapes it: let miekg spell it
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
				q.upper = true
			}
			name = append(name, c)
		}
		name = append(name, '.')
		off += n
	}
	if len(name) == start {
		name = append(name, '.')
	}
	if len(name)-start > 254 || off+4 > len(pkt) { // 255 octets on the wire
		return name, false
	}
	q.id = binary.BigEndian.Uint16(pkt)
	q.flags = flags
	q.qtype = binary.BigEndian.Uint16(pkt[off:])
	q.qclass = binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.question = pkt[headerLen:off]
	if arcount == 0 {
		return name, off == len(pkt)
	}
	// The OPT record: root owner, type OPT, class = UDP size, TTL =
	// extended RCODE, version, DO and Z; then the options.
	if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != dns.TypeOPT {
		return name, false
	}
	q.edns = true
	q.udpSize = binary.BigEndian.Uint16(pkt[off+3:])
	if pkt[off+6] != 0 { // EDNS version: BADVERS is the general path's
		return name, false
	}
	q.do = pkt[off+7]&0x80 != 0
	rdlen := int(binary.BigEndian.Uint16(pkt[off+9:]))
	off += 11
	if off+rdlen != len(pkt) {
		return name, false
	}
	for opts := pkt[off:]; len(opts) > 0; {
		if len(opts) < 4 {
			return name, false
		}
		l := 4 + int(binary.BigEndian.Uint16(opts[2:]))
		if l > len(opts) {
			return name, false
		}
		opts = opts[l:]
	}
	return name, true
}

// appendSpelling appends the presentation form of a fast-path question's
// name as the client spelled it (parseWireQuery checked its labels).
func appendSpelling(dst, question []byte) []byte {
	start := len(dst)
	for off := 0; question[off] != 0; {
		n := int(question[off])
		dst = append(dst, question[off+1:off+1+n]...)
		dst = append(dst, '.')
		off += 1 + n
	}
	if len(dst) == start {
		dst = append(dst, '.')
	}
	return dst
}

// plainLabelByte reports whether miekg writes c in a name as it is, without
// a backslash escape.
func plainLabelByte(c byte) bool {
	if c <= ' ' || c > '~' {
		return false
	}
	switch c {
	case '.', '\'', '@', ';', '(', ')', '"', '\\':
		return false
	}
	return true
}

// replyScratch is the reusable space appendReply packs through.
type replyScratch struct {
	msg      dns.Msg
	question [1]dns.Question
	extra    []dns.RR
	ede      []*dns.EDNS0_EDE
	// records is the reader's cache of packed records, nil for a query
	// that moved off the reader (its records are its own).
	records *recordCache
}

// recordCache keeps the uncompressed wire form of records a reader sent
// before, by identity. Handlers never modify a record once they returned
// it (chain contract), so a shared one packs the same every time: a
// rule's SOA in every answer it blocks, a cached answer's records for the
// second they are served. An answer whose records are all here is
// written by copying bytes, without miekg's packing (a quarter of a
// blocked answer's work in BenchmarkDatagramBlocked). A record is stored
// the second time it is seen, so answers built fresh each time cost only
// a map entry.
type recordCache struct {
	at    map[dns.RR]span // end 0: seen once, not stored
	bytes []byte
}

type span struct{ start, end int32 }

// maxCachedRecords and maxCachedBytes bound a reader's record cache; when
// either is reached it starts over. Typical records take 30-60 bytes; the
// byte bound keeps large ones (an upstream's big TXT records) from pinning
// megabytes per reader.
const (
	maxCachedRecords = 4096
	maxCachedBytes   = 256 << 10
)

// put writes rr's stored form to b at off and returns the new offset, or
// false when rr is not stored or does not fit.
func (c *recordCache) put(b []byte, off int, rr dns.RR) (int, bool) {
	sp, ok := c.at[rr]
	if !ok || sp.end == 0 || off+int(sp.end-sp.start) > len(b) {
		return off, false
	}
	return off + copy(b[off:], c.bytes[sp.start:sp.end]), true
}

// learn notes the records of msg, an answer just packed uncompressed with
// a question of qnameLen name bytes, whose records are the given
// sections in order: each is stored the second time it is seen.
func (c *recordCache) learn(msg []byte, qnameLen int, sections ...[]dns.RR) {
	if len(c.at) >= maxCachedRecords || len(c.bytes) >= maxCachedBytes {
		clear(c.at)
		c.bytes = c.bytes[:0]
	}
	off := headerLen + qnameLen + 4
	for _, rrs := range sections {
		for _, rr := range rrs {
			end := recordEnd(msg, off)
			if end < 0 {
				return
			}
			switch sp, ok := c.at[rr]; {
			case !ok:
				c.at[rr] = span{}
			case sp.end == 0:
				start := len(c.bytes)
				c.bytes = append(c.bytes, msg[off:end]...)
				c.at[rr] = span{int32(start), int32(len(c.bytes))}
			}
			off = end
		}
	}
}

// ownerEnd returns where the uncompressed owner name of the record at off
// in msg ends, or -1 when the name and the fixed fields after it run past
// msg.
func ownerEnd(msg []byte, off int) int {
	for off < len(msg) && msg[off] != 0 {
		off += 1 + int(msg[off])
	}
	off++ // the root label
	if off+10 > len(msg) {
		return -1
	}
	return off
}

// recordEnd returns where the uncompressed record at off in msg ends, or
// -1 when it runs past msg.
func recordEnd(msg []byte, off int) int {
	name := ownerEnd(msg, off)
	if name < 0 {
		return -1
	}
	end := name + 10 + int(binary.BigEndian.Uint16(msg[name+8:]))
	if end > len(msg) {
		return -1
	}
	return end
}

// addressRecord writes rr to b at off, uncompressed, when it is an A or
// AAAA record whose owner is the query name as the client spelled it, and
// returns the new offset; false means another writer must. These records
// are built afresh for each answer (a null or ip sinkhole's, most answers
// from upstream), so the record cache never holds them, and writing them
// here keeps them from crowding out the records it does hold.
func addressRecord(b []byte, off int, q *wireQuery, spelled string, rr dns.RR) (int, bool) {
	var hdr *dns.RR_Header
	var rdata []byte
	switch rr := rr.(type) {
	case *dns.A:
		hdr, rdata = &rr.Hdr, rr.A.To4()
		if hdr.Rrtype != dns.TypeA || rdata == nil {
			return off, false
		}
	case *dns.AAAA:
		hdr, rdata = &rr.Hdr, rr.AAAA
		if hdr.Rrtype != dns.TypeAAAA || len(rdata) != net.IPv6len {
			return off, false
		}
	default:
		return off, false
	}
	owner := q.question[:len(q.question)-4]
	if hdr.Name != spelled || off+len(owner)+10+len(rdata) > len(b) {
		return off, false
	}
	off += copy(b[off:], owner)
	binary.BigEndian.PutUint16(b[off:], hdr.Rrtype)
	binary.BigEndian.PutUint16(b[off+2:], hdr.Class)
	binary.BigEndian.PutUint32(b[off+4:], hdr.Ttl)
	binary.BigEndian.PutUint16(b[off+8:], uint16(len(rdata)))
	return off + 10 + copy(b[off+10:], rdata), true
}

// write writes the header, question and records of the answer to q into
// b when every record is an address record addressRecord writes or is in
// the reader's record cache, and returns the message; false means the
// caller packs it.
func (sc *replyScratch) write(b []byte, q *wireQuery, spelled string, resp *dns.Msg) ([]byte, bool) {
	if headerLen+len(q.question) > len(b) {
		return nil, false
	}
	off := headerLen + copy(b[headerLen:], q.question)
	var ok bool
	for _, rrs := range [...][]dns.RR{resp.Answer, resp.Ns, sc.extra} {
		for _, rr := range rrs {
			if off, ok = addressRecord(b, off, q, spelled, rr); ok {
				continue
			}
			if sc.records == nil {
				return nil, false
			}
			if off, ok = sc.records.put(b, off, rr); !ok {
				return nil, false
			}
		}
	}
	flags := uint16(flagQR|flagRA) | uint16(resp.Rcode)
	flags |= q.flags & (flagRD | flagCD)
	if passAD(resp.AuthenticatedData, q.do, q.flags&flagAD != 0) {
		flags |= flagAD
	}
	binary.BigEndian.PutUint16(b[0:], q.id)
	binary.BigEndian.PutUint16(b[2:], flags)
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], uint16(len(resp.Answer)))
	binary.BigEndian.PutUint16(b[8:], uint16(len(resp.Ns)))
	binary.BigEndian.PutUint16(b[10:], uint16(len(sc.extra)))
	return b[:off], true
}

// appendReply writes the answer to q with resp's rcode and records into buf
// (its whole capacity, udpOutSize bytes), as envelope and Pack would, except
// that only owner names spelled exactly as the query name are compressed.
// spelled is the query name as the client wrote it. It reports false when
// the answer needs the general path: it would not fit limit, or it carries
// what the fast writer does not write.
//
// The records go through miekg's Msg.PackBuffer without compression, which
// only reads them (dns.PackRR would write each record's Rdlength, and
// records are shared between answers, so that would be a data race).
func appendReply(sc *replyScratch, buf []byte, q *wireQuery, spelled string, resp *dns.Msg, limit int) ([]byte, bool) {
	if resp.Rcode < 0 || resp.Rcode > 0xF || resp.Truncated {
		return nil, false
	}
	sc.extra, sc.ede = sc.extra[:0], sc.ede[:0]
	for _, rr := range resp.Extra {
		opt, isOPT := rr.(*dns.OPT)
		if !isOPT {
			sc.extra = append(sc.extra, rr)
			continue
		}
		for _, o := range opt.Option {
			e, isEDE := o.(*dns.EDNS0_EDE)
			if !isEDE {
				if o.Option() == dns.EDNS0EDE {
					return nil, false // an EDE of another type: envelope keeps it
				}
				continue
			}
			sc.ede = append(sc.ede, e)
		}
	}
	packed, written := sc.write(buf[:cap(buf)], q, spelled, resp)
	if !written {
		var ok bool
		if packed, ok = sc.pack(buf, q, spelled, resp); !ok {
			return nil, false
		}
	}
	packed, ok := compressOwners(packed, len(q.question)-4)
	if !ok {
		return nil, false
	}
	if q.edns {
		off, ok := appendOPT(packed[:cap(packed)], len(packed), q.do, sc.ede)
		if !ok {
			return nil, false
		}
		packed = packed[:off]
		binary.BigEndian.PutUint16(packed[10:], binary.BigEndian.Uint16(packed[10:])+1)
	}
	if len(packed) > limit {
		return nil, false
	}
	return packed, true
}

// pack packs the answer's header, question and records into buf with
// miekg, uncompressed, and teaches the reader's record cache its records.
func (sc *replyScratch) pack(buf []byte, q *wireQuery, spelled string, resp *dns.Msg) ([]byte, bool) {
	sc.question[0] = dns.Question{Name: spelled, Qtype: q.qtype, Qclass: q.qclass}
	sc.msg = dns.Msg{
		MsgHdr: dns.MsgHdr{
			Id:                 q.id,
			Response:           true,
			RecursionDesired:   q.flags&flagRD != 0,
			RecursionAvailable: true,
			CheckingDisabled:   q.flags&flagCD != 0,
			AuthenticatedData:  passAD(resp.AuthenticatedData, q.do, q.flags&flagAD != 0),
			Rcode:              resp.Rcode,
		},
		Question: sc.question[:],
		Answer:   resp.Answer,
		Ns:       resp.Ns,
		Extra:    sc.extra,
	}
	packed, err := sc.msg.PackBuffer(buf[:cap(buf)])
	sc.msg = dns.Msg{} // drop the references to shared records
	if err != nil || len(packed) > cap(buf) || &packed[0] != &buf[:1][0] {
		return nil, false // too large for the buffer, so for any UDP limit
	}
	if sc.records != nil {
		sc.records.learn(packed, len(q.question)-4, resp.Answer, resp.Ns, sc.extra)
	}
	return packed, true
}

// compressOwners turns every record owner that repeats the question's name
// byte for byte into a pointer to it: the common case, and most of the
// compression worth having in a small answer. msg holds one question whose
// name takes qnameLen bytes, and no compression pointers.
func compressOwners(msg []byte, qnameLen int) ([]byte, bool) {
	if qnameLen <= 2 {
		return msg, true
	}
	qname := msg[headerLen : headerLen+qnameLen]
	records := int(binary.BigEndian.Uint16(msg[6:])) + int(binary.BigEndian.Uint16(msg[8:])) + int(binary.BigEndian.Uint16(msg[10:]))
	off := headerLen + qnameLen + 4
	for range records {
		end := ownerEnd(msg, off)
		if end < 0 {
			return msg, false
		}
		if end-off == qnameLen && string(msg[off:end]) == string(qname) {
			msg[off], msg[off+1] = 0xC0, headerLen
			n := copy(msg[off+2:], msg[end:])
			msg = msg[:off+2+n]
			end = off + 2
		}
		off = end + 10 + int(binary.BigEndian.Uint16(msg[end+8:]))
	}
	return msg, off == len(msg)
}

// appendOPT writes the client's OPT record: our UDP size, the query's DO
// bit, and the handler's Extended DNS Errors.
func appendOPT(b []byte, off int, do bool, ede []*dns.EDNS0_EDE) (int, bool) {
	rdlen := 0
	for _, e := range ede {
		rdlen += 4 + 2 + len(e.ExtraText)
	}
	if off+11+rdlen > len(b) || rdlen > 0xFFFF {
		return off, false
	}
	b[off] = 0 // root
	binary.BigEndian.PutUint16(b[off+1:], dns.TypeOPT)
	binary.BigEndian.PutUint16(b[off+3:], maxUDPSize)
	b[off+5], b[off+6] = 0, 0 // extended RCODE, version
	var z uint16
	if do {
		z = 1 << 15
	}
	binary.BigEndian.PutUint16(b[off+7:], z)
	binary.BigEndian.PutUint16(b[off+9:], uint16(rdlen))
	off += 11
	for _, e := range ede {
		binary.BigEndian.PutUint16(b[off:], dns.EDNS0EDE)
		binary.BigEndian.PutUint16(b[off+2:], uint16(2+len(e.ExtraText)))
		binary.BigEndian.PutUint16(b[off+4:], e.InfoCode)
		off += 6 + copy(b[off+6:], e.ExtraText)
	}
	return off, true
}
