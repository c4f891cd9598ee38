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

// Pairs matches every client invocation with its completion, in
// invocation order. Nemesis ops (process -1) are skipped. It assumes a
// well-formed history (see Validate); a completion with no open
// invocation is ignored.
func Pairs(h History) []Pair {
	n := 0
	for _, op := range h {
		if op.IsClient() && op.Type == Invoke {
			n++
		}
	}
	pairs := make([]Pair, 0, n)
	open := make(map[int64]int) // process → position in pairs
	for _, op := range h {
		if !op.IsClient() {
			continue
		}
		if op.Type == Invoke {
			open[op.Process] = len(pairs)
			pairs = append(pairs, Pair{Invoke: op})
			continue
		}
		i, ok := open[op.Process]
		if !ok {
			continue
		}
		delete(open, op.Process)
		pairs[i].Completion = op
		pairs[i].Completed = true
	}
	for _, i := range open {
		inv := pairs[i].Invoke
		pairs[i].Completion = Op{Index: -1, Time: -1, Type: Info, Process: inv.Process, F: inv.F, Key: inv.Key, Value: inv.Value, TxID: inv.TxID}
	}
	return pairs
}
