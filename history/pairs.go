package history

// Pair is a client invocation and its completion.
type Pair struct {
	Invoke Op
	// Completion is the ok, fail or info op that ended Invoke. When the
	// history ended first (Completed false), Completion is a synthetic info
	// op with Index -1: Jepsen treats an unfinished invocation as
	// indeterminate.
	Completion Op
	Completed  bool
}

// IndexPair is one client op by position in its history: Inv is the
// invocation's position, Done its completion's, or -1 when the history
// ended first. Eight bytes a pair rather than two copied Ops: checkers and
// the report pair million-op histories with it.
type IndexPair struct{ Inv, Done int32 }

// PairIndexes matches every client invocation with its completion (the
// next op of the same process), in invocation order. It is the one
// pairing rule: Pairs, the checkers and the report all use it. Nemesis
// ops (process -1) are skipped; a completion with no open invocation is
// ignored (Validate reports it).
func PairIndexes(h History) []IndexPair {
	pairs := make([]IndexPair, 0, len(h)/2+16)
	open := make(map[int64]int32) // process → position in pairs
	for i := range h {
		op := &h[i]
		if !op.IsClient() {
			continue
		}
		if op.Type == Invoke {
			open[op.Process] = int32(len(pairs))
			pairs = append(pairs, IndexPair{Inv: int32(i), Done: -1})
			continue
		}
		if j, ok := open[op.Process]; ok {
			delete(open, op.Process)
			pairs[j].Done = int32(i)
		}
	}
	return pairs
}

// Pairs is PairIndexes with the ops themselves. It assumes a well-formed
// history (see Validate).
func Pairs(h History) []Pair {
	idx := PairIndexes(h)
	pairs := make([]Pair, len(idx))
	for i, p := range idx {
		inv := h[p.Inv]
		pairs[i].Invoke = inv
		if p.Done >= 0 {
			pairs[i].Completion, pairs[i].Completed = h[p.Done], true
			continue
		}
		pairs[i].Completion = Op{Index: -1, Time: -1, Type: Info, Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value, TxID: inv.TxID}
	}
	return pairs
}
