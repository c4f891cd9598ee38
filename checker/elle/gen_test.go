package elle

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	"github.com/chaoscheck/chaoscheck/history"
)

// gen_test.go generates list-append histories from a simulated database
// that is strict serializable by construction: each transaction takes
// effect atomically at its completion, which lies inside its own
// invocation–completion window. Tests corrupt them; benchmarks check them.

type genOpts struct {
	txns       int     // transactions to invoke
	procs      int     // concurrent client processes
	keys       int     // active keys at any time
	maxAppends int     // appends a key takes before it is retired for a fresh one
	failRate   float64 // txns that fail without effect
	infoRate   float64 // txns that end info (half of them take effect)
	seed       uint64
	register   bool // rw-register: ["w" k v] and reads of one value
}

var numCache []any

// num returns an integer as the readers decode it (json.Number), shared
// so a large history does not hold a million copies of "3".
func num(n int) any {
	for len(numCache) <= n {
		numCache = append(numCache, json.Number(strconv.Itoa(len(numCache))))
	}
	return numCache[n]
}

// genListAppend returns a strict serializable list-append history, or
// rw-register with o.register.
func genListAppend(o genOpts) history.History {
	r := rand.New(rand.NewPCG(o.seed, 7))
	state := map[int][]any{} // key → its list
	nextVal := map[int]int{}
	active := make([]int, o.keys)
	for i := range active {
		active[i] = i
	}
	nextKey := o.keys
	h := make(history.History, 0, 2*o.txns)
	procs := make([]int64, o.procs)
	for i := range procs {
		procs[i] = int64(i)
	}
	open := make([]*pending, o.procs)
	invoked := 0
	emit := func(op history.Op) {
		op.Index = int64(len(h))
		op.Time = op.Index * 1000
		h = append(h, op)
	}
	for invoked < o.txns || anyOpen(open) {
		slot := r.IntN(o.procs)
		if open[slot] == nil {
			if invoked == o.txns {
				continue
			}
			invoked++
			n := 1 + r.IntN(5)
			mops := make([]any, n)
			for i := range mops {
				slot := r.IntN(len(active))
				k := active[slot]
				if r.IntN(2) == 0 {
					mops[i] = []any{"r", num(k), nil}
					continue
				}
				v := nextVal[k] + 1
				nextVal[k] = v
				if v >= o.maxAppends {
					active[slot] = nextKey
					nextKey++
				}
				if o.register {
					mops[i] = []any{"w", num(k), num(v)}
					continue
				}
				mops[i] = []any{"append", num(k), num(v)}
			}
			open[slot] = &pending{inv: mops}
			emit(history.Op{Type: history.Invoke, Process: procs[slot], F: "txn", Value: mops})
			continue
		}
		p := open[slot]
		open[slot] = nil
		x := r.Float64()
		switch {
		case x < o.failRate:
			emit(history.Op{Type: history.Fail, Process: procs[slot], F: "txn", Value: p.inv})
			continue
		case x < o.failRate+o.infoRate:
			if r.IntN(2) == 0 {
				apply(state, p.inv, o.register)
			}
			emit(history.Op{Type: history.Info, Process: procs[slot], F: "txn", Value: p.inv})
			procs[slot] += int64(o.procs)
			continue
		}
		emit(history.Op{Type: history.OK, Process: procs[slot], F: "txn", Value: apply(state, p.inv, o.register)})
	}
	return h
}

func anyOpen(open []*pending) bool {
	for _, p := range open {
		if p != nil {
			return true
		}
	}
	return false
}

type pending struct{ inv []any }

// apply runs a txn atomically and returns its completed mops. A register
// is kept as the list of its values; a read returns the last.
func apply(state map[int][]any, inv []any, register bool) []any {
	out := make([]any, len(inv))
	for i, m := range inv {
		mop := m.([]any)
		k, _ := strconv.Atoi(string(mop[1].(json.Number)))
		if mop[0] != "r" {
			state[k] = append(state[k], mop[2])
			out[i] = mop
			continue
		}
		l := state[k]
		switch {
		case !register:
			out[i] = []any{"r", mop[1], l[:len(l):len(l)]}
		case len(l) == 0:
			out[i] = []any{"r", mop[1], nil}
		default:
			out[i] = []any{"r", mop[1], l[len(l)-1]}
		}
	}
	return out
}
