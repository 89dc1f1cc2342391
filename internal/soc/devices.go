package soc

import (
	"net/netip"
	"strings"
	"time"
)

// none is the null link in the device list.
const none = -1

// device is one client address in the device table.
type device struct {
	addr        netip.Addr
	first, last int64 // Unix nanoseconds: half the size of time.Time
	count       uint64
	bypass      uint64 // hits of kind bypass, included in count
	names       []string
	namesFull   bool  // more distinct names were seen than are kept
	prev, next  int32 // list links: slab indices, or none
}

// deviceTable holds devices in one slab and links them in order of the last
// hit, most recent first. The slab keeps a full-table scan sequential in
// memory (Stats sorted by count scans it under the lock), the links make
// eviction and "most recently seen" O(1), and slots are reused on eviction
// so the steady state allocates nothing.
type deviceTable struct {
	max, maxNames int
	byAddr        map[netip.Addr]int32
	slab          []device
	head, tail    int32 // most and least recently seen, or none
}

func newDeviceTable(maxDevices, maxNames int) deviceTable {
	return deviceTable{
		max: maxDevices, maxNames: maxNames,
		byAddr: make(map[netip.Addr]int32),
		head:   none, tail: none,
	}
}

func (d *deviceTable) len() int { return len(d.byAddr) }

// touch records a hit by addr for name at t. added reports a device new to the
// table; evicted that another device was dropped to make room for it.
func (d *deviceTable) touch(addr netip.Addr, t time.Time, name string, bypass bool) (added, evicted bool) {
	ns := t.UnixNano()
	i, ok := d.byAddr[addr]
	if ok {
		d.unlink(i)
	} else {
		added = true
		if len(d.slab) >= d.max {
			i = d.tail
			d.unlink(i)
			v := &d.slab[i]
			delete(d.byAddr, v.addr)
			clear(v.names) // drop references so old names can be freed
			*v = device{names: v.names[:0]}
			evicted = true
		} else {
			i = int32(len(d.slab))
			d.slab = append(d.slab, device{})
		}
		v := &d.slab[i]
		v.addr, v.first, v.last = addr, ns, ns
		d.byAddr[addr] = i
	}
	d.pushFront(i)
	v := &d.slab[i]
	v.count++
	if bypass {
		v.bypass++
	}
	v.first = min(v.first, ns)
	v.last = max(v.last, ns)
	v.addName(name, d.maxNames)
	return added, evicted
}

func (v *device) addName(name string, max int) {
	for _, n := range v.names {
		if n == name {
			return
		}
	}
	if len(v.names) >= max {
		v.namesFull = true
		return
	}
	// Clone: the event's string may share memory with a larger buffer that
	// the table would otherwise keep alive.
	v.names = append(v.names, strings.Clone(name))
}

func (d *deviceTable) unlink(i int32) {
	v := &d.slab[i]
	if v.prev != none {
		d.slab[v.prev].next = v.next
	} else {
		d.head = v.next
	}
	if v.next != none {
		d.slab[v.next].prev = v.prev
	} else {
		d.tail = v.prev
	}
	v.prev, v.next = none, none
}

func (d *deviceTable) pushFront(i int32) {
	v := &d.slab[i]
	v.prev, v.next = none, d.head
	if d.head != none {
		d.slab[d.head].prev = i
	} else {
		d.tail = i
	}
	d.head = i
}
