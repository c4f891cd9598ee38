package elle

// lostUpdateGroup is one lost update: committed txns that all read one
// state of a key (state) and then each wrote that key, so each built on a
// state another overwrote (Elle's lost-update, found directly rather than
// as a cycle, since unread writes leave the cycle's edges unknown).
type lostUpdateGroup[S comparable] struct {
	state S
	txns  []int32
	ops   []int64 // the txns' op indexes, for the anomaly
}

// lostUpdateGroups finds every lost update of a workload: read says which
// mop of a committed txn is the read of a key's state that counts (and
// names the state); a later mop of the same txn of kind write on the same
// key makes the txn an update of that state. Groups of two or more are
// returned in the order their states were first read.
func lostUpdateGroups[S comparable](a *analysis, write mopKind, read func(t *txn, m int32) (S, bool)) []lostUpdateGroup[S] {
	groups := map[S][]int32{}
	var order []S
	for ti := range a.txns {
		t := &a.txns[ti]
		if t.typ != txnOK {
			continue
		}
		for m := t.m0; m < t.m1; m++ {
			s, ok := read(t, m)
			if !ok {
				continue
			}
			for n := m + 1; n < t.m1; n++ {
				if a.mops[n].kind == write && a.mops[n].key == a.mops[m].key {
					if _, seen := groups[s]; !seen {
						order = append(order, s)
					}
					groups[s] = append(groups[s], int32(ti))
					break
				}
			}
		}
	}
	var out []lostUpdateGroup[S]
	for _, s := range order {
		ts := groups[s]
		if len(ts) < 2 {
			continue
		}
		ops := make([]int64, len(ts))
		for i, t := range ts {
			ops[i] = a.opIndex(t)
		}
		out = append(out, lostUpdateGroup[S]{state: s, txns: ts, ops: ops})
	}
	return out
}
