package workload

import (
	"fmt"
	"math/rand"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func init() { Register("retry", newRetry) }

// retry tests exactly-once under client retries: transactions carry
// client-chosen tx_ids, and the same tx_id is resubmitted after an
// attempt ended info and, for a share of ops, sent again while the first
// attempt may still be in flight. The system must apply each tx_id once.
//
// On a transactional target a transaction is a transfer and the bank
// checker also sees the money conserved; on the Raft store (Options.Target
// "raft") it is a txn inserting one row holding the tx_id
// (value {"insert": n}), and the final-read counts rows per tx_id.
type retry struct {
	opts     Options
	accounts []string
}

// RaftRetryParticipant is the final-read's one "participant" of the retry
// workload on the Raft store.
const RaftRetryParticipant = "raft"

func newRetry(opts Options) (Workload, error) {
	w := &retry{opts: opts}
	if !w.inserts() {
		w.accounts = BankAccounts(opts)
	}
	return w, nil
}

// inserts says the target is the Raft store, whose transactions are
// inserts rather than transfers.
func (w *retry) inserts() bool { return w.opts.Target == "raft" }

func (*retry) Name() string { return "retry" }

func (w *retry) Generator(seed int64) Generator {
	if w.inserts() {
		return newRetryGen(seed, w.opts.DuplicateFraction, raftRetryTxn)
	}
	return newRetryGen(seed, w.opts.DuplicateFraction, func(rng *rand.Rand, n int64) history.Op {
		return newTransfer(rng, w.accounts, n)
	})
}

// raftRetryTxn is transaction n on raft: insert the row (tx_id, n).
func raftRetryTxn(_ *rand.Rand, n int64) history.Op {
	return history.Op{F: "txn", TxID: fmt.Sprintf("t%d", n), Value: map[string]any{"insert": n}}
}

func (w *retry) FinalOps() []history.Op {
	if w.inserts() {
		return []history.Op{{F: "final-read"}}
	}
	return transferFinalOps()
}

func (w *retry) Judgement() Judgement {
	if w.inserts() {
		return Judgement{Checkers: []string{"txid", "stats"}}
	}
	return transferJudgement(w.accounts, w.opts)
}

func (w *retry) Checkers(outDir string) []checker.Checker { return w.Judgement().build(outDir) }
