package blocklist

import (
	"hash/maphash"
	"math"
	"unsafe"
)

// nodeTable is the trie's hash table from a name to its node: open
// addressing with linear probing over 16-octet slots that point into one
// byte slice of names. Nothing in it is a pointer the collector must
// follow, whatever the list's size.
type nodeTable struct {
	// names holds node names back to back. Bytes once appended are never
	// written again, so strings may view them (see name).
	names []byte
	slots []nodeSlot
	used  int
	seed  maphash.Seed
}

type nodeSlot struct {
	nameAt  uint32
	nameLen uint8 // 0: the slot is empty; no node has an empty name
	tag     uint8 // low bits of the name's hash: most other slots fail on it without reading names
	node    node
}

// capacityFor is the table size for n nodes: two thirds full, where linear
// probing stays short and a 1M-node table takes 24 MB.
func capacityFor(n int) int { return n + n/2 + 8 }

// A table grows once it is three quarters full.
func (t *nodeTable) full() bool { return (t.used+1)*4 > len(t.slots)*3 }

// newNodeTable sizes a table for about names names of nameBytes octets in
// all; each name adds a node, and so may each of its suffixes.
func newNodeTable(names, nameBytes int) nodeTable {
	t := nodeTable{seed: maphash.MakeSeed()}
	if names > 0 {
		t.slots = make([]nodeSlot, capacityFor(names))
	}
	if nameBytes > 0 {
		t.names = make([]byte, 0, nameBytes)
	}
	return t
}

// name is the string of the name bytes at..at+n, without copying them.
func (t *nodeTable) name(at uint32, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&t.names[at], n)
}

// home is where probing for hash h starts: the top 32 bits scaled to the
// table, so the size need not be a power of two.
func (t *nodeTable) home(h uint64) int {
	return int((h >> 32) * uint64(len(t.slots)) >> 32)
}

// find returns the index of the slot holding name, and name's hash for
// an insert when there is none.
func (t *nodeTable) find(name string) (i int, h uint64, ok bool) {
	h = maphash.String(t.seed, name)
	if len(t.slots) == 0 {
		return 0, h, false
	}
	tag := uint8(h)
	for i := t.home(h); ; {
		s := &t.slots[i]
		if s.nameLen == 0 {
			return 0, h, false
		}
		if s.tag == tag && int(s.nameLen) == len(name) && string(t.names[s.nameAt:s.nameAt+uint32(s.nameLen)]) == name {
			return i, h, true
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

// get returns the node for name. It allocates nothing.
func (t *nodeTable) get(name string) (node, bool) {
	i, _, ok := t.find(name)
	if !ok {
		return node{}, false
	}
	return t.slots[i].node, true
}

// appendName stores name's bytes and returns where they start.
func (t *nodeTable) appendName(name string) uint32 {
	at := len(t.names)
	if at+len(name) > math.MaxUint32 {
		panic("blocklist: more than 4 GiB of names in one trie")
	}
	t.names = append(t.names, name...)
	return uint32(at)
}

// insert adds an empty node for the n name bytes at at, whose hash h find
// returned: the table must not hold the name yet. It returns the slot
// index, and may grow the table, which moves other slots.
func (t *nodeTable) insert(at uint32, n int, h uint64) int {
	if t.full() {
		// By half, not double: past the hint a list mostly needs a little
		// more room, for the parents of its deeper names.
		t.resize(max(capacityFor(16), len(t.slots)+len(t.slots)/2))
	}
	i := t.place(h)
	t.slots[i] = nodeSlot{nameAt: at, nameLen: uint8(n), tag: uint8(h)}
	t.used++
	return i
}

// place returns the first empty slot from h's home on.
func (t *nodeTable) place(h uint64) int {
	for i := t.home(h); ; {
		if t.slots[i].nameLen == 0 {
			return i
		}
		if i++; i == len(t.slots) {
			i = 0
		}
	}
}

func (t *nodeTable) resize(capacity int) {
	old := t.slots
	t.slots = make([]nodeSlot, capacity)
	for _, s := range old {
		if s.nameLen != 0 {
			t.slots[t.place(maphash.String(t.seed, t.name(s.nameAt, int(s.nameLen))))] = s
		}
	}
}

// fit shrinks a table that grew past what its nodes need, once no more
// are coming: doubling near the end of a load can leave it under half full.
func (t *nodeTable) fit() {
	if want := capacityFor(t.used); len(t.slots) > want+want/4 {
		t.resize(want)
	}
}
