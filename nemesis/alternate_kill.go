package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
)

func init() {
	Register("alternate-kill", []target.Feature{target.CommitWindowFeature, target.Kill},
		func(o Options) Nemesis { return &alternateKill{opts: o} })
}

// alternateKill kills a 2PC participant inside the commit window: the
// coordinator's commit decision is durable, the participants have
// prepared, and no commit message has gone out. Rounds alternate between
// the first participant (odd rounds) and the second (even rounds). Per
// round:
//
//  1. hold the commit window (target.CommitWindow) for PauseBeforeCommit
//     until a transaction that spans this round's participant is held
//     (the workload's transfers keep arriving);
//  2. SIGKILL the participant and restart it: the prepared transaction
//     must survive as in doubt;
//  3. release the window and wait until the held transaction leaves it;
//  4. verify only: observe every participant until no transaction is in
//     doubt, or a short deadline passes, and record what was seen.
//
// The checkers, not the nemesis, judge the outcome: the held transaction
// must end applied exactly once on every participant (txid) with money
// conserved (bank).
type alternateKill struct {
	opts  Options
	round int
}

// verifyWait is the "short deadline" for in-doubt transactions to resolve
// once the coordinator re-drives its commits.
const verifyWait = 5 * time.Second

func (*alternateKill) Name() string { return "alternate-kill" }
func (*alternateKill) Close() error { return nil }

func (a *alternateKill) Setup(_ context.Context, sys target.System) error {
	_, err := twoParticipants("alternate-kill", sys)
	return err
}

// twoParticipants returns sys's commit window when sys has one with at
// least two participants, as the commit-window nemeses need.
func twoParticipants(name string, sys target.System) (target.CommitWindow, error) {
	cw, ok := sys.(target.CommitWindow)
	if !ok {
		return nil, fmt.Errorf("%s: the target has no commit window to hold", name)
	}
	if n := len(cw.Participants()); n < 2 {
		return nil, fmt.Errorf("%s: needs 2 participants, the target has %d", name, n)
	}
	return cw, nil
}

func (a *alternateKill) Op(*rand.Rand) history.Op {
	a.round++
	// Participant 1 on odd rounds, 2 on even ones; resolved to a name
	// at Invoke (names are the cluster's, sorted).
	return history.Op{F: "alternate-kill", Value: map[string]any{"round": int64(a.round), "participant": int64(2 - a.round%2)}}
}

// akResult is what one round saw, the completion's value.
type akResult struct {
	Round       int64               `json:"round"`
	Participant string              `json:"participant"`
	HeldTx      string              `json:"held_tx,omitempty"`
	Released    bool                `json:"released"`
	InDoubt     map[string][]string `json:"in_doubt,omitempty"`        // at the end of verification
	HeldEffects map[string]int      `json:"held_tx_effects,omitempty"` // effect rows of the held tx per participant
}

func (r akResult) value() map[string]any {
	v := map[string]any{"round": r.Round, "participant": r.Participant, "held_tx": r.HeldTx, "released": r.Released}
	if r.InDoubt != nil {
		m := map[string]any{}
		for p, ids := range r.InDoubt {
			l := make([]any, len(ids))
			for i, id := range ids {
				l[i] = id
			}
			m[p] = l
		}
		v["in_doubt"] = m
	}
	if r.HeldEffects != nil {
		m := map[string]any{}
		for p, n := range r.HeldEffects {
			m[p] = int64(n)
		}
		v["held_tx_effects"] = m
	}
	return v
}

func (a *alternateKill) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	res, err := a.round1(ctx, sys, op)
	op.Value, op.Node = res.value(), res.Participant
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (a *alternateKill) round1(ctx context.Context, sys target.System, op history.Op) (akResult, error) {
	v, _ := op.Value.(map[string]any)
	round, _ := v["round"].(int64)
	which, _ := v["participant"].(int64)
	res := akResult{Round: round}
	cw, err := twoParticipants("alternate-kill", sys)
	if err != nil {
		return res, err
	}
	names := cw.Participants()
	if which < 1 || int(which) > len(names) {
		return res, fmt.Errorf("participant %d of %d", which, len(names))
	}
	res.Participant = names[which-1]

	res.HeldTx, err = cw.Hold(ctx, res.Participant, a.opts.PauseBeforeCommit)
	if err != nil {
		return res, err
	}
	// Whatever happens next, the commit window closes again.
	released := false
	defer func() {
		if !released {
			cw.Release(context.WithoutCancel(ctx), "")
		}
	}()
	if err := restart(ctx, sys, res.Participant); err != nil {
		return res, err
	}
	released = true
	if err := cw.Release(ctx, res.HeldTx); err != nil {
		return res, err
	}
	res.Released = true

	return res, observeInDoubt(ctx, cw, &res)
}

// observeInDoubt is a commit-window round's verification, verify only:
// it records what the participants show once in-doubt transactions had
// verifyWait to resolve, and the held transaction's effect rows; the
// checkers judge the history.
func observeInDoubt(ctx context.Context, cw target.CommitWindow, res *akResult) error {
	var obs map[string]target.Observation
	werr := cluster.WaitFor(ctx, verifyWait, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		o, err := cw.Observe(ctx)
		if err != nil {
			return false, err
		}
		obs = o
		for _, ob := range o {
			if len(ob.InDoubt) > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	res.InDoubt, res.HeldEffects = map[string][]string{}, map[string]int{}
	for p, ob := range obs {
		if len(ob.InDoubt) > 0 {
			ids := slices.Clone(ob.InDoubt)
			sort.Strings(ids)
			res.InDoubt[p] = ids
		}
		res.HeldEffects[p] = ob.Effects[res.HeldTx]
	}
	if werr != nil {
		return fmt.Errorf("in doubt %v after %v: %w", res.InDoubt, verifyWait, werr)
	}
	return nil
}

// Heal closes the commit window and starts any participant left down.
func (a *alternateKill) Heal(ctx context.Context, sys target.System) error {
	var errs []error
	errs = append(errs, startAll(ctx, sys))
	if cw, ok := sys.(target.CommitWindow); ok {
		errs = append(errs, cw.Release(ctx, ""))
	}
	return errors.Join(errs...)
}
