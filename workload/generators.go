package workload

import (
	"fmt"
	"math/rand"

	"github.com/chaoscheck/chaoscheck/history"
)

// This file holds each workload's generator. A generator draws every
// choice from its own seeded source and counts in its own counters, so
// the same seed yields the same op sequence, whichever worker asks.

// registerGen: read, write and cas in equal shares over a few keys, every
// written value unique (Knossos's advice: unique values make a
// linearizability violation visible instead of ambiguous).
type registerGen struct {
	rng  *rand.Rand
	keys int
	next int64            // last value written
	last map[string]int64 // last value generated for each key, cas's likely current value
}

func newRegisterGen(seed int64, keys int) *registerGen {
	return &registerGen{rng: rand.New(rand.NewSource(seed)), keys: keys, last: map[string]int64{}}
}

func registerKey(i int) string { return fmt.Sprintf("k%d", i) }

func (g *registerGen) Next(int64) history.Op {
	key := registerKey(g.rng.Intn(g.keys))
	switch g.rng.Intn(3) {
	case 0:
		return history.Op{F: "read", Key: key}
	case 1:
		g.next++
		g.last[key] = g.next
		return history.Op{F: "write", Key: key, Value: g.next}
	default:
		g.next++
		from := g.last[key]
		g.last[key] = g.next
		return history.Op{F: "cas", Key: key, Value: []any{from, g.next}}
	}
}

// setGen: adds of 1, 2, 3 …, each element once.
type setGen struct{ next int64 }

func (g *setGen) Next(int64) history.Op {
	g.next++
	return history.Op{F: "add", Value: g.next}
}

// transferGen: transfers of 1–5 between two distinct accounts, each a
// transaction with its own tx_id, and a share of read-balances.
type transferGen struct {
	rng       *rand.Rand
	accounts  []string // "p1/a1" …
	readShare float64  // share of read-balances ops
	n         int64    // transactions generated, for tx_ids
}

func newTransferGen(seed int64, accounts []string, readShare float64) *transferGen {
	return &transferGen{rng: rand.New(rand.NewSource(seed)), accounts: accounts, readShare: readShare}
}

func (g *transferGen) Next(int64) history.Op {
	if g.readShare > 0 && g.rng.Float64() < g.readShare {
		return history.Op{F: "read-balances"}
	}
	g.n++
	return newTransfer(g.rng, g.accounts, g.n)
}

// newTransfer is transaction n: 1–5 from one account to another.
func newTransfer(rng *rand.Rand, accounts []string, n int64) history.Op {
	i := rng.Intn(len(accounts))
	j := rng.Intn(len(accounts) - 1)
	if j >= i {
		j++
	}
	return history.Op{F: "transfer", TxID: fmt.Sprintf("t%d", n), Value: transferValue(accounts[i], accounts[j], int64(1+rng.Intn(5)))}
}

// transferValue is a transfer's op value, as the README's "History
// format" gives it:
// {from, to, amount, participants}.
func transferValue(from, to string, amount int64) map[string]any {
	pf, _ := SplitAccount(from)
	pt, _ := SplitAccount(to)
	parts := []any{pf}
	if pt != pf {
		parts = append(parts, pt)
	}
	return map[string]any{"from": from, "to": to, "amount": amount, "participants": parts}
}

// retryGen: transactions with client-chosen tx_ids where the tx_id, not
// the request, names the transaction. A share of its ops resubmit a
// recent transaction as a concurrent duplicate, and every attempt that
// ended info is resubmitted with the same tx_id (Update), up to
// maxAttempts: the system must apply each tx_id once, however many
// requests carry it.
type retryGen struct {
	rng    *rand.Rand
	dup    float64
	fresh  func(rng *rand.Rand, n int64) history.Op // transaction n
	n      int64
	recent []history.Op // ring of recent first attempts
	pos    int
	redo   []history.Op          // info'd attempts to resubmit, oldest first
	tries  map[string]int        // tx_id → attempts generated
	byID   map[string]history.Op // tx_id → its invocation template
}

const (
	retryRecent      = 8 // duplicates reuse one of the last retryRecent tx_ids
	retryMaxAttempts = 4
)

func newRetryGen(seed int64, dup float64, fresh func(rng *rand.Rand, n int64) history.Op) *retryGen {
	return &retryGen{rng: rand.New(rand.NewSource(seed)), dup: dup, fresh: fresh, tries: map[string]int{}, byID: map[string]history.Op{}}
}

func (g *retryGen) Next(int64) history.Op {
	if len(g.redo) > 0 {
		op := g.redo[0]
		g.redo = g.redo[1:]
		g.tries[op.TxID]++
		return op
	}
	if len(g.recent) > 0 && g.rng.Float64() < g.dup {
		op := g.recent[g.rng.Intn(len(g.recent))]
		if g.tries[op.TxID] < retryMaxAttempts {
			g.tries[op.TxID]++
			return op
		}
	}
	g.n++
	op := g.fresh(g.rng, g.n)
	g.tries[op.TxID] = 1
	g.byID[op.TxID] = op
	if len(g.recent) < retryRecent {
		g.recent = append(g.recent, op)
	} else {
		g.recent[g.pos] = op
		g.pos = (g.pos + 1) % retryRecent
	}
	return op
}

// Update queues an info'd attempt for resubmission under the same tx_id.
func (g *retryGen) Update(c history.Op) {
	if c.Type != history.Info || c.TxID == "" || g.tries[c.TxID] >= retryMaxAttempts {
		return
	}
	if op, ok := g.byID[c.TxID]; ok {
		g.redo = append(g.redo, op)
	}
}
