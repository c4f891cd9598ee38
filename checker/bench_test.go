package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

// This file holds the history builders shared by the txid, set, bank,
// stats and compose tests, and the seeded generators of their benchmarks.

// histBuilder appends ops with dense indexes and one millisecond between
// ops. A completion copies f, key and tx_id from its process's open
// invocation, as a Jepsen client does.
type histBuilder struct {
	h    history.History
	open map[int64]history.Op
}

func (b *histBuilder) append(op history.Op) int64 {
	op.Index = int64(len(b.h))
	op.Time = op.Index * 1e6
	b.h = append(b.h, op)
	return op.Index
}

func (b *histBuilder) invoke(p int64, f string, v any) int64 {
	return b.txInvoke(p, f, "", v)
}

func (b *histBuilder) txInvoke(p int64, f, txID string, v any) int64 {
	if b.open == nil {
		b.open = map[int64]history.Op{}
	}
	op := history.Op{Type: history.Invoke, Process: p, F: f, TxID: txID, Value: v}
	b.open[p] = op
	return b.append(op)
}

func (b *histBuilder) complete(p int64, t history.Type, v any) int64 {
	inv := b.open[p]
	delete(b.open, p)
	return b.append(history.Op{Type: t, Process: p, F: inv.F, Key: inv.Key, TxID: inv.TxID, Value: v})
}

// completeErr completes p's open op with an error text.
func (b *histBuilder) completeErr(p int64, t history.Type, errText string) int64 {
	inv := b.open[p]
	delete(b.open, p)
	return b.append(history.Op{Type: t, Process: p, F: inv.F, Key: inv.Key, TxID: inv.TxID, Error: errText})
}

// call invokes and completes at once, returning both indexes.
func (b *histBuilder) call(p int64, f string, v any, t history.Type, out any) (int64, int64) {
	return b.invoke(p, f, v), b.complete(p, t, out)
}

func num(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// list builds a read-all value from integers.
func list(ns ...int64) []any {
	out := make([]any, len(ns))
	for i, n := range ns {
		out[i] = num(n)
	}
	return out
}

// interleave runs nProc simulated client processes until the history
// holds n ops: each step picks a process at random and completes its open
// op (done decides the completion) or invokes its next one (next). After
// an info the process continues under a new number (the README's
// "History format").
func interleave(b *histBuilder, r *rand.Rand, n, nProc int,
	next func(p int64) (f, txID string, v any),
	done func(inv history.Op) (history.Type, any)) {
	procs := make([]int64, nProc)
	for i := range procs {
		procs[i] = int64(i)
	}
	for len(b.h) < n {
		slot := r.IntN(nProc)
		p := procs[slot]
		if inv, busy := b.open[p]; busy {
			t, v := done(inv)
			b.complete(p, t, v)
			if t == history.Info {
				procs[slot] += int64(nProc)
			}
			continue
		}
		f, txID, v := next(p)
		b.txInvoke(p, f, txID, v)
	}
}

// genSetHistory: adds of fresh elements, 90% ok, 5% info (half of those
// applied), 5% fail, then a final read-all that is correct.
func genSetHistory(n int, seed uint64) history.History {
	r := rand.New(rand.NewPCG(seed, 1))
	b := &histBuilder{h: make(history.History, 0, n+2)}
	var present []any
	elem := int64(0)
	interleave(b, r, n-2, 10,
		func(int64) (string, string, any) { elem++; return "add", "", num(elem) },
		func(inv history.Op) (history.Type, any) {
			switch x := r.IntN(100); {
			case x < 90:
				present = append(present, inv.Value)
				return history.OK, inv.Value
			case x < 95:
				if x < 93 {
					present = append(present, inv.Value)
				}
				return history.Info, nil
			default:
				return history.Fail, nil
			}
		})
	b.call(1_000_000, "read-all", nil, history.OK, present)
	return b.h
}

// genTxIDHistory: transfers between 2–3 of 5 participants; an info
// attempt is retried (same tx_id) by another process; 85% ok, 5% fail,
// 10% info. The final read counts one effect row per participant of
// every applied tx.
func genTxIDHistory(n int, seed uint64) history.History {
	r := rand.New(rand.NewPCG(seed, 2))
	b := &histBuilder{h: make(history.History, 0, n+2)}
	parts := []string{"p1", "p2", "p3", "p4", "p5"}
	effects := map[string]map[string]any{}
	for _, p := range parts {
		effects[p] = map[string]any{}
	}
	applied := map[string]bool{}
	var retry []history.Op // info attempts waiting for a retry
	seq := 0
	interleave(b, r, n-2, 10,
		func(p int64) (string, string, any) {
			if len(retry) > 0 && r.IntN(2) == 0 {
				inv := retry[len(retry)-1]
				retry = retry[:len(retry)-1]
				return inv.F, inv.TxID, inv.Value
			}
			seq++
			k := 2 + r.IntN(2)
			ps := make([]any, 0, k)
			for _, i := range r.Perm(len(parts))[:k] {
				ps = append(ps, parts[i])
			}
			return "transfer", fmt.Sprintf("t%d-%d", p, seq), map[string]any{"amount": num(int64(1 + r.IntN(9))), "participants": ps}
		},
		func(inv history.Op) (history.Type, any) {
			x := r.IntN(100)
			if applied[inv.TxID] || x < 85 || (x < 95 && r.IntN(2) == 0) {
				if !applied[inv.TxID] {
					applied[inv.TxID] = true
					for _, p := range inv.Value.(map[string]any)["participants"].([]any) {
						effects[p.(string)][inv.TxID] = num(1)
					}
				}
				if x < 90 {
					return history.OK, inv.Value
				}
				retry = append(retry, inv)
				return history.Info, nil
			}
			if x < 95 {
				retry = append(retry, inv)
				return history.Info, nil
			}
			return history.Fail, nil
		})
	final := map[string]any{}
	for p, m := range effects {
		final[p] = m
	}
	b.call(1_000_000, "final-read", nil, history.OK, final)
	return b.h
}

// genBankHistory: 10 accounts holding 1000 in all; 80% transfers, 20%
// read-balances, both served from one consistent state, so every read
// sums right.
func genBankHistory(n int, seed uint64) history.History {
	r := rand.New(rand.NewPCG(seed, 3))
	b := &histBuilder{h: make(history.History, 0, n+2)}
	accts := make([]string, 10)
	bal := map[string]int64{}
	for i := range accts {
		accts[i] = fmt.Sprintf("a%d", i)
		bal[accts[i]] = 100
	}
	snapshot := func() map[string]any {
		m := make(map[string]any, len(bal))
		for a, v := range bal {
			m[a] = num(v)
		}
		return m
	}
	interleave(b, r, n-2, 10,
		func(int64) (string, string, any) {
			if r.IntN(5) == 0 {
				return "read-balances", "", nil
			}
			return "transfer", "", map[string]any{"from": accts[r.IntN(10)], "to": accts[r.IntN(10)], "amount": num(int64(1 + r.IntN(5)))}
		},
		func(inv history.Op) (history.Type, any) {
			if inv.F == "read-balances" {
				return history.OK, snapshot()
			}
			v := inv.Value.(map[string]any)
			amt, _ := v["amount"].(json.Number).Int64()
			from, to := v["from"].(string), v["to"].(string)
			if bal[from] < amt {
				return history.Fail, inv.Value
			}
			bal[from] -= amt
			bal[to] += amt
			return history.OK, inv.Value
		})
	b.call(1_000_000, "read-balances", nil, history.OK, snapshot())
	return b.h
}

func benchmarkChecker(b *testing.B, c Checker, h history.History) {
	b.ReportAllocs()
	runtime.GC() // collect the generator's garbage, or the check pays for it
	b.ResetTimer()
	for b.Loop() {
		if r := c.Check(context.Background(), h); r.Valid != Valid {
			b.Fatalf("%s on a generated good history: %v, anomalies %v, notes %v", c.Name(), r.Valid, firstN(r.Anomalies, 3), r.Notes)
		}
	}
}

func firstN[T any](s []T, n int) []T { return s[:min(n, len(s))] }

const benchOps = 1_000_000

func BenchmarkTxIDChecker1M(b *testing.B) {
	benchmarkChecker(b, NewTxID(), genTxIDHistory(benchOps, 1))
}

func BenchmarkSetChecker1M(b *testing.B) {
	benchmarkChecker(b, NewSet(), genSetHistory(benchOps, 1))
}

func BenchmarkBankChecker1M(b *testing.B) {
	benchmarkChecker(b, NewBank(BankOptions{}), genBankHistory(benchOps, 1))
}

func BenchmarkStatsChecker1M(b *testing.B) {
	benchmarkChecker(b, NewStats(), genBankHistory(benchOps, 1))
}

// wantAnomaly is an expected anomaly: its kind, key and exact ops.
type wantAnomaly struct {
	kind, key string
	ops       []int64
}

// checkResult asserts r's verdict and anomalies (as a multiset, details
// ignored). On failure it shows every op the expected and reported
// anomalies name, as JSON lines.
func checkResult(t *testing.T, h history.History, r Result, valid Validity, want []wantAnomaly) {
	t.Helper()
	got := map[string]int{}
	for _, a := range r.Anomalies {
		got[fmt.Sprintf("%s %q %v", a.Kind, a.Key, a.Ops)]++
	}
	for _, w := range want {
		got[fmt.Sprintf("%s %q %v", w.kind, w.key, w.ops)]--
	}
	mismatch := r.Valid != valid
	for _, n := range got {
		mismatch = mismatch || n != 0
	}
	if !mismatch {
		return
	}
	ops := map[int64]bool{}
	for _, a := range r.Anomalies {
		for _, i := range a.Ops {
			ops[i] = true
		}
	}
	for _, w := range want {
		for _, i := range w.ops {
			ops[i] = true
		}
	}
	var lines []byte
	for _, op := range h {
		if ops[op.Index] {
			j, _ := json.Marshal(op)
			lines = append(append(lines, "\n    "...), j...)
		}
	}
	t.Errorf("%s checker: valid %v, want %v\n  anomalies: %+v\n  want:      %+v\n  notes: %q\n  ops named:%s",
		r.Checker, r.Valid, valid, r.Anomalies, want, r.Notes, lines)
}
