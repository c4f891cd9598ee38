package elle

import (
	"context"
	"fmt"
)

// rwregister.go infers dependencies from rw-register histories: writes
// are unique per key, so a read names the txn it read from (wr). A
// register's value says nothing of the order of the writes before it, so
// ww and rw edges come only from what is certain without assumptions
// (Elle's default): nil, the initial state, precedes every written value,
// hence a txn that read nil anti-depends (rw) on every txn that wrote the
// key.

// regWrite is what the history says about one written (key, value).
type regWrite struct {
	writer int32 // ok or info txn whose last write of the key it is; -1 none
	failed int32 // fail txn that wrote it; -1 none
	inter  int32 // txn that wrote it and then wrote the key again; -1 none
}

type rwRegister struct {
	*analysis
	writes   map[kv]*regWrite
	nilReads map[int32][]int32 // key → txns whose external read of it was nil
	writers  map[int32][]int32 // key → txns that wrote it (their last write)
	keyOrder []int32
	state    []regState
}

type regState struct {
	key int32
	v   val
}

func newRWRegister(a *analysis) *rwRegister {
	return &rwRegister{analysis: a, writes: map[kv]*regWrite{}, nilReads: map[int32][]int32{}, writers: map[int32][]int32{}}
}

func (r *rwRegister) write(k int32, v val) *regWrite {
	w := r.writes[kv{k, v}]
	if w == nil {
		w = &regWrite{writer: -1, failed: -1, inter: -1}
		r.writes[kv{k, v}] = w
	}
	return w
}

func (r *rwRegister) analyze(ctx context.Context, e *edges) error {
	r.pair()
	if err := r.decode(ctx, r.parse); err != nil {
		return err
	}
	if r.counts["duplicate-writes"] > 0 {
		return nil
	}
	r.readChecks()
	r.dataEdges(e)
	r.lostUpdates()
	return nil
}

// parse decodes one txn and checks internal consistency.
func (r *rwRegister) parse(ti int32, t *txn, list []any) bool {
	r.state = r.state[:0]
	for mi, m := range list {
		f, key, v, isMop := r.mopOf(ti, mi, m)
		if !isMop {
			return false
		}
		x := nilVal
		if v != nil {
			var isVal bool
			if x, isVal = r.vals.of(v); !isVal {
				r.malformed(r.op(ti), "micro-op %d: value %s is not a scalar", mi, short(v))
				return false
			}
		}
		switch f {
		case "w":
			if v == nil {
				r.malformed(r.op(ti), "micro-op %d: write of nil to key %s", mi, r.keyText(key))
				return false
			}
			r.mops = append(r.mops, mop{kind: mopWrite, key: key, v: x})
			r.setState(key, x)
		case "r":
			if v == nil && t.typ != txnOK {
				r.mops = append(r.mops, mop{kind: mopRead, key: key, n: -1, v: nilVal})
				continue
			}
			r.mops = append(r.mops, mop{kind: mopRead, key: key, v: x})
			if t.typ == txnOK {
				for _, s := range r.state {
					if s.key == key && s.v != x {
						r.add("internal", []int64{r.opIndex(ti)}, key, fmt.Sprintf(
							"op %d read key %s = %s in micro-op %d, but its own earlier micro-ops say the key holds %s",
							r.opIndex(ti), r.keyText(key), r.vals.text(x), mi, r.vals.text(s.v)))
					}
				}
				r.setState(key, x)
			}
		default:
			r.malformed(r.op(ti), "micro-op %d: %q is not an rw-register micro-op (w or r)", mi, f)
			return false
		}
	}
	// Index the writes: the last of a key is external, earlier ones are
	// intermediate.
	for m := t.m0; m < int32(len(r.mops)); m++ {
		md := r.mops[m]
		if md.kind != mopWrite {
			continue
		}
		w := r.write(md.key, md.v)
		if w.writer >= 0 || w.failed >= 0 || w.inter >= 0 {
			r.counts["duplicate-writes"]++
			if r.counts["duplicate-writes"] == 1 {
				r.notes = append(r.notes, fmt.Sprintf("value %s written to key %s more than once (op %d): rw-register needs unique writes, so the dependencies cannot be inferred",
					r.vals.text(md.v), r.keyText(md.key), r.opIndex(ti)))
			}
		}
		switch {
		case r.laterWrite(t, m):
			w.inter = ti
		case t.typ == txnFail:
			w.failed = ti
		default:
			w.writer = ti
			if len(r.writers[md.key]) == 0 {
				r.keyOrder = append(r.keyOrder, md.key)
			}
			r.writers[md.key] = append(r.writers[md.key], ti)
		}
	}
	return true
}

func (r *rwRegister) setState(key int32, x val) {
	for i := range r.state {
		if r.state[i].key == key {
			r.state[i].v = x
			return
		}
	}
	r.state = append(r.state, regState{key, x})
}

// laterWrite reports whether txn t writes mop m's key again after m.
func (r *rwRegister) laterWrite(t *txn, m int32) bool {
	for n := m + 1; n < int32(len(r.mops)); n++ {
		if r.mops[n].kind == mopWrite && r.mops[n].key == r.mops[m].key {
			return true
		}
	}
	return false
}

// extRead reports whether read mop m of t is external: the txn's first
// mop on the key (later reads see its own state).
func (r *rwRegister) extRead(t *txn, m int32) bool {
	for p := t.m0; p < m; p++ {
		if r.mops[p].key == r.mops[m].key {
			return false
		}
	}
	return true
}

// readChecks finds aborted (G1a) and intermediate (G1b) reads.
func (r *rwRegister) readChecks() {
	for ti := range r.txns {
		t := &r.txns[ti]
		if t.typ != txnOK {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			md := r.mops[m]
			if md.kind != mopRead || md.v == nilVal {
				continue
			}
			w := r.writes[kv{md.key, md.v}]
			if w == nil {
				continue
			}
			self := int32(ti)
			switch {
			case w.failed >= 0:
				r.add("G1a", []int64{r.opIndex(w.failed), r.opIndex(self)}, md.key, fmt.Sprintf(
					"op %d read key %s = %s, written by op %d, which failed (aborted read)",
					r.opIndex(self), r.keyText(md.key), r.vals.text(md.v), r.opIndex(w.failed)))
			case w.inter >= 0 && w.inter != self:
				r.add("G1b", []int64{r.opIndex(w.inter), r.opIndex(self)}, md.key, fmt.Sprintf(
					"op %d read key %s = %s, an intermediate state: op %d wrote %s and then wrote key %s again (intermediate read)",
					r.opIndex(self), r.keyText(md.key), r.vals.text(md.v), r.opIndex(w.inter), r.vals.text(md.v), r.keyText(md.key)))
			}
		}
	}
}

// dataEdges emits wr edges (a read names its writer) and rw edges from
// every txn that read a key's initial nil to every txn that wrote it.
func (r *rwRegister) dataEdges(e *edges) {
	for ti := range r.txns {
		t := &r.txns[ti]
		if t.typ == txnFail {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			md := r.mops[m]
			if md.kind != mopRead || md.n < 0 || !r.extRead(t, m) {
				continue
			}
			if md.v == nilVal {
				r.nilReads[md.key] = append(r.nilReads[md.key], int32(ti))
				continue
			}
			if w := r.writes[kv{md.key, md.v}]; w != nil && w.writer >= 0 {
				e.add(w.writer, int32(ti), wr)
			}
		}
	}
	for _, k := range r.keyOrder {
		for _, reader := range r.nilReads[k] {
			for _, w := range r.writers[k] {
				e.add(reader, w, rw)
			}
		}
	}
}

// lostUpdates: committed txns that read the same value of a key (an
// external read) and then both wrote it (lostUpdateGroups).
func (r *rwRegister) lostUpdates() {
	extRead := func(t *txn, m int32) (kv, bool) {
		md := r.mops[m]
		if md.kind != mopRead || !r.extRead(t, m) {
			return kv{}, false
		}
		return kv{md.key, md.v}, true
	}
	for _, g := range lostUpdateGroups(r.analysis, mopWrite, extRead) {
		r.add("lost-update", g.ops, g.state.k, fmt.Sprintf(
			"ops %s all read key %s = %s and then wrote it: each committed an update based on a state another one overwrote (lost update)",
			joinInts(g.ops), r.keyText(g.state.k), r.vals.text(g.state.v)))
	}
}
