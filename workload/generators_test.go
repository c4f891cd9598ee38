package workload

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

func take(g Generator, n int) []history.Op {
	ops := make([]history.Op, n)
	for i := range ops {
		ops[i] = g.Next(int64(i % 3))
	}
	return ops
}

func raftTxn(_ *rand.Rand, n int64) history.Op {
	return history.Op{F: "txn", TxID: fmt.Sprintf("t%d", n), Value: map[string]any{"insert": n}}
}

func TestGeneratorsAreDeterministic(t *testing.T) {
	accts := BankAccounts(Options{Accounts: 8, Participants: 2})
	gens := map[string]func(seed int64) Generator{
		"register": func(s int64) Generator { return newRegisterGen(s, 5) },
		"set":      func(int64) Generator { return &setGen{} },
		"bank":     func(s int64) Generator { return newTransferGen(s, accts, 0.2) },
		"retry-twopc": func(s int64) Generator {
			return newRetryGen(s, 0.2, func(r *rand.Rand, n int64) history.Op { return newTransfer(r, accts, n) })
		},
		"retry-raft": func(s int64) Generator { return newRetryGen(s, 0.2, raftTxn) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			a, b := take(gen(7), 500), take(gen(7), 500)
			if !reflect.DeepEqual(a, b) {
				for i := range a {
					if !reflect.DeepEqual(a[i], b[i]) {
						t.Fatalf("seed 7 yields op %d = %+v, then %+v", i, a[i], b[i])
					}
				}
			}
			if name != "set" && reflect.DeepEqual(a, take(gen(8), 500)) {
				t.Fatalf("seeds 7 and 8 yield the same ops")
			}
		})
	}
}

func TestRegisterGenWritesUniqueValuesAndCasesFromLastValue(t *testing.T) {
	g := newRegisterGen(1, 3)
	written := map[int64]bool{}
	last := map[string]int64{}
	fs := map[string]int{}
	for _, op := range take(g, 3000) {
		fs[op.F]++
		var to int64
		switch op.F {
		case "read":
			continue
		case "write":
			to = op.Value.(int64)
		case "cas":
			v := op.Value.([]any)
			if v[0].(int64) != last[op.Key] {
				t.Fatalf("cas %+v: from is not the key's last generated value %d", op, last[op.Key])
			}
			to = v[1].(int64)
		}
		if written[to] {
			t.Fatalf("value %d written twice (%+v)", to, op)
		}
		written[to] = true
		last[op.Key] = to
	}
	for _, f := range []string{"read", "write", "cas"} {
		if fs[f] < 800 {
			t.Fatalf("op mix %v: want about a third each", fs)
		}
	}
}

func TestTransferGenMovesMoneyBetweenDistinctAccounts(t *testing.T) {
	g := newTransferGen(3, BankAccounts(Options{Accounts: 8, Participants: 2}), 0.25)
	ids := map[string]bool{}
	reads := 0
	for _, op := range take(g, 2000) {
		if op.F == "read-balances" {
			reads++
			continue
		}
		v := op.Value.(map[string]any)
		from, to := v["from"].(string), v["to"].(string)
		if from == to || ids[op.TxID] || op.TxID == "" {
			t.Fatalf("bad transfer %+v", op)
		}
		ids[op.TxID] = true
		pf, _ := SplitAccount(from)
		pt, _ := SplitAccount(to)
		want := []any{pf}
		if pt != pf {
			want = append(want, pt)
		}
		if !reflect.DeepEqual(v["participants"], want) {
			t.Fatalf("transfer %+v lists participants %v, want %v", op, v["participants"], want)
		}
		if a := v["amount"].(int64); a < 1 || a > 5 {
			t.Fatalf("amount %d", a)
		}
	}
	if reads < 400 || reads > 600 {
		t.Fatalf("%d read-balances in 2000 ops at 25%%", reads)
	}
}

func TestRetryGenDuplicatesAndResubmitsSameTxID(t *testing.T) {
	g := newRetryGen(5, 0.3, raftTxn)
	first := map[string]history.Op{}
	dups := 0
	for _, op := range take(g, 1000) {
		if f, ok := first[op.TxID]; ok {
			dups++
			if !reflect.DeepEqual(f, op) {
				t.Fatalf("tx_id %s resubmitted as %+v, first was %+v", op.TxID, op, f)
			}
			continue
		}
		first[op.TxID] = op
	}
	if dups < 150 {
		t.Fatalf("%d duplicates in 1000 ops at 30%%", dups)
	}

	// An attempt that ended info comes back next, with the same tx_id,
	// until retryMaxAttempts attempts were made.
	g = newRetryGen(5, 0, raftTxn)
	op := g.Next(0)
	for attempt := 2; attempt <= retryMaxAttempts; attempt++ {
		g.Update(history.Op{Type: history.Info, TxID: op.TxID})
		if again := g.Next(0); !reflect.DeepEqual(again, op) {
			t.Fatalf("attempt %d after info: %+v, want %+v", attempt, again, op)
		}
	}
	g.Update(history.Op{Type: history.Info, TxID: op.TxID})
	if next := g.Next(0); next.TxID == op.TxID {
		t.Fatalf("tx_id %s resubmitted beyond %d attempts", op.TxID, retryMaxAttempts)
	}
	g.Update(history.Op{Type: history.OK, TxID: "t2"})
	if next := g.Next(0); next.TxID == "t2" {
		t.Fatalf("an ok attempt was resubmitted")
	}
}
