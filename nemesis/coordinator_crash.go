package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/target"
)

// This file holds the faults aimed at the 2PC coordinator: its crash at
// any moment (restart-coordinator) and its crash between deciding and
// committing, after a participant went down (coordinator-crash).

func init() {
	Register("restart-coordinator", []target.Feature{target.Coordinator, target.Kill},
		func(Options) Nemesis { return &restartCoordinator{} })
	Register("coordinator-crash", []target.Feature{target.CoordinatorFailpoints, target.Kill},
		func(o Options) Nemesis { return &coordinatorCrash{opts: o} })
}

// restartCoordinator SIGKILLs the 2PC coordinator and starts it again at
// once on its data dir: what it told clients and participants before the
// crash must still hold after it, its tx_id dedup records included (a
// retry of an old tx_id gets the first outcome, never a second run).
type restartCoordinator struct{}

func (*restartCoordinator) Name() string { return "restart-coordinator" }
func (*restartCoordinator) Close() error { return nil }
func (*restartCoordinator) Op(*rand.Rand) history.Op {
	return history.Op{F: "restart-coordinator", Value: cluster.TwoPCCoordinator}
}

func (*restartCoordinator) Setup(_ context.Context, sys target.System) error {
	if err := hasNode(sys, cluster.TwoPCCoordinator); err != nil {
		return fmt.Errorf("restart-coordinator: %w", err)
	}
	return nil
}

func (*restartCoordinator) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	op.Node = cluster.TwoPCCoordinator
	if err := restart(ctx, sys, cluster.TwoPCCoordinator); err != nil {
		op.Error = err.Error()
	}
	return op
}

func (*restartCoordinator) Heal(ctx context.Context, sys target.System) error {
	return startAll(ctx, sys)
}

// coordinatorCrash crashes the coordinator in the middle of a commit, with
// one participant of the transaction down. Per round:
//
//  1. hold the coordinator after every participant of a transaction voted
//     yes and before anything is decided (coordinatorBeforeDecision), and
//     in its commit window (coordinatorBeforeCommit), until released;
//  2. once a transaction spanning two participants is held prepared,
//     SIGKILL one of them (they take turns by round);
//  3. release the first hold: the coordinator decides and reaches the
//     commit window;
//  4. SIGKILL the coordinator there, then start the participant and the
//     coordinator again;
//  5. verify only: wait a short while for in-doubt transactions to be
//     resolved and record the held transaction's effect rows.
//
// A correct coordinator has forced its commit decision before the commit
// window, so after the restart it commits on both participants, and the
// restarted participant still holds the transaction prepared. A
// coordinator that sends commits before forcing its decision
// (commit-before-decision) has committed the surviving participant and,
// restarted, presumes abort: the transaction is applied on one side only.
// A participant that forgets what it prepared (forget-prepared) aborts on
// its own what the coordinator commits. The checkers judge: txid
// (partial, lost) and bank (wrong-total).
type coordinatorCrash struct {
	opts  Options
	round int
	hc    *http.Client
}

// ccHoldWait bounds the wait for a transaction spanning two participants
// to be held prepared; under load one arrives within a second or two.
const ccHoldWait = 10 * time.Second

// ccReleaseAfter is how long holds on transactions that span only one
// participant are kept before they are released to free their locks.
const ccReleaseAfter = 400 * time.Millisecond

func (*coordinatorCrash) Name() string { return "coordinator-crash" }
func (*coordinatorCrash) Close() error { return nil }

func (c *coordinatorCrash) Setup(_ context.Context, sys target.System) error {
	tc, ok := twopcOf(sys)
	if !ok {
		return errors.New("coordinator-crash: needs chaoscheck's embedded 2PC coordinator (target twopc)")
	}
	if n := len(tc.ParticipantNames()); n < 2 {
		return fmt.Errorf("coordinator-crash: needs 2 participants, the cluster has %d", n)
	}
	c.hc = &http.Client{Timeout: 5 * time.Second}
	return nil
}

func (c *coordinatorCrash) Op(*rand.Rand) history.Op {
	c.round++
	return history.Op{F: "coordinator-crash", Value: map[string]any{"round": int64(c.round)}}
}

// ccResult is what one round saw, the completion's value.
type ccResult struct {
	round       int64
	heldTx      string
	victim      string         // the participant killed
	crashed     bool           // the coordinator was killed in its commit window
	inDoubt     []string       // participants with txs in doubt at the end of verification
	heldEffects map[string]int // effect rows of the held tx per participant
}

func (r ccResult) value() map[string]any {
	v := map[string]any{"round": r.round, "held_tx": r.heldTx, "participant": r.victim, "coordinator_crashed": r.crashed}
	if len(r.inDoubt) > 0 {
		l := make([]any, len(r.inDoubt))
		for i, p := range r.inDoubt {
			l[i] = p
		}
		v["in_doubt"] = l
	}
	if r.heldEffects != nil {
		m := map[string]any{}
		for p, n := range r.heldEffects {
			m[p] = int64(n)
		}
		v["held_tx_effects"] = m
	}
	return v
}

func (c *coordinatorCrash) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	v, _ := op.Value.(map[string]any)
	round, _ := v["round"].(int64)
	res, err := c.crash(ctx, sys, round)
	op.Value, op.Node = res.value(), res.victim
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (c *coordinatorCrash) crash(ctx context.Context, sys target.System, round int64) (ccResult, error) {
	res := ccResult{round: round}
	tc, ok := twopcOf(sys)
	if !ok {
		return res, errors.New("no embedded 2PC cluster booted")
	}
	coord := "http://" + tc.CoordinatorAPI()
	cl := tc.Client()
	hold := func(fp string) error { return failpoint.Enable(c.hc, coord, fp, `return("hold")`) }
	if err := hold(twopc.FPCoordinatorBeforeDecision); err != nil {
		return res, err
	}
	// Whatever happens next, no hold outlives the round (a crashed
	// coordinator comes back without them anyway).
	defer func() {
		for _, fp := range []string{twopc.FPCoordinatorBeforeDecision, twopc.FPCoordinatorBeforeCommit} {
			failpoint.Disable(c.hc, coord, fp)
		}
	}()

	// Held transactions keep their accounts locked, and participants refuse
	// (no-wait) any transaction touching a locked account. Transactions on
	// one participant that pile up in the hold can so lock out every
	// transfer spanning two: when holds exist but none spans two
	// participants for a while, release them (off, then on again) so they
	// finish and free their locks.
	var prepared []string // participants holding the held tx in doubt
	var heldSince time.Time
	err := cluster.WaitFor(ctx, ccHoldWait, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := cl.Status(ctx)
		if err != nil {
			return false, err
		}
		inDoubt := map[string][]string{}
		for _, p := range tc.ParticipantNames() {
			ps, err := cl.ParticipantStatus(ctx, tc.API(p))
			if err != nil {
				return false, err
			}
			inDoubt[p] = ps.InDoubt
		}
		for _, h := range st.Held {
			if h.Failpoint != twopc.FPCoordinatorBeforeDecision {
				continue
			}
			prepared = prepared[:0]
			for p, ids := range inDoubt {
				if slices.ContainsFunc(ids, func(id string) bool { return sameTx(id, h.TxID) }) {
					prepared = append(prepared, p)
				}
			}
			if len(prepared) >= 2 {
				res.heldTx = h.TxID
				return true, nil
			}
		}
		switch {
		case len(st.Held) == 0:
			heldSince = time.Time{}
		case heldSince.IsZero():
			heldSince = time.Now()
		case time.Since(heldSince) > ccReleaseAfter:
			heldSince = time.Time{}
			if err := failpoint.Disable(c.hc, coord, twopc.FPCoordinatorBeforeDecision); err != nil {
				return false, err
			}
			return false, hold(twopc.FPCoordinatorBeforeDecision)
		}
		return false, nil
	})
	if err != nil {
		return res, fmt.Errorf("no transaction spanning two participants was held prepared: %w", err)
	}
	sort.Strings(prepared)
	res.victim = prepared[int(round-1)%len(prepared)]
	if err := sys.Kill(res.victim); err != nil {
		return res, err
	}
	// The commit window before the decision hold is lifted, so the held
	// transaction cannot slip through it.
	if err := hold(twopc.FPCoordinatorBeforeCommit); err != nil {
		return res, err
	}
	if err := failpoint.Disable(c.hc, coord, twopc.FPCoordinatorBeforeDecision); err != nil {
		return res, err
	}
	err = cluster.WaitFor(ctx, ccHoldWait, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := cl.Status(ctx)
		if err != nil {
			return false, err
		}
		return slices.Contains(st.Held, twopc.Held{TxID: res.heldTx, Failpoint: twopc.FPCoordinatorBeforeCommit}), nil
	})
	if err != nil {
		return res, fmt.Errorf("held tx %s did not reach the commit window: %w", res.heldTx, err)
	}
	if err := sys.Kill(cluster.TwoPCCoordinator); err != nil {
		return res, err
	}
	res.crashed = true
	for _, n := range []string{res.victim, cluster.TwoPCCoordinator} {
		if err := sys.Start(ctx, n); err != nil {
			return res, err
		}
	}

	// Verify only: what the participants show once recovery had a
	// moment; the checkers judge the history.
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
	res.heldEffects = map[string]int{}
	for p, ob := range obs {
		if len(ob.InDoubt) > 0 {
			res.inDoubt = append(res.inDoubt, p)
		}
		res.heldEffects[p] = ob.Effects[res.heldTx]
	}
	sort.Strings(res.inDoubt)
	if werr != nil {
		return res, fmt.Errorf("in doubt on %v after %v: %w", res.inDoubt, verifyWait, werr)
	}
	return res, nil
}

// sameTx reports whether a participant's transaction id names tx: the tx_id
// itself, or an attempt of it (a coordinator with the seeded dedup bugs
// names attempts tx_id~suffix).
func sameTx(id, tx string) bool {
	return id == tx || strings.HasPrefix(id, tx+"~")
}

// Heal starts every node left down and switches the holds off.
func (c *coordinatorCrash) Heal(ctx context.Context, sys target.System) error {
	tc, ok := twopcOf(sys)
	if !ok {
		return nil
	}
	hc := c.hc
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	errs := []error{startAll(ctx, sys)}
	for _, fp := range []string{twopc.FPCoordinatorBeforeDecision, twopc.FPCoordinatorBeforeCommit} {
		errs = append(errs, failpoint.Disable(hc, "http://"+tc.CoordinatorAPI(), fp))
	}
	return errors.Join(errs...)
}
