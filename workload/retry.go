package workload

import (
	"context"
	"fmt"
	"math/rand"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

func init() { constructors["retry"] = newRetry }

// retry tests exactly-once under client retries: transactions carry
// client-chosen tx_ids, and the same tx_id is resubmitted after an
// attempt ended info and, for a share of ops, sent again while the first
// attempt may still be in flight. The system must apply each tx_id once.
//
// On twopc (default) a transaction is a transfer and the bank checker
// also sees the money conserved; on raft it is an INSERT of a row holding
// the tx_id, proposed with the tx_id as raftsql's request id, and the
// final-read counts rows per tx_id.
type retry struct {
	opts         Options
	participants []string
	accounts     []string
	procs        processes
}

// raftRetryParticipant is the final-read's one "participant" on raft.
const raftRetryParticipant = "raft"

func newRetry(opts Options) (Workload, error) {
	w := &retry{opts: opts}
	switch opts.Target {
	case "twopc":
		w.participants = participantNames(opts.Participants)
		w.accounts = accountNames(opts.Accounts, w.participants)
	case "raft":
	default:
		return nil, fmt.Errorf("retry: target %q, want twopc or raft", opts.Target)
	}
	return w, nil
}

func (*retry) Name() string { return "retry" }

func (w *retry) Boot() BootSpec {
	if w.opts.Target == "raft" {
		return BootSpec{RaftNodes: w.opts.RaftNodes}
	}
	return BootSpec{TwoPC: &TwoPCSpec{Participants: w.participants, Accounts: w.accounts, InitialBalance: w.opts.InitialBalance}}
}

func (w *retry) Setup(ctx context.Context, t *cluster.Target) error {
	if w.opts.Target == "raft" {
		return setupRaft(ctx, t, "setup-retry", raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS txs (tx_id TEXT NOT NULL, v INTEGER)"})
	}
	return setupTransfers(ctx, t, w.accounts, w.opts)
}

func (w *retry) Generator(seed int64) Generator {
	if w.opts.Target == "raft" {
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

func (w *retry) NewClient(t *cluster.Target, process int64) (Client, error) {
	w.procs.saw(process)
	if w.opts.Target == "raft" {
		c, err := newRaftClient(t, w.opts.OpTimeout)
		if err != nil {
			return nil, err
		}
		return &raftTxnClient{c: c}, nil
	}
	return newTransferClient(t, w.opts.OpTimeout)
}

func (w *retry) FinalReads(ctx context.Context, t *cluster.Target, rec Recorder) error {
	if w.opts.Target != "raft" {
		return finalTransfers(ctx, t, rec, &w.procs, w.opts.OpTimeout, true)
	}
	c, err := newRaftClient(t, w.opts.OpTimeout)
	if err != nil {
		return err
	}
	return observe(ctx, rec, &w.procs, history.Op{F: "final-read"}, w.opts.OpTimeout, (&raftTxnClient{c: c}).Invoke)
}

func (w *retry) Checkers(string) []checker.Checker {
	if w.opts.Target == "raft" {
		return []checker.Checker{checker.NewTxID(), checker.NewStats()}
	}
	return transferCheckers(w.accounts, w.opts)
}

// raftTxnClient performs the retry workload's txn and final-read ops on
// the Raft store.
type raftTxnClient struct{ c *raftsql.Client }

func (c *raftTxnClient) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case "txn":
		v, _ := op.Value.(map[string]any)
		// The tx_id is the request id: raftsql applies a request id once,
		// which is the property under test.
		_, node, err := c.c.Exec(ctx, op.TxID, raftsql.Stmt{SQL: "INSERT INTO txs (tx_id, v) VALUES (?, ?)", Args: []any{op.TxID, v["insert"]}})
		return execCompletion(op, node, err)
	case "final-read":
		res, node, err := c.c.Query(ctx, "SELECT tx_id, COUNT(*) FROM txs GROUP BY tx_id")
		done := queryCompletion(op, node, err)
		if err != nil {
			return done
		}
		counts := make(map[string]any, len(res.Rows))
		for _, row := range res.Rows {
			if len(row) != 2 {
				done.Type, done.Error = history.Fail, fmt.Sprintf("final-read: bad row %v", row)
				return done
			}
			id, ok := row[0].(string)
			n, err := cellInt(row[1])
			if !ok || err != nil {
				done.Type, done.Error = history.Fail, fmt.Sprintf("final-read: bad row %v", row)
				return done
			}
			counts[id] = n
		}
		done.Value = map[string]any{raftRetryParticipant: counts}
		return done
	}
	op.Type, op.Error = history.Fail, "retry: unknown f "+op.F
	return op
}

func (c *raftTxnClient) Close() error { return nil }
