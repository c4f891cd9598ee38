package workload

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// This file holds what the 2PC workloads (bank, retry on twopc) share:
// the client of the coordinator, transfers as 2PC transactions, and the
// final observations.

func twopcOf(t *cluster.Target) (*cluster.TwoPCCluster, error) {
	if t == nil || t.TwoPC == nil {
		return nil, errors.New("no 2PC cluster booted")
	}
	return t.TwoPC, nil
}

// transferClient performs transfer and read-balances ops through the
// coordinator, whose address goes through t.ClientAddr.
type transferClient struct {
	c     *twopc.Client
	coord string // the coordinator's node name, for the history's node field
}

func newTransferClient(t *cluster.Target, timeout time.Duration) (*transferClient, error) {
	tc, err := twopcOf(t)
	if err != nil {
		return nil, err
	}
	coord := tc.Coordinator()
	return &transferClient{c: twopc.NewClient(t.ClientAddr(tc.CoordinatorAPI()), timeout), coord: coord.Name()}, nil
}

func (c *transferClient) Invoke(ctx context.Context, op history.Op) history.Op {
	op.Node = c.coord
	switch op.F {
	case "transfer":
		tx, err := transferTxn(op)
		if err != nil {
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		out, err := c.c.Submit(ctx, tx)
		switch {
		case err == nil && out.Outcome == twopc.Committed:
			op.Type = history.OK
		case err == nil:
			// Aborted: presumed abort, nothing was or will be applied.
			op.Type, op.Error = history.Fail, "aborted: "+out.Reason
		case twopc.IsIndeterminate(err):
			op.Type, op.Error = history.Info, err.Error()
		default:
			op.Type, op.Error = history.Fail, err.Error()
		}
		return op
	case "read-balances":
		b, err := c.c.ReadBalances(ctx)
		if err != nil {
			// A read changes nothing: unanswered, it did not happen.
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		op.Type, op.Value = history.OK, balancesValue(b)
		return op
	}
	op.Type, op.Error = history.Fail, "unknown f "+op.F
	return op
}

func (c *transferClient) Close() error { return nil }

// transferTxn turns a transfer op's value into the 2PC transaction: the
// debit on from's participant, the credit on to's.
func transferTxn(op history.Op) (twopc.Txn, error) {
	v, ok := op.Value.(map[string]any)
	if !ok {
		return twopc.Txn{}, fmt.Errorf("transfer value %v is not a map", op.Value)
	}
	from, _ := v["from"].(string)
	to, _ := v["to"].(string)
	amount, ok := v["amount"].(int64)
	if from == "" || to == "" || !ok {
		return twopc.Txn{}, fmt.Errorf("transfer value %v lacks from, to or amount", op.Value)
	}
	pf, af := splitAccount(from)
	pt, at := splitAccount(to)
	ops := map[string][]twopc.Op{}
	ops[pf] = append(ops[pf], twopc.Op{Account: af, Delta: -amount})
	ops[pt] = append(ops[pt], twopc.Op{Account: at, Delta: amount})
	return twopc.Txn{TxID: op.TxID, Ops: ops}, nil
}

func balancesValue(b map[string]int64) map[string]any {
	m := make(map[string]any, len(b))
	for a, v := range b {
		m[a] = v
	}
	return m
}

// finalTransfers records the final read-balances and the final-read the
// txid checker judges: per participant, tx_id → effect rows. Before the
// final-read it waits (up to the op timeout's worth of polls, bounded by
// ctx) for in-doubt transactions to resolve, so the counts are final.
func finalTransfers(ctx context.Context, t *cluster.Target, rec Recorder, procs *processes, timeout time.Duration, withBalances bool) error {
	tc, err := twopcOf(t)
	if err != nil {
		return err
	}
	if withBalances {
		c, err := newTransferClient(t, timeout)
		if err != nil {
			return err
		}
		if err := observe(ctx, rec, procs, history.Op{F: "read-balances"}, timeout, c.Invoke); err != nil {
			return err
		}
	}
	_ = cluster.WaitFor(ctx, 10*time.Second, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		obs, err := tc.Observe(ctx)
		if err != nil {
			return false, err
		}
		for p, o := range obs {
			if len(o.InDoubt) > 0 {
				return false, fmt.Errorf("%s has in-doubt %v", p, o.InDoubt)
			}
		}
		return true, nil
	})
	return observe(ctx, rec, procs, history.Op{F: "final-read"}, timeout, func(ctx context.Context, op history.Op) history.Op {
		obs, err := tc.Observe(ctx)
		if err != nil {
			op.Type, op.Error = history.Fail, err.Error()
			return op
		}
		op.Type, op.Value = history.OK, effectsValue(obs)
		return op
	})
}

// effectsValue is a final-read value: participant → tx_id → effect rows.
func effectsValue(obs map[string]twopc.Observation) map[string]any {
	names := make([]string, 0, len(obs))
	for p := range obs {
		names = append(names, p)
	}
	sort.Strings(names)
	v := make(map[string]any, len(obs))
	for _, p := range names {
		m := make(map[string]any, len(obs[p].Effects))
		for id, n := range obs[p].Effects {
			m[id] = int64(n)
		}
		v[p] = m
	}
	return v
}
