package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

func init() {
	constructors["alternate-kill"] = func(o Options) Nemesis { return &alternateKill{opts: o} }
}

// alternateKill kills a 2PC participant inside the commit window: the
// coordinator's commit decision is durable, the participants have
// prepared, and no commit message has gone out. Rounds alternate between
// the first participant (odd rounds) and the second (even rounds). Per
// round:
//
//  1. hold the coordinator at coordinatorBeforeCommit (sleep for
//     PauseBeforeCommit) and wait until /status shows a held tx_id (the
//     workload's transfers keep arriving);
//  2. SIGKILL the participant and restart it: its prepared tx must
//     survive as in doubt;
//  3. switch the failpoint off and wait until the held tx is released;
//  4. verify only: observe every participant until no tx is in doubt, or
//     a short deadline passes, and record what was seen.
//
// The checkers, not the nemesis, judge the outcome: the held tx must end
// applied exactly once on both participants (txid) with money conserved
// (bank).
type alternateKill struct {
	opts  Options
	round int
	hc    *http.Client
}

// The deadlines of one round. holdWait covers the wait for a transfer to
// reach the commit window; verifyWait is the "short deadline" for
// in-doubt txs to resolve once the coordinator re-drives its commits.
const (
	holdWait   = 15 * time.Second
	verifyWait = 5 * time.Second
)

func (*alternateKill) Name() string { return "alternate-kill" }
func (*alternateKill) Close() error { return nil }

func (a *alternateKill) Setup(_ context.Context, t *cluster.Target) (err error) {
	a.hc, err = twoParticipantSetup("alternate-kill", t)
	return err
}

// twoParticipantSetup checks that t has a 2PC cluster with at least two
// participants, as the commit-window nemeses need, and returns the HTTP
// client they drive its failpoints with.
func twoParticipantSetup(name string, t *cluster.Target) (*http.Client, error) {
	if t.TwoPC == nil {
		return nil, fmt.Errorf("%s: needs a 2PC cluster", name)
	}
	if n := len(t.TwoPC.ParticipantNames()); n < 2 {
		return nil, fmt.Errorf("%s: needs 2 participants, the cluster has %d", name, n)
	}
	return &http.Client{Timeout: 5 * time.Second}, nil
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

func (a *alternateKill) Invoke(ctx context.Context, t *cluster.Target, op history.Op) history.Op {
	res, err := a.round1(ctx, t, op)
	op.Value, op.Node = res.value(), res.Participant
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (a *alternateKill) round1(ctx context.Context, t *cluster.Target, op history.Op) (akResult, error) {
	v, _ := op.Value.(map[string]any)
	round, _ := v["round"].(int64)
	which, _ := v["participant"].(int64)
	res := akResult{Round: round}
	tc := t.TwoPC
	if tc == nil {
		return res, errors.New("no 2PC cluster booted")
	}
	names := tc.ParticipantNames()
	if which < 1 || int(which) > len(names) {
		return res, fmt.Errorf("participant %d of %d", which, len(names))
	}
	res.Participant = names[which-1]
	coord := "http://" + tc.CoordinatorAPI()
	status := tc.Client()

	terms := fmt.Sprintf("sleep(%d)", a.opts.PauseBeforeCommit.Milliseconds())
	if err := failpoint.Enable(a.hc, coord, twopc.FPCoordinatorBeforeCommit, terms); err != nil {
		return res, err
	}
	// Whatever happens next, the commit window closes again.
	disabled := false
	disable := func() error {
		if disabled {
			return nil
		}
		disabled = true
		return failpoint.Disable(a.hc, coord, twopc.FPCoordinatorBeforeCommit)
	}
	defer disable()

	err := cluster.WaitFor(ctx, holdWait, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := status.Status(ctx)
		if err != nil {
			return false, err
		}
		res.HeldTx = st.PausedTxID
		return st.PausedTxID != "", nil
	})
	if err != nil {
		return res, fmt.Errorf("no tx reached the commit window: %w", err)
	}

	p := tc.Participant(res.Participant)
	if err := p.Kill(); err != nil {
		return res, err
	}
	if err := p.Start(); err != nil {
		return res, err
	}
	if err := tc.WaitUp(ctx, res.Participant, upTimeout); err != nil {
		return res, err
	}
	if err := disable(); err != nil {
		return res, err
	}

	// The held tx leaves the window when its sleep ends.
	err = cluster.WaitFor(ctx, a.opts.PauseBeforeCommit+holdWait, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := status.Status(ctx)
		if err != nil {
			return false, err
		}
		for _, h := range st.Held {
			if h.TxID == res.HeldTx {
				return false, nil
			}
		}
		return st.PausedTxID != res.HeldTx, nil
	})
	if err != nil {
		return res, fmt.Errorf("held tx %s not released: %w", res.HeldTx, err)
	}
	res.Released = true

	// Verify only: record what the participants show; a tx still in doubt
	// after verifyWait is noted, and the checkers judge the history.
	var obs map[string]twopc.Observation
	werr := cluster.WaitFor(ctx, verifyWait, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		o, err := tc.Observe(ctx)
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
		return res, fmt.Errorf("in doubt %v after %v: %w", res.InDoubt, verifyWait, werr)
	}
	return res, nil
}

// Heal switches the failpoint off and starts any participant left down.
func (a *alternateKill) Heal(ctx context.Context, t *cluster.Target) error {
	if t.TwoPC == nil {
		return nil
	}
	hc := a.hc
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	var errs []error
	if err := startAll(ctx, t); err != nil {
		errs = append(errs, err)
	}
	if err := failpoint.Disable(hc, "http://"+t.TwoPC.CoordinatorAPI(), twopc.FPCoordinatorBeforeCommit); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
