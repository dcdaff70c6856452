package limits

import "math/bits"

// keyTable maps string keys to values of type V: a dense slice of entries
// and an open-addressing index over it, so a lookup allocates nothing and
// a removal leaves no tombstone. Its owner's lock guards it; the zero
// value is an empty table with no size limit.
type keyTable[V any] struct {
	// slots holds, at the first free slot from a key's hash&mask (linear
	// probing), its entry index plus one; 0 is free. len(slots) is a power
	// of two at least twice cap(entries), so the index is at most half
	// full and every probe run ends within len(slots) steps.
	slots   []int32
	entries []tableEntry[V]
	maxLen  int // entries never grow past it; 0: no limit
}

// tableEntry is one key of a keyTable.
type tableEntry[V any] struct {
	key  string
	hash uint64
	val  V
}

// find returns the index of key's entry, hashed to h, or -1.
func (t *keyTable[V]) find(h uint64, key string) int32 {
	mask := uint64(len(t.slots) - 1)
	j := h & mask
	for range t.slots {
		s := t.slots[j]
		if s == 0 {
			return -1
		}
		if e := &t.entries[s-1]; e.hash == h && e.key == key {
			return s - 1
		}
		j = (j + 1) & mask
	}
	return -1
}

// add adds key, which must be absent and hash to h, with V's zero value,
// and returns its index. The table keeps key itself: a caller whose key
// may share memory it does not want kept passes a copy. With maxLen set,
// the caller must check that len(t.entries) < t.maxLen first.
func (t *keyTable[V]) add(h uint64, key string) int32 {
	if len(t.entries) == cap(t.entries) {
		n := max(minTableCap, 2*cap(t.entries))
		if t.maxLen > 0 {
			n = min(n, t.maxLen)
		}
		t.resize(n)
	}
	i := int32(len(t.entries))
	t.entries = append(t.entries, tableEntry[V]{key: key, hash: h})
	t.place(h, i)
	return i
}

// rekey gives entry i the key key, hashing to h, which must be absent.
// The value stays for the caller to reset.
func (t *keyTable[V]) rekey(i int32, h uint64, key string) {
	t.unplace(i)
	e := &t.entries[i]
	e.key, e.hash = key, h
	t.place(h, i)
}

// remove deletes entry i, moving the last entry into its place, and
// halves the table when it is a quarter full, so its memory follows the
// keys it holds.
func (t *keyTable[V]) remove(i int32) {
	t.unplace(i)
	last := int32(len(t.entries) - 1)
	if i != last {
		t.slots[t.slotOf(last)] = i + 1
		t.entries[i] = t.entries[last]
	}
	t.entries[last] = tableEntry[V]{} // lets the key go
	t.entries = t.entries[:last]
	if c := cap(t.entries); c > minTableCap && len(t.entries) <= c/4 {
		t.resize(c / 2)
	}
}

// resize moves the entries to room for n and rebuilds the index.
func (t *keyTable[V]) resize(n int) {
	entries := make([]tableEntry[V], len(t.entries), n)
	copy(entries, t.entries)
	t.entries = entries
	t.slots = make([]int32, 2<<bits.Len(uint(n-1)))
	for i := range t.entries {
		t.place(t.entries[i].hash, int32(i))
	}
}

// place puts entry i, hashing to h, in the first free slot of its run.
func (t *keyTable[V]) place(h uint64, i int32) {
	mask := uint64(len(t.slots) - 1)
	j := h & mask
	for range t.slots {
		if t.slots[j] == 0 {
			t.slots[j] = i + 1
			return
		}
		j = (j + 1) & mask
	}
	panic("limits: key table index full") // cannot happen: at most half full
}

// slotOf returns the slot holding entry i.
func (t *keyTable[V]) slotOf(i int32) uint64 {
	mask := uint64(len(t.slots) - 1)
	j := t.entries[i].hash & mask
	for range t.slots {
		if t.slots[j] == i+1 {
			return j
		}
		j = (j + 1) & mask
	}
	panic("limits: key table entry without a slot") // cannot happen
}

// unplace frees entry i's slot. Later slots of the probe run shift back
// into the hole where their home allows, so every key stays reachable
// from its home slot without tombstones.
func (t *keyTable[V]) unplace(i int32) {
	mask := uint64(len(t.slots) - 1)
	hole := t.slotOf(i)
	j := hole
	for range t.slots {
		j = (j + 1) & mask
		s := t.slots[j]
		if s == 0 {
			break
		}
		// The entry at j may fill the hole unless its home lies
		// cyclically in (hole, j].
		if home := t.entries[s-1].hash & mask; (j-home)&mask >= (j-hole)&mask {
			t.slots[hole] = s
			hole = j
		}
	}
	t.slots[hole] = 0
}
