package workload

import (
	"fmt"
	"math/rand"

	"github.com/chaoscheck/chaoscheck/checker"
	_ "github.com/chaoscheck/chaoscheck/checker/elle" // registers the list-append and rw-register checkers
	"github.com/chaoscheck/chaoscheck/history"
)

func init() {
	Register("list-append", newElle("list-append"))
	Register("rw-register", newElle("rw-register"))
}

// elleWorkload is Elle's list-append or rw-register: transactions of one
// to four micro-ops over a small pool of active keys, each op one "txn"
// whose value is the list of micro-ops, as Jepsen writes it:
//
//	list-append:  [["append", 3, 1], ["r", 4, null]]  → reads filled: ["r", 4, [1, 2]]
//	rw-register:  [["w", 3, 1], ["r", 4, null]]       → reads filled: ["r", 4, 7]
//
// Keys and values are integers. Every value written to a key is unique
// (for list-append, increasing), which is what lets the checker trace
// versions and infer write-write, write-read and read-write dependencies.
// A key is retired after maxWritesPerKey writes and a fresh one takes its
// place, so lists stay short and reads keep finding recent writes. The
// checker is Elle-style (checker/elle) with Options.ConsistencyModels
// (default strict-serializable).
type elleWorkload struct {
	name string
	opts Options
}

func newElle(name string) func(Options) (Workload, error) {
	return func(opts Options) (Workload, error) { return &elleWorkload{name: name, opts: opts}, nil }
}

func (w *elleWorkload) Name() string { return w.name }

func (w *elleWorkload) Generator(seed int64) Generator {
	return &elleGen{rng: rand.New(rand.NewSource(seed)), write: w.writeF(), activeKeys: max(w.opts.Keys, 2),
		writes: map[int64]int64{}}
}

func (w *elleWorkload) writeF() string {
	if w.name == "rw-register" {
		return "w"
	}
	return "append"
}

// FinalOps is empty: Elle judges the transactions made during the run.
func (*elleWorkload) FinalOps() []history.Op { return nil }

func (w *elleWorkload) Judgement() Judgement {
	return Judgement{Checkers: []string{w.name, "stats"},
		Options: checker.Options{ConsistencyModels: w.opts.ConsistencyModels, Timeout: checkTimeout}}
}

func (w *elleWorkload) Checkers(outDir string) []checker.Checker { return w.Judgement().build(outDir) }

// maxWritesPerKey retires a key after this many writes (Elle's default
// max-writes-per-key is 32; shorter lists keep reads cheap for SQL
// targets).
const maxWritesPerKey = 32

// elleGen draws transactions over activeKeys keys at a time.
type elleGen struct {
	rng        *rand.Rand
	write      string
	activeKeys int
	keys       []int64         // the active pool
	next       int64           // the next fresh key
	writes     map[int64]int64 // writes generated per key; the last value
}

func (g *elleGen) Next(int64) history.Op {
	for len(g.keys) < g.activeKeys {
		g.keys = append(g.keys, g.next)
		g.next++
	}
	n := 1 + g.rng.Intn(4)
	mops := make([]any, 0, n)
	for range n {
		i := g.rng.Intn(len(g.keys))
		k := g.keys[i]
		if g.rng.Intn(2) == 0 {
			mops = append(mops, []any{"r", k, nil})
			continue
		}
		g.writes[k]++
		v := g.writes[k]
		mops = append(mops, []any{g.write, k, v})
		if v >= maxWritesPerKey {
			g.keys[i] = g.next
			g.next++
			delete(g.writes, k)
		}
	}
	return history.Op{F: "txn", Value: mops}
}

// MicroOp is one micro-op of a txn op's value as a client sees it: F is
// "r", "append" or "w", Key an integer key, Value the written value or,
// for a read, what it read (nil until the client fills it).
type MicroOp struct {
	F     string
	Key   int64
	Value any
}

// ParseTxn reads a list-append or rw-register txn op's value, as the
// generator makes it or as it comes back from JSON.
func ParseTxn(value any) ([]MicroOp, error) {
	raw, ok := value.([]any)
	if !ok {
		return nil, fmt.Errorf("txn value %v is not a list of micro-ops", value)
	}
	mops := make([]MicroOp, 0, len(raw))
	for _, r := range raw {
		m, ok := r.([]any)
		if !ok || len(m) != 3 {
			return nil, fmt.Errorf("micro-op %v is not [f, key, value]", r)
		}
		f, _ := m[0].(string)
		k, err := txnInt(m[1])
		if err != nil {
			return nil, fmt.Errorf("micro-op %v: key: %w", r, err)
		}
		mop := MicroOp{F: f, Key: k}
		switch f {
		case "r":
		case "append", "w":
			if mop.Value, err = txnInt(m[2]); err != nil {
				return nil, fmt.Errorf("micro-op %v: value: %w", r, err)
			}
		default:
			return nil, fmt.Errorf("micro-op %v: f %q is not r, append or w", r, f)
		}
		mops = append(mops, mop)
	}
	return mops, nil
}

// TxnValue is the inverse of ParseTxn: the op value Jepsen writes.
func TxnValue(mops []MicroOp) []any {
	out := make([]any, len(mops))
	for i, m := range mops {
		out[i] = []any{m.F, m.Key, m.Value}
	}
	return out
}

func txnInt(v any) (int64, error) { return history.Int(v) }
