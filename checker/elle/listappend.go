package elle

import (
	"context"
	"fmt"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
)

// listappend.go infers dependencies from list-append histories: every
// read returns a whole list, so each read is a prefix of the key's version
// order, and the longest read of a key spells that order out (Elle §4,
// traceable objects). From the order come ww edges (successive appends),
// wr edges (a read's last element names the txn it read from) and rw edges
// (a read of version i, then the append of version i+1).

type kv struct {
	k int32
	v val
}

// element is what the history says about one appended (key, value).
type element struct {
	writer int32 // ok or info txn that appended it; -1 none
	failed int32 // fail txn that appended it; -1 none
	pos    int32 // 1-based position in the key's version order; 0 unobserved
	inter  bool  // not the writer's last append to the key: an intermediate state
	v      val
}

// failedAppend is an append of a failed txn.
type failedAppend struct {
	v   val
	txn int32
}

type listAppend struct {
	*analysis
	// Element index. Jepsen's generator appends 1, 2, 3 … to each key, so
	// most elements sit in dense: per key, a slice indexed by value holding
	// id+1 (the map lookup it replaces led the profile at 1M txns).
	// Values too sparse for it go to elemFast when key and value fit in
	// 32 bits each (a uint64 key hashes faster than a struct), else elemID.
	dense    [][]int32
	denseN   []int32 // elements in dense[k]
	elemFast map[uint64]int32
	elemID   map[kv]int32
	elems    []element
	failed   [][]failedAppend // key → appends of failed txns, for G1a

	longest  []int32   // per key: mop index of its longest read, -1 none
	longTxn  []int32   // per key: that read's txn
	order    [][]int32 // per key: version order, as elements (the distinct elements of the longest read)
	prefixes [][]uint64
	base     []int32 // per key: version id of its initial (empty) state
	vwriter  []int32 // version id → txn that wrote it, -1 none
	rstart   []int32 // version id → readers[rstart[v]:rstart[v+1]]
	readers  []int32

	scratch []val // one read's elements
	state   []keyState
	seenDup map[val]int
	dups    int
}

// keyState is what a transaction knows of a key from its own mops, for
// internal consistency: full (it read the whole list) or only a suffix
// (its own appends after an unknown prefix), held in buf[from:to].
type keyState struct {
	key      int32
	full     bool
	from, to int
}

func newListAppend(a *analysis) *listAppend {
	return &listAppend{analysis: a, elemFast: map[uint64]int32{}, elemID: map[kv]int32{}, seenDup: map[val]int{}}
}

// elem returns the index of (k, v)'s element, adding it if new.
func (la *listAppend) elem(k int32, v val) int32 {
	for int(k) >= len(la.dense) {
		la.dense = append(la.dense, nil)
		la.denseN = append(la.denseN, 0)
	}
	d := la.dense[k]
	if v >= 0 && v < val(len(d)) && d[v] != 0 {
		return d[v] - 1
	}
	if id, ok := la.sparse(k, v); ok {
		return id
	}
	// New. Dense while the key's slice stays within a small multiple of
	// its elements, so sparse values cannot make it huge.
	if v >= 0 && v < val(4*la.denseN[k]+64) {
		la.denseN[k]++
		if v >= val(len(d)) {
			d = append(d, make([]int32, int(v)+1-len(d))...)
			la.dense[k] = d
		}
		d[v] = la.newElem(v) + 1
		return d[v] - 1
	}
	if v >= 0 && v < 1<<32 {
		fk := uint64(k)<<32 | uint64(v)
		id, ok := la.elemFast[fk]
		if !ok {
			id = la.newElem(v)
			la.elemFast[fk] = id
		}
		return id
	}
	id, ok := la.elemID[kv{k, v}]
	if !ok {
		id = la.newElem(v)
		la.elemID[kv{k, v}] = id
	}
	return id
}

func (la *listAppend) newElem(v val) int32 {
	la.elems = append(la.elems, element{writer: -1, failed: -1, v: v})
	return int32(len(la.elems) - 1)
}

// failedOf returns the failed txn that appended v to key k, if any.
func (la *listAppend) failedOf(k int32, v val) (int32, bool) {
	if int(k) >= len(la.failed) {
		return -1, false
	}
	for _, f := range la.failed[k] {
		if f.v == v {
			return f.txn, true
		}
	}
	return -1, false
}

func (la *listAppend) find(k int32, v val) *element {
	if int(k) < len(la.dense) {
		if d := la.dense[k]; v >= 0 && v < val(len(d)) && d[v] != 0 {
			return &la.elems[d[v]-1]
		}
	}
	if id, ok := la.sparse(k, v); ok {
		return &la.elems[id]
	}
	return nil
}

// sparse looks (k, v) up in the maps.
func (la *listAppend) sparse(k int32, v val) (int32, bool) {
	if v >= 0 && v < 1<<32 {
		id, ok := la.elemFast[uint64(k)<<32|uint64(v)]
		return id, ok
	}
	id, ok := la.elemID[kv{k, v}]
	return id, ok
}

// analyze decodes the history and builds the graph's data edges into e.
func (la *listAppend) analyze(ctx context.Context, e *edges) error {
	la.pair()
	la.collectFailed()
	// About half the mops are appends, each one element.
	n := 0
	for i := range la.txns {
		if l, ok := la.txnValue(&la.txns[i]).([]any); ok {
			n += len(l)
		}
	}
	la.elems = make([]element, 0, n/2)
	if err := la.decode(ctx, la.parse); err != nil {
		return err
	}
	if la.counts["duplicate-appends"] > 0 {
		return nil // the caller gives up: versions are not traceable
	}
	la.versionOrders()
	if err := la.incompatibleOrders(ctx); err != nil {
		return err
	}
	la.indexReaders()
	if err := la.dataEdges(ctx, e); err != nil {
		return err
	}
	la.lostUpdates()
	la.dirtyUpdates()
	// Every mop knows its element now: the index is not needed again.
	la.dense, la.denseN, la.elemFast, la.elemID = nil, nil, nil, nil
	return nil
}

// collectFailed indexes the appends of failed txns before anything reads
// them: a read of one is G1a, whatever order the history lists them in.
func (la *listAppend) collectFailed() {
	for i := range la.txns {
		t := &la.txns[i]
		if t.typ != txnFail {
			continue
		}
		list, _ := la.txnValue(t).([]any)
		for _, m := range list {
			f, k, v, ok := mopParts(m)
			if !ok || f != "append" {
				continue
			}
			kv1, ok1 := la.vals.of(k)
			vv, ok2 := la.vals.of(v)
			if ok1 && ok2 {
				k := la.key(kv1)
				for len(la.failed) <= int(k) {
					la.failed = append(la.failed, nil)
				}
				la.failed[k] = append(la.failed[k], failedAppend{vv, int32(i)})
			}
		}
	}
}

// parse decodes one txn's mops, and judges what one txn shows alone:
// internal consistency, future reads, duplicate elements, aborted reads.
func (la *listAppend) parse(ti int32, t *txn, list []any) bool {
	ok := t.typ == txnOK
	possible := t.typ != txnFail
	la.state = la.state[:0]
	la.scratch = la.scratch[:0]
	for mi, m := range list {
		f, key, v, isMop := la.mopOf(ti, mi, m)
		if !isMop {
			return false
		}
		switch f {
		case "append":
			x, isVal := la.vals.of(v)
			if !isVal {
				la.malformed(la.op(ti), "micro-op %d: appended value %s is not a scalar", mi, short(v))
				return false
			}
			if t.typ == txnFail {
				la.mops = append(la.mops, mop{kind: mopAppend, key: key, v: x, el: -1})
				continue
			}
			id := la.elem(key, x)
			la.mops = append(la.mops, mop{kind: mopAppend, key: key, v: x, el: id})
			el := &la.elems[id]
			f, alsoFailed := la.failedOf(key, x)
			if alsoFailed || el.writer >= 0 && (el.writer != ti || la.appendedBefore(t, key, x)) {
				la.counts["duplicate-appends"]++
				if la.counts["duplicate-appends"] == 1 {
					la.notes = append(la.notes, fmt.Sprintf("value %s appended to key %s more than once (op %d): list-append needs unique appends, so the dependencies cannot be inferred",
						la.vals.text(x), la.keyText(key), la.opIndex(ti)))
				}
			}
			el.writer = ti
			if alsoFailed {
				el.failed = f
			}
			if ok {
				la.checkFutureRead(ti, t, key, x, mi)
				la.appendState(key, x)
			}
		case "r":
			if v == nil && !ok {
				la.mops = append(la.mops, mop{kind: mopRead, key: key, n: -1, el: -1})
				continue
			}
			var elems []any
			if v != nil {
				var isList bool
				if elems, isList = v.([]any); !isList {
					la.malformed(la.op(ti), "micro-op %d: read of key %s returned %s, not a list", mi, la.keyText(key), short(v))
					return false
				}
			}
			from := len(la.scratch)
			h := uint64(0)
			for _, e := range elems {
				x, isVal := la.vals.of(e)
				if !isVal {
					la.malformed(la.op(ti), "micro-op %d: read of key %s holds %s, not a scalar", mi, la.keyText(key), short(e))
					return false
				}
				la.scratch = append(la.scratch, x)
				h = hashStep(h, x)
			}
			read := la.scratch[from:]
			md := mop{kind: mopRead, key: key, n: int32(len(read)), hash: h, el: -1}
			if len(read) > 0 {
				md.v = read[len(read)-1]
				if possible {
					md.el = la.elem(key, md.v)
				}
			}
			la.mops = append(la.mops, md)
			if possible {
				la.checkDuplicates(ti, key, read, mi)
			}
			if ok {
				la.checkAbortedRead(ti, key, read)
				la.checkInternal(ti, key, from, mi)
			}
		default:
			la.malformed(la.op(ti), "micro-op %d: %q is not a list-append micro-op (append or r)", mi, f)
			return false
		}
	}
	// Every append but a txn's last to a key is an intermediate state.
	for m := t.m0; m < int32(len(la.mops)); m++ {
		md := &la.mops[m]
		if md.kind != mopAppend || t.typ == txnFail {
			continue
		}
		for n := m + 1; n < int32(len(la.mops)); n++ {
			if la.mops[n].kind == mopAppend && la.mops[n].key == md.key {
				la.elems[md.el].inter = true
				break
			}
		}
	}
	return true
}

// appendedBefore reports whether txn t already appended x to key in a mop
// decoded so far.
func (la *listAppend) appendedBefore(t *txn, key int32, x val) bool {
	for m := t.m0; m < int32(len(la.mops))-1; m++ {
		if md := la.mops[m]; md.kind == mopAppend && md.key == key && md.v == x {
			return true
		}
	}
	return false
}

func (la *listAppend) stateOf(key int32) *keyState {
	for i := range la.state {
		if la.state[i].key == key {
			return &la.state[i]
		}
	}
	return nil
}

// appendState records the txn's own append in its view of key.
func (la *listAppend) appendState(key int32, x val) {
	s := la.stateOf(key)
	from := len(la.scratch)
	full := false
	if s != nil {
		la.scratch = append(la.scratch, la.scratch[s.from:s.to]...)
		full = s.full
	}
	la.scratch = append(la.scratch, x)
	if s == nil {
		la.state = append(la.state, keyState{key: key})
		s = &la.state[len(la.state)-1]
	}
	*s = keyState{key: key, full: full, from: from, to: len(la.scratch)}
}

// checkInternal compares a read (scratch[from:]) with what the txn's own
// earlier mops say the key holds (Cerone et al.'s INT axiom), then makes
// the read the txn's view.
func (la *listAppend) checkInternal(ti, key int32, from int, mi int) {
	read := la.scratch[from:]
	s := la.stateOf(key)
	if s != nil {
		want := la.scratch[s.from:s.to]
		bad := false
		if s.full {
			bad = !equalVals(read, want)
		} else {
			bad = len(read) < len(want) || !equalVals(read[len(read)-len(want):], want)
		}
		if bad {
			exp := la.vals.listText(want)
			if !s.full {
				exp = "[… " + strings.TrimPrefix(exp, "[")
			}
			la.add("internal", []int64{la.opIndex(ti)}, key, fmt.Sprintf(
				"op %d read key %s = %s in micro-op %d, but its own earlier micro-ops say the key holds %s",
				la.opIndex(ti), la.keyText(key), la.vals.listText(read), mi, exp))
		}
	}
	if s == nil {
		la.state = append(la.state, keyState{key: key})
		s = &la.state[len(la.state)-1]
	}
	*s = keyState{key: key, full: true, from: from, to: len(la.scratch)}
}

// checkFutureRead reports a txn that read, before appending x, a list that
// already held x: it saw its own future.
func (la *listAppend) checkFutureRead(ti int32, t *txn, key int32, x val, mi int) {
	for m := t.m0; m < int32(len(la.mops))-1; m++ {
		md := la.mops[m]
		if md.kind != mopRead || md.key != key || md.n <= 0 {
			continue
		}
		rv, _ := la.mopValue(t, m).([]any)
		for _, e := range rv {
			if y, _ := la.vals.of(e); y == x {
				la.add("future-read", []int64{la.opIndex(ti)}, key, fmt.Sprintf(
					"op %d read key %s in micro-op %d and saw %s, which it appends only later, in micro-op %d",
					la.opIndex(ti), la.keyText(key), m-t.m0, la.vals.text(x), mi))
				return
			}
		}
	}
}

// checkDuplicates reports a read holding an element more than once: each
// element is appended once, so a list never holds it twice.
func (la *listAppend) checkDuplicates(ti, key int32, read []val, mi int) {
	var dup []string
	if len(read) <= 16 {
		for i := 1; i < len(read); i++ {
			for j := 0; j < i; j++ {
				if read[i] == read[j] {
					dup = append(dup, la.vals.text(read[i]))
					break
				}
			}
		}
	} else {
		clear(la.seenDup)
		for _, x := range read {
			la.seenDup[x]++
			if la.seenDup[x] == 2 {
				dup = append(dup, la.vals.text(x))
			}
		}
	}
	if len(dup) > 0 {
		la.add("duplicate-elements", []int64{la.opIndex(ti)}, key, fmt.Sprintf(
			"op %d read key %s = %s in micro-op %d: %s appear more than once, though every value is appended once",
			la.opIndex(ti), la.keyText(key), la.vals.listText(read), mi, strings.Join(dup, ", ")))
	}
}

// checkAbortedRead reports G1a: a committed read that holds an element
// only a failed txn appended; one anomaly per such element, as Elle does.
func (la *listAppend) checkAbortedRead(ti, key int32, read []val) {
	if int(key) >= len(la.failed) || len(la.failed[key]) == 0 {
		return
	}
	for _, x := range read {
		f, isFailed := la.failedOf(key, x)
		if !isFailed {
			continue
		}
		if el := la.find(key, x); el != nil && el.writer >= 0 {
			continue // a committed txn appended it too: duplicate-appends says so
		}
		la.add("G1a", []int64{la.opIndex(f), la.opIndex(ti)}, key, fmt.Sprintf(
			"op %d read key %s = %s, which holds %s, appended by op %d, which failed (aborted read)",
			la.opIndex(ti), la.keyText(key), la.vals.listText(read), la.vals.text(x), la.opIndex(f)))
	}
}

// versionOrders takes each key's longest read as its version order, and
// numbers versions: version base[k]+i is the state after the i-th append
// (base[k]+0 is the empty initial list).
func (la *listAppend) versionOrders() {
	nk := len(la.keys)
	la.longest = make([]int32, nk)
	la.longTxn = make([]int32, nk)
	for i := range la.longest {
		la.longest[i] = -1
	}
	for ti := range la.txns {
		t := &la.txns[ti]
		if t.typ == txnFail {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			md := &la.mops[m]
			if md.kind == mopRead && md.n > 0 && (la.longest[md.key] < 0 || md.n > la.mops[la.longest[md.key]].n) {
				la.longest[md.key], la.longTxn[md.key] = m, int32(ti)
			}
		}
	}
	la.order = make([][]int32, nk)
	la.prefixes = make([][]uint64, nk)
	la.base = make([]int32, nk+1)
	for k := 0; k < nk; k++ {
		if m := la.longest[k]; m >= 0 {
			raw := la.readList(la.longTxn[k], m)
			p := make([]uint64, len(raw)+1)
			for i, x := range raw {
				p[i+1] = hashStep(p[i], x)
				id := la.elem(int32(k), x)
				el := &la.elems[id]
				if el.pos != 0 {
					continue // a duplicate element: duplicate-elements says so
				}
				la.order[k] = append(la.order[k], id)
				el.pos = int32(len(la.order[k]))
				if el.writer < 0 && el.failed < 0 {
					el.failed, _ = la.failedOf(int32(k), x)
				}
			}
			la.prefixes[k] = p
		}
		la.base[k+1] = la.base[k] + int32(len(la.order[k])) + 1
	}
	la.vwriter = make([]int32, la.base[nk])
	for k := 0; k < nk; k++ {
		la.vwriter[la.base[k]] = -1
		for i, id := range la.order[k] {
			la.vwriter[la.base[k]+int32(i)+1] = la.elems[id].writer
		}
	}
}

// readList decodes the list read by mop m of txn ti.
func (la *listAppend) readList(ti, m int32) []val {
	raw, _ := la.mopValue(&la.txns[ti], m).([]any)
	out := make([]val, len(raw))
	for i, e := range raw {
		out[i], _ = la.vals.of(e)
	}
	return out
}

// incompatibleOrders reports, per key, a read that is not a prefix of the
// key's longest read: two reads no single order of appends can explain.
func (la *listAppend) incompatibleOrders(ctx context.Context) error {
	reported := make(map[int32]bool)
	for ti := range la.txns {
		if ti&0x3fff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t := &la.txns[ti]
		if t.typ == txnFail {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			md := &la.mops[m]
			if md.kind != mopRead || md.n <= 0 {
				continue
			}
			p := la.prefixes[md.key]
			if int(md.n) < len(p) && p[md.n] == md.hash {
				continue
			}
			la.counts["incompatible-reads"]++
			if reported[md.key] {
				continue
			}
			reported[md.key] = true
			lt, lm := la.longTxn[md.key], la.longest[md.key]
			la.add("incompatible-order", []int64{la.opIndex(int32(ti)), la.opIndex(lt)}, md.key, fmt.Sprintf(
				"op %d read key %s = %s and op %d read it = %s: neither is a prefix of the other, so no single order of appends explains both",
				la.opIndex(int32(ti)), la.keyText(md.key), la.vals.listText(la.readList(int32(ti), m)),
				la.opIndex(lt), la.vals.listText(la.readList(lt, lm))))
		}
	}
	return nil
}

// readVersion is the version a read observed, or -1 when its list is not
// in the key's order (an incompatible read, judged above) or unknown.
func (la *listAppend) readVersion(md *mop) int32 {
	if md.n < 0 {
		return -1
	}
	if md.n == 0 {
		return la.base[md.key]
	}
	if md.el < 0 || la.elems[md.el].pos == 0 {
		return -1
	}
	return la.base[md.key] + la.elems[md.el].pos
}

// prevVersion is the version an append was applied to: the one before it
// in the key's order, or, for an append no read saw, the last version
// anyone saw (it came after every observed one).
func (la *listAppend) prevVersion(md *mop) int32 {
	k := md.key
	if md.el >= 0 && la.elems[md.el].pos > 0 {
		return la.base[k] + la.elems[md.el].pos - 1
	}
	return la.base[k] + int32(len(la.order[k]))
}

// indexReaders lists, per version, the txns that read it (counting sort).
func (la *listAppend) indexReaders() {
	nv := la.base[len(la.keys)]
	la.rstart = make([]int32, nv+1)
	for ti := range la.txns {
		t := &la.txns[ti]
		if t.typ == txnFail {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			if md := &la.mops[m]; md.kind == mopRead {
				if v := la.readVersion(md); v >= 0 {
					la.rstart[v+1]++
				}
			}
		}
	}
	for v := int32(0); v < nv; v++ {
		la.rstart[v+1] += la.rstart[v]
	}
	la.readers = make([]int32, la.rstart[nv])
	next := make([]int32, nv)
	copy(next, la.rstart[:nv])
	for ti := range la.txns {
		t := &la.txns[ti]
		if t.typ == txnFail {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			if md := &la.mops[m]; md.kind == mopRead {
				if v := la.readVersion(md); v >= 0 && (next[v] == la.rstart[v] || la.readers[next[v]-1] != int32(ti)) {
					la.readers[next[v]] = int32(ti)
					next[v]++
				}
			}
		}
	}
	// A txn that read one version twice was counted twice, listed once.
	for v := int32(0); v < nv; v++ {
		for i := next[v]; i < la.rstart[v+1]; i++ {
			la.readers[i] = -1
		}
	}
}

// dataEdges emits the ww, wr and rw edges, and G1b (intermediate reads).
func (la *listAppend) dataEdges(ctx context.Context, e *edges) error {
	for ti := range la.txns {
		if ti&0x3fff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t := &la.txns[ti]
		if t.typ == txnFail {
			continue
		}
		self := int32(ti)
		for m := t.m0; m < t.m1; m++ {
			md := &la.mops[m]
			switch md.kind {
			case mopRead:
				if md.n <= 0 {
					continue
				}
				if md.el < 0 {
					continue
				}
				el := &la.elems[md.el]
				if el.writer < 0 || el.writer == self {
					continue
				}
				e.add(el.writer, self, wr)
				if el.inter && t.typ == txnOK {
					la.add("G1b", []int64{la.opIndex(el.writer), la.opIndex(self)}, md.key, fmt.Sprintf(
						"op %d read key %s ending in %s, an intermediate state: op %d appended %s and then appended to key %s again (intermediate read)",
						la.opIndex(self), la.keyText(md.key), la.vals.text(md.v), la.opIndex(el.writer), la.vals.text(md.v), la.keyText(md.key)))
				}
			case mopAppend:
				prev := la.prevVersion(md)
				if w := la.vwriter[prev]; w >= 0 {
					e.add(w, self, ww)
				}
				for _, r := range la.readers[la.rstart[prev]:la.rstart[prev+1]] {
					e.add(r, self, rw)
				}
			}
		}
	}
	return nil
}

// lostUpdates reports committed txns that read the same version of a key
// (their first read of it) and then both appended to it (lostUpdateGroups).
func (la *listAppend) lostUpdates() {
	type readKey struct {
		k    int32
		n    int32
		hash uint64
	}
	firstRead := func(t *txn, m int32) (readKey, bool) {
		md := &la.mops[m]
		if md.kind != mopRead || md.n < 0 {
			return readKey{}, false
		}
		for p := t.m0; p < m; p++ {
			if la.mops[p].kind == mopRead && la.mops[p].key == md.key {
				return readKey{}, false // not the txn's first read of the key
			}
		}
		return readKey{md.key, md.n, md.hash}, true
	}
	for _, g := range lostUpdateGroups(la.analysis, mopAppend, firstRead) {
		rk, t0 := g.state, g.txns[0]
		read := "[]"
		if rk.n > 0 {
			for m := la.txns[t0].m0; m < la.txns[t0].m1; m++ {
				if md := la.mops[m]; md.kind == mopRead && md.key == rk.k && md.hash == rk.hash {
					read = la.vals.listText(la.readList(t0, m))
					break
				}
			}
		}
		la.add("lost-update", g.ops, rk.k, fmt.Sprintf(
			"ops %s all read key %s = %s and then appended to it: each committed an update based on a state another one overwrote (lost update)",
			joinInts(g.ops), la.keyText(rk.k), read))
	}
}

// dirtyUpdates walks each key's version order for a committed append made
// on top of a failed one: the failed txn's write was not rolled back before
// another txn built on it.
func (la *listAppend) dirtyUpdates() {
	for k := range la.keys {
		prevType := txnOK // the initial state is committed
		prevTxn := int32(-1)
		var span []val
		for _, id := range la.order[k] {
			el := &la.elems[id]
			x := el.v
			typ, t := txnFail, el.failed
			switch {
			case el.writer >= 0:
				typ, t = la.txns[el.writer].typ, el.writer
			case el.failed < 0:
				continue // appended by no txn at all: nothing to say
			}
			switch {
			case prevType == txnFail && typ == txnOK:
				span = append(span, x)
				la.add("dirty-update", []int64{la.opIndex(prevTxn), la.opIndex(t)}, int32(k), fmt.Sprintf(
					"key %s: op %d, which failed, appended %s, and op %d, which committed, appended %s after it (versions %s): a committed txn built on an aborted write",
					la.keyText(int32(k)), la.opIndex(prevTxn), la.vals.text(span[0]), la.opIndex(t), la.vals.text(x), la.vals.listText(span)))
				prevType, prevTxn, span = typ, t, []val{x}
			case typ == txnInfo:
				span = append(span, x) // cannot tell: keep the range open
			case prevType == txnFail && typ == txnFail:
				span = append(span, x)
			default:
				prevType, prevTxn, span = typ, t, []val{x}
			}
		}
	}
}

// add records a non-cycle anomaly.
func (a *analysis) add(kindName string, ops []int64, key int32, detail string) {
	a.counts[kindName]++
	if a.counts[kindName] > maxPerKind {
		return
	}
	a.anomalies = append(a.anomalies, checker.Anomaly{Kind: kindName, Ops: ops, Key: a.keyText(key), Detail: detail})
}

// maxPerKind bounds the anomalies of one kind kept in the result; Counts
// holds how many there were.
const maxPerKind = 50

func equalVals(a, b []val) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func joinInts(xs []int64) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
