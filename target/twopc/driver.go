package twopc

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	tpc "github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/workload"
)

// driver runs bank or retry on the 2PC system: every op goes through the
// coordinator (whose address goes through the system's client routes).
type driver struct {
	s    *System
	opts workload.Options
}

// Setup waits until the coordinator reads every account of the workload.
func (d *driver) Setup(ctx context.Context) error {
	c := d.client(d.opts.OpTimeout)
	accounts := workload.BankAccounts(d.opts)
	return workload.RetryUntil(ctx, "read the bank's accounts", func(ctx context.Context) error {
		b, err := c.c.ReadBalances(ctx)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if _, ok := b[a]; !ok {
				return fmt.Errorf("account %s missing from %v", a, b)
			}
		}
		return nil
	})
}

func (d *driver) NewClient(int64) (workload.Client, error) { return d.client(d.opts.OpTimeout), nil }

func (d *driver) client(timeout time.Duration) *transferClient {
	tc := d.s.tc
	return &transferClient{s: d.s, c: tpc.NewClient(d.s.ClientAddr(tc.CoordinatorAPI()), timeout), coord: cluster.TwoPCCoordinator}
}

// NewCoordinatorClient is the bank and retry workloads' client of a
// chaoscheck 2PC coordinator at coordAddr, for targets that run the same
// coordinator over other participants (twopc-postgres): transfer and
// read-balances ops, completions naming node. Its final-read is the
// target's own.
func NewCoordinatorClient(coordAddr, node string, timeout time.Duration) workload.Client {
	return &transferClient{c: tpc.NewClient(coordAddr, timeout), coord: node}
}

// transferClient performs transfer, read-balances and final-read ops.
type transferClient struct {
	s     *System
	c     *tpc.Client
	coord string // the coordinator's node name, for the history's node field
	// firstFinal is when this client first tried a final-read.
	firstFinal time.Time
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
		case err == nil && out.Outcome == tpc.Committed:
			op.Type = history.OK
		case err == nil:
			// Aborted: presumed abort, nothing was or will be applied.
			op.Type, op.Error = history.Fail, "aborted: "+out.Reason
		case tpc.IsIndeterminate(err):
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
	case "final-read":
		if c.s == nil {
			op.Type, op.Error = history.Fail, "final-read: not on the embedded 2PC cluster"
			return op
		}
		return c.finalRead(ctx, op)
	}
	op.Type, op.Error = history.Fail, "unknown f "+op.F
	return op
}

func (c *transferClient) Close() error { return nil }

// inDoubtWait is how long final reads wait for in-doubt transactions to
// resolve before recording what is there.
const inDoubtWait = 10 * time.Second

// finalRead observes, per participant, tx_id → effect rows. While some
// transaction is still in doubt it fails (a read changes nothing), so it
// is retried, until inDoubtWait after this client's first attempt; then
// it records what is there and the txid checker judges it (a transaction
// applied on some participants only is partial).
func (c *transferClient) finalRead(ctx context.Context, op history.Op) history.Op {
	op.Node = ""
	if c.firstFinal.IsZero() {
		c.firstFinal = time.Now()
	}
	obs, err := c.s.tc.Observe(ctx)
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	if time.Since(c.firstFinal) < inDoubtWait {
		for p, ob := range obs {
			if len(ob.InDoubt) > 0 {
				op.Type, op.Error = history.Fail, fmt.Sprintf("%s has transactions in doubt: %v", p, ob.InDoubt)
				return op
			}
		}
	}
	op.Type, op.Value = history.OK, effectsValue(obs)
	return op
}

// transferTxn turns a transfer op's value into the 2PC transaction: the
// debit on from's participant, the credit on to's.
func transferTxn(op history.Op) (tpc.Txn, error) {
	v, ok := op.Value.(map[string]any)
	if !ok {
		return tpc.Txn{}, fmt.Errorf("transfer value %v is not a map", op.Value)
	}
	from, _ := v["from"].(string)
	to, _ := v["to"].(string)
	amount, ok := v["amount"].(int64)
	if from == "" || to == "" || !ok {
		return tpc.Txn{}, fmt.Errorf("transfer value %v lacks from, to or amount", op.Value)
	}
	pf, af := workload.SplitAccount(from)
	pt, at := workload.SplitAccount(to)
	ops := map[string][]tpc.Op{}
	ops[pf] = append(ops[pf], tpc.Op{Account: af, Delta: -amount})
	ops[pt] = append(ops[pt], tpc.Op{Account: at, Delta: amount})
	return tpc.Txn{TxID: op.TxID, Ops: ops}, nil
}

func balancesValue(b map[string]int64) map[string]any {
	m := make(map[string]any, len(b))
	for a, v := range b {
		m[a] = v
	}
	return m
}

// effectsValue is a final-read value: participant → tx_id → effect rows.
func effectsValue(obs map[string]tpc.Observation) map[string]any {
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
