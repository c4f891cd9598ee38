package workload

import (
	"fmt"
	"math/rand"
	"slices"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func init() { Register("retry", newRetry) }

// retry tests exactly-once under client retries: transactions carry
// client-chosen tx_ids, and the same tx_id is resubmitted after an
// attempt ended info and, for a share of ops, sent again while the first
// attempt may still be in flight. The system must apply each tx_id once.
//
// What a transaction is depends on the target, and is decided once, here:
// on a transactional target it is a transfer (retryTxns transfers: the
// bank checker also sees the money conserved); on the Raft store
// (Options.Target "raft") it is a txn inserting one row holding the tx_id
// (value {"insert": n}, retryTxns inserts), and the final-read counts rows
// per tx_id. The methods below never branch on the target.
type retry struct {
	opts Options
	txns retryTxns
}

// retryTxns is one kind of retried transaction: how transaction n is
// drawn, which final observations follow, and how they are judged.
type retryTxns struct {
	next      func(rng *rand.Rand, n int64) history.Op
	finalOps  []history.Op
	judgement Judgement
}

// RaftRetryParticipant is the final-read's one "participant" of the retry
// workload on the Raft store.
const RaftRetryParticipant = "raft"

func newRetry(opts Options) (Workload, error) {
	if opts.Target == "raft" {
		return &retry{opts: opts, txns: retryTxns{
			next:      raftRetryTxn,
			finalOps:  []history.Op{{F: "final-read"}},
			judgement: Judgement{Checkers: []string{"txid", "stats"}},
		}}, nil
	}
	accounts := BankAccounts(opts)
	return &retry{opts: opts, txns: retryTxns{
		next:      func(rng *rand.Rand, n int64) history.Op { return newTransfer(rng, accounts, n) },
		finalOps:  transferFinalOps(),
		judgement: transferJudgement(accounts, opts),
	}}, nil
}

func (*retry) Name() string { return "retry" }

func (w *retry) Generator(seed int64) Generator {
	return newRetryGen(seed, w.opts.DuplicateFraction, w.txns.next)
}

// raftRetryTxn is transaction n on raft: insert the row (tx_id, n).
func raftRetryTxn(_ *rand.Rand, n int64) history.Op {
	return history.Op{F: "txn", TxID: fmt.Sprintf("t%d", n), Value: map[string]any{"insert": n}}
}

func (w *retry) FinalOps() []history.Op { return slices.Clone(w.txns.finalOps) }

func (w *retry) Judgement() Judgement { return w.txns.judgement }

func (w *retry) Checkers(outDir string) []checker.Checker { return w.Judgement().build(outDir) }
