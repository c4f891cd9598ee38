package postgres

import (
	"fmt"
	"math/rand"
	"slices"
	"sort"

	"github.com/chaoscheck/chaoscheck/history"
)

// Test generators for list-append (the workload's own generator lives
// with the integrator's workload package) and a small detector of
// two-transaction cycles, enough to prove that a history holds the
// anomaly an isolation level allows. The full analysis is checker/elle's.

// txnShape picks the micro-ops of one list-append transaction; next
// returns a fresh unique value to append.
type txnShape func(rng *rand.Rand, keys int, next func() int64) []any

// mixedTxn: 1–4 micro-ops, reads and appends in equal shares.
func mixedTxn(rng *rand.Rand, keys int, next func() int64) []any {
	n := 1 + rng.Intn(4)
	mops := make([]any, n)
	for i := range mops {
		k := int64(rng.Intn(keys))
		if rng.Intn(2) == 0 {
			mops[i] = []any{"r", k, nil}
		} else {
			mops[i] = []any{"append", k, next()}
		}
	}
	return mops
}

// writeSkewTxn reads two keys and appends to one of them: the doctors'
// on-call shape, which snapshot isolation lets two transactions commit
// side by side without either seeing the other (G2-item).
func writeSkewTxn(rng *rand.Rand, keys int, next func() int64) []any {
	a := int64(rng.Intn(keys))
	b := (a + 1 + int64(rng.Intn(keys-1))) % int64(keys)
	w := a
	if rng.Intn(2) == 0 {
		w = b
	}
	return []any{[]any{"r", a, nil}, []any{"r", b, nil}, []any{"append", w, next()}}
}

// readSkewTxn: half the transactions append to two keys, half read the
// same two keys one after the other; read committed lets a reader see one
// append of a writer and not the other (G-single).
func readSkewTxn(rng *rand.Rand, keys int, next func() int64) []any {
	a := int64(rng.Intn(keys))
	b := (a + 1 + int64(rng.Intn(keys-1))) % int64(keys)
	if rng.Intn(2) == 0 {
		// Writers take the keys in one order: no deadlocks between them.
		lo, hi := min(a, b), max(a, b)
		return []any{[]any{"append", lo, next()}, []any{"append", hi, next()}}
	}
	return []any{[]any{"r", a, nil}, []any{"r", b, nil}}
}

type laGen struct {
	rng   *rand.Rand
	keys  int
	shape txnShape
	n     int64
}

func newLAGen(seed int64, keys int, shape txnShape) *laGen {
	return &laGen{rng: rand.New(rand.NewSource(seed)), keys: keys, shape: shape}
}

func (g *laGen) Next(int64) history.Op {
	return history.Op{F: "txn", Value: g.shape(g.rng, g.keys, func() int64 { g.n++; return g.n })}
}

// laTxn is one ok list-append transaction as the detector sees it.
type laTxn struct {
	index     int64
	inv, done int64 // times
	appends   map[int64]int64
	reads     map[int64][]int64 // the first read of each key
}

// cycle is a two-transaction cycle: kind names it as Adya does.
type cycle struct {
	kind string
	a, b int64 // op indexes of the completions
	why  string
}

// twoCycles finds cycles of two ok transactions that overlap in time,
// from the dependencies a list-append history proves:
//   - wr A→B: B read a list holding a value A appended;
//   - rw A→B: A read key k as a list without the value B appended to k
//     (lists only grow, so A read a version before B's append).
//
// Both rw: G2-item (write skew); one rw, one wr: G-single (read skew);
// both wr: G1c. It also returns the reads that are not a prefix of the
// longest list read of their key (incompatible orders), which make every
// inference void.
func twoCycles(h history.History) (cycles []cycle, incompatible []string) {
	var txns []*laTxn
	invTime := map[int64]int64{}
	for _, op := range h {
		if op.F != "txn" {
			continue
		}
		if op.Type == history.Invoke {
			invTime[op.Process] = op.Time
			continue
		}
		if op.Type != history.OK {
			continue
		}
		t := &laTxn{index: op.Index, inv: invTime[op.Process], done: op.Time, appends: map[int64]int64{}, reads: map[int64][]int64{}}
		for _, m := range op.Value.([]any) {
			mop := m.([]any)
			k := num(mop[1])
			switch mop[0] {
			case "append":
				t.appends[num(mop[2])] = k
			case "r":
				if _, seen := t.reads[k]; !seen {
					var l []int64
					for _, e := range mop[2].([]any) {
						l = append(l, num(e))
					}
					t.reads[k] = l
				}
			}
		}
		txns = append(txns, t)
	}
	// pos[k][v]: where v sits in the longest list read of k.
	longest := map[int64][]int64{}
	for _, t := range txns {
		for k, l := range t.reads {
			if len(l) > len(longest[k]) {
				longest[k] = l
			}
		}
	}
	pos := map[int64]map[int64]int{}
	for k, l := range longest {
		pos[k] = map[int64]int{}
		for i, v := range l {
			pos[k][v] = i
		}
	}
	for _, t := range txns {
		for k, l := range t.reads {
			if !slices.Equal(l, longest[k][:len(l)]) {
				incompatible = append(incompatible, fmt.Sprintf("op %d read key %d as %v, not a prefix of %v", t.index, k, l, longest[k]))
			}
		}
	}
	holds := func(l []int64, k, v int64) bool {
		p, ok := pos[k][v]
		return ok && p < len(l)
	}
	// edge returns the kind of a dependency A→B, "" for none.
	edge := func(a, b *laTxn) string {
		for v, k := range b.appends {
			if l, ok := a.reads[k]; ok && !holds(l, k, v) {
				return "rw"
			}
		}
		for v, k := range a.appends {
			if l, ok := b.reads[k]; ok && holds(l, k, v) {
				return "wr"
			}
		}
		return ""
	}
	sort.Slice(txns, func(i, j int) bool { return txns[i].inv < txns[j].inv })
	for i, a := range txns {
		for _, b := range txns[i+1:] {
			if b.inv > a.done {
				break
			}
			ab, ba := edge(a, b), edge(b, a)
			if ab == "" || ba == "" {
				continue
			}
			kind := "G1c"
			switch {
			case ab == "rw" && ba == "rw":
				kind = "G2-item"
			case ab == "rw" || ba == "rw":
				kind = "G-single"
			}
			cycles = append(cycles, cycle{kind: kind, a: a.index, b: b.index, why: fmt.Sprintf("op %d -%s-> op %d -%s-> op %d", a.index, ab, b.index, ba, a.index)})
		}
	}
	return cycles, incompatible
}

func countKinds(cs []cycle) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[c.kind]++
	}
	return m
}

// num reads an integer of a recorded value (history.Int); anything else
// fails the detector loudly.
func num(v any) int64 {
	n, err := history.Int(v)
	if err != nil {
		panic(err)
	}
	return n
}
