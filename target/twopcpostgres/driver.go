package twopcpostgres

import (
	"context"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	tpc "github.com/chaoscheck/chaoscheck/target/twopc"
	"github.com/chaoscheck/chaoscheck/workload"
)

// driver runs bank and retry: transfers and read-balances through the
// coordinator (the embedded 2PC system's client), final-read straight
// from the participants' databases.
type driver struct {
	s        *system
	accounts []string
}

// Setup waits until the coordinator reads every account.
func (d *driver) Setup(ctx context.Context) error {
	return cluster.WaitFor(ctx, time.Minute, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		b, err := d.s.client.ReadBalances(cctx)
		if err != nil {
			return false, err
		}
		for _, a := range d.accounts {
			if _, ok := b[a]; !ok {
				return false, fmt.Errorf("account %s missing from %v", a, b)
			}
		}
		return true, nil
	})
}

func (d *driver) NewClient(int64) (workload.Client, error) {
	return &client{s: d.s, tc: tpc.NewCoordinatorClient(d.s.apis[Coordinator], Coordinator, d.s.opts.OpTimeout)}, nil
}

type client struct {
	s  *system
	tc workload.Client
}

func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	if op.F == "final-read" {
		return c.finalRead(ctx, op)
	}
	return c.tc.Invoke(ctx, op)
}

func (c *client) Close() error { return c.tc.Close() }

// finalRead is participant → tx_id → effect rows. It first waits (for
// most of ctx's time) until no participant has a prepared transaction,
// so the counts are final; a read changes nothing, so an unanswered one
// is fail.
func (c *client) finalRead(ctx context.Context, op history.Op) history.Op {
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl) * 3 / 4
	}
	_ = cluster.WaitFor(ctx, wait, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		obs, err := c.s.Observe(ctx)
		if err != nil {
			return false, err
		}
		for _, o := range obs {
			if len(o.InDoubt) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	obs, err := c.s.Observe(ctx)
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	v := map[string]any{}
	for p, o := range obs {
		m := map[string]any{}
		for id, n := range o.Effects {
			m[id] = int64(n)
		}
		v[p] = m
	}
	op.Type, op.Value, op.Node = history.OK, v, ""
	return op
}
