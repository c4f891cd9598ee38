package nemesis

import (
	"context"
	"fmt"
	"math/rand"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
)

func init() {
	Register("partition-coordinator", []target.Feature{target.Partition, target.CommitWindowFeature},
		func(o Options) Nemesis { return &partitionCoordinator{opts: o} })
}

// partitionCoordinator cuts the 2PC coordinator from one participant
// inside the commit window, the participants taking turns by round as in
// alternate-kill. Per round:
//
//  1. hold the commit window until a transaction spanning this round's
//     participant is held (it has prepared and voted yes);
//  2. cut the link coordinator ↔ participant both ways (a start-partition
//     with that grudge), and keep it cut for cutFor: the coordinator's
//     commit message is lost, and the participant, in doubt, cannot ask
//     for the decision;
//  3. heal the link, release the window, and record what the
//     participants show once in-doubt transactions had a moment.
//
// A correct participant blocks: it keeps the transaction prepared until it
// learns the decision, so the held transaction ends applied once on every
// participant. One that aborts on its own when the coordinator is out of
// reach (twopc/unilateral-abort) leaves it applied on some participants
// only: txid partial, bank wrong-total.
type partitionCoordinator struct {
	opts  Options
	round int
}

// cutFor is how long the link stays cut after the window closes: longer
// than an in-doubt participant's wait before it asks the coordinator
// (ResolveAfter, 2s) plus that request's own timeout (2s).
const cutFor = 5 * time.Second

func (*partitionCoordinator) Name() string { return "partition-coordinator" }
func (*partitionCoordinator) Close() error { return nil }

func (p *partitionCoordinator) Setup(_ context.Context, sys target.System) error {
	if p.opts.Net == nil {
		return fmt.Errorf("partition-coordinator: no network layer: the runner did not route the target's links through faultnet")
	}
	if err := hasNode(sys, cluster.TwoPCCoordinator); err != nil {
		return fmt.Errorf("partition-coordinator: %w", err)
	}
	_, err := twoParticipants("partition-coordinator", sys)
	return err
}

func (p *partitionCoordinator) Op(*rand.Rand) history.Op {
	p.round++
	return history.Op{F: "partition-coordinator", Value: map[string]any{"round": int64(p.round), "participant": int64(2 - p.round%2)}}
}

func (p *partitionCoordinator) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	v, _ := op.Value.(map[string]any)
	round, _ := v["round"].(int64)
	which, _ := v["participant"].(int64)
	res := akResult{Round: round}
	err := p.round1(ctx, sys, which, &res)
	val := res.value()
	if g := p.opts.Net.Grudge(); len(g) > 0 {
		val["grudge"] = g.Value()
	}
	op.Value, op.Node = val, res.Participant
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (p *partitionCoordinator) round1(ctx context.Context, sys target.System, which int64, res *akResult) error {
	cw, err := twoParticipants("partition-coordinator", sys)
	if err != nil {
		return err
	}
	names := cw.Participants()
	if which < 1 || int(which) > len(names) {
		return fmt.Errorf("participant %d of %d", which, len(names))
	}
	res.Participant = names[which-1]
	res.HeldTx, err = cw.Hold(ctx, res.Participant, p.opts.PauseBeforeCommit)
	if err != nil {
		return err
	}
	p.opts.Net.Partition(faultnet.Cut(cluster.TwoPCCoordinator, res.Participant))
	cut := time.NewTimer(p.opts.PauseBeforeCommit + cutFor)
	select {
	case <-ctx.Done():
	case <-cut.C:
	}
	cut.Stop()
	p.opts.Net.Partition(nil)
	if err := cw.Release(context.WithoutCancel(ctx), res.HeldTx); err != nil {
		return err
	}
	res.Released = true
	return observeInDoubt(ctx, cw, res)
}

// Heal lifts the cut and closes the window.
func (p *partitionCoordinator) Heal(ctx context.Context, sys target.System) error {
	if p.opts.Net != nil {
		p.opts.Net.Partition(nil)
	}
	if cw, ok := sys.(target.CommitWindow); ok {
		return cw.Release(ctx, "")
	}
	return nil
}
