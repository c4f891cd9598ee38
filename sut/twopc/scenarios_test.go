package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// Each scenario drives a running cluster and returns the first violation
// of the protocol's guarantees it observes, or nil. Harness trouble (a
// node that does not come up, a wait that times out) fails the test
// instead. The tests below run each scenario against the correct system
// and demand nil; TestSeededBugsAreCaught runs them against seeded bugs
// and demands a violation, which shows each scenario would catch the bug.

const coord = cluster.TwoPCCoordinator

// alternateKill is the mission's scenario 2: for each round, hold the
// coordinator in the commit window, kill -9 participant p1 (odd rounds)
// or p2 (even rounds), restart it, release the hold, then verify.
// Odd rounds hold with sleep(2500), as a time-boxed nemesis does; even
// rounds with return("hold") and an explicit release. The sleep is long
// enough that the poll for paused_tx_id cannot miss it on a loaded machine.
func alternateKill(t *testing.T, c *cluster.TwoPCCluster, rounds int) error {
	cl := c.Client()
	committed := map[string]int64{}
	for round := 1; round <= rounds; round++ {
		txID := fmt.Sprintf("alt-%d", round)
		victim, terms := "p1", "sleep(2500)"
		if round%2 == 0 {
			victim, terms = "p2", `return("hold")`
		}
		enable(t, c, coord, twopc.FPCoordinatorBeforeCommit, terms)
		res := submitAsync(cl, transfer(txID, int64(round)))
		waitHeld(t, c, txID, twopc.FPCoordinatorBeforeCommit)
		if st := participantStatus(t, c, victim); !slices.Contains(st.InDoubt, txID) {
			return fmt.Errorf("round %d: %s should hold %s prepared in the commit window; in doubt: %v", round, victim, txID, st.InDoubt)
		}
		restart(t, c, victim)
		disable(t, c, coord, twopc.FPCoordinatorBeforeCommit) // release; a sleep ends on its own
		r := await(t, res)
		if r.err != nil || r.out.Outcome != twopc.Committed || r.out.Duplicate {
			return fmt.Errorf("round %d: submit %s = %+v, %v; want committed (first attempt)", round, txID, r.out, r.err)
		}
		committed[txID] = int64(round)
		if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
			return fmt.Errorf("round %d: cluster not healthy after %s restarted: %w", round, victim, err)
		}
		if err := checkApplied(observe(t, c), committed, nil); err != nil {
			return fmt.Errorf("round %d (killed %s): %w", round, victim, err)
		}
	}
	return nil
}

// retrySequential submits the same tx several times in a row: one
// application, the first outcome every time.
func retrySequential(t *testing.T, c *cluster.TwoPCCluster, txID string, amount int64) error {
	for i := range 3 {
		out, err := c.Client().Submit(context.Background(), transfer(txID, amount))
		if err != nil {
			t.Fatalf("submit %s #%d: %v", txID, i+1, err)
		}
		if out.Outcome != twopc.Committed || out.Duplicate != (i > 0) {
			return fmt.Errorf("submit %s #%d = %+v; want committed, duplicate=%v", txID, i+1, out, i > 0)
		}
	}
	return nil
}

// retryAfterTimeout is the mission's scenario 3: the client times out
// while the tx is held in the commit window (an indeterminate error), then
// retries with the same tx_id — eight times at once while the first
// attempt is still in flight. Every retry gets the first outcome.
func retryAfterTimeout(t *testing.T, c *cluster.TwoPCCluster, txID string, amount int64) error {
	enable(t, c, coord, twopc.FPCoordinatorBeforeCommit, `return("hold")`)
	short := twopc.NewClient(c.CoordinatorAPI(), 300*time.Millisecond)
	if _, err := short.Submit(context.Background(), transfer(txID, amount)); err == nil || !twopc.IsIndeterminate(err) {
		return fmt.Errorf("submit %s with a 300ms timeout while held: err %v; want an indeterminate error", txID, err)
	}
	waitHeld(t, c, txID, twopc.FPCoordinatorBeforeCommit)
	const n = 8
	var retries []<-chan submitted
	for range n {
		retries = append(retries, submitAsync(c.Client(), transfer(txID, amount)))
	}
	waitFor(t, fmt.Sprintf("%d retries waiting on the first attempt", n), func(ctx context.Context) (bool, error) {
		st, err := c.Client().Status(ctx)
		return err == nil && st.Waiting == n, err
	})
	disable(t, c, coord, twopc.FPCoordinatorBeforeCommit)
	for i, ch := range retries {
		r := await(t, ch)
		if r.err != nil || r.out.Outcome != twopc.Committed || !r.out.Duplicate {
			return fmt.Errorf("retry %d of %s = %+v, %v; want committed, duplicate", i, txID, r.out, r.err)
		}
	}
	return nil
}

// retryConcurrent submits a new tx from eight goroutines at once: it runs
// once, one answer is the first attempt's, the others duplicates.
func retryConcurrent(t *testing.T, c *cluster.TwoPCCluster, txID string, amount int64) error {
	const n = 8
	start := make(chan struct{})
	results := make([]submitted, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out, err := c.Client().Submit(context.Background(), transfer(txID, amount))
			results[i] = submitted{out, err}
		})
	}
	close(start)
	wg.Wait()
	firsts := 0
	for i, r := range results {
		if r.err != nil || r.out.Outcome != twopc.Committed {
			return fmt.Errorf("concurrent submit %d of %s = %+v, %v; want committed", i, txID, r.out, r.err)
		}
		if !r.out.Duplicate {
			firsts++
		}
	}
	if firsts != 1 {
		return fmt.Errorf("%d of %d concurrent submits of %s ran it (duplicate=false); want 1", firsts, n, txID)
	}
	return nil
}

// retryAfterCoordinatorRestart kills -9 and restarts the coordinator, then
// resubmits every tx: the durable dedup record gives the first outcome.
func retryAfterCoordinatorRestart(t *testing.T, c *cluster.TwoPCCluster, txs map[string]int64) error {
	restart(t, c, coord)
	for _, id := range sortedIDs(txs) {
		out, err := c.Client().Submit(context.Background(), transfer(id, txs[id]))
		if err != nil {
			t.Fatalf("resubmit %s after the coordinator restarted: %v", id, err)
		}
		if out.Outcome != twopc.Committed || !out.Duplicate {
			return fmt.Errorf("resubmit %s after the coordinator restarted = %+v; want committed, duplicate", id, out)
		}
	}
	return nil
}

// reuseWithOtherOps submits txID with a different amount: refused with
// 409, a definite error.
func reuseWithOtherOps(t *testing.T, c *cluster.TwoPCCluster, txID string, amount int64) error {
	_, err := c.Client().Submit(context.Background(), transfer(txID, amount+1))
	if !errors.Is(err, twopc.ErrConflict) || twopc.IsIndeterminate(err) {
		return fmt.Errorf("submit %s with other ops: err %v; want ErrConflict (409)", txID, err)
	}
	return nil
}

// killInCommitWindow kills -9 the coordinator while it holds a tx whose
// commit decision is durable, before any commit message: after the
// restart the tx commits on every participant and a retry says committed.
func killInCommitWindow(t *testing.T, c *cluster.TwoPCCluster) error {
	const txID = "win-1"
	enable(t, c, coord, twopc.FPCoordinatorBeforeCommit, `return("hold")`)
	res := submitAsync(c.Client(), transfer(txID, 10))
	waitHeld(t, c, txID, twopc.FPCoordinatorBeforeCommit)
	restart(t, c, coord)
	if r := await(t, res); r.err == nil || !twopc.IsIndeterminate(r.err) {
		return fmt.Errorf("submit cut off by the coordinator's crash = %+v, %v; want an indeterminate error", r.out, r.err)
	}
	if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
		return fmt.Errorf("not healthy after the coordinator restarted: %w", err)
	}
	out, err := c.Client().Submit(context.Background(), transfer(txID, 10))
	if err != nil || out.Outcome != twopc.Committed || !out.Duplicate {
		return fmt.Errorf("retry of %s after the restart = %+v, %v; want committed, duplicate", txID, out, err)
	}
	if d, err := c.Client().Decision(context.Background(), txID); err != nil || d != twopc.Committed {
		return fmt.Errorf("decision of %s = %q, %v; want committed", txID, d, err)
	}
	return checkApplied(observe(t, c), map[string]int64{txID: 10}, nil)
}

// killBeforeDecision kills -9 the coordinator while every participant has
// the tx prepared and nothing is decided: presumed abort. After the
// restart it is aborted everywhere, a retry says aborted, and a late
// prepare is refused, so no participant can ever commit it.
func killBeforeDecision(t *testing.T, c *cluster.TwoPCCluster) error {
	const txID = "pre-1"
	enable(t, c, coord, twopc.FPCoordinatorBeforeDecision, `return("hold")`)
	res := submitAsync(c.Client(), transfer(txID, 10))
	waitHeld(t, c, txID, twopc.FPCoordinatorBeforeDecision)
	for _, p := range []string{"p1", "p2"} {
		if st := participantStatus(t, c, p); !slices.Contains(st.InDoubt, txID) {
			return fmt.Errorf("%s should hold %s prepared before the decision; in doubt: %v", p, txID, st.InDoubt)
		}
	}
	restart(t, c, coord)
	if r := await(t, res); r.err == nil || !twopc.IsIndeterminate(r.err) {
		return fmt.Errorf("submit cut off by the coordinator's crash = %+v, %v; want an indeterminate error", r.out, r.err)
	}
	if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
		return fmt.Errorf("not healthy after the coordinator restarted: %w", err)
	}
	out, err := c.Client().Submit(context.Background(), transfer(txID, 10))
	if err != nil || out.Outcome != twopc.Aborted || !out.Duplicate {
		return fmt.Errorf("retry of %s after the restart = %+v, %v; want aborted, duplicate", txID, out, err)
	}
	if d, err := c.Client().Decision(context.Background(), txID); err != nil || d != twopc.Aborted {
		return fmt.Errorf("decision of %s = %q, %v; want aborted", txID, d, err)
	}
	var vote twopc.PrepareResponse
	postParticipant(t, c, "p1", "/prepare", twopc.PrepareRequest{TxID: txID, Ops: []twopc.Op{{Account: "a1", Delta: -10}}}, &vote)
	if vote.Vote != twopc.VoteNo {
		return fmt.Errorf("late prepare of aborted %s at p1 voted %+v; want no", txID, vote)
	}
	return checkApplied(observe(t, c), nil, []string{txID})
}

// participantRestartInDoubt kills -9 a participant holding a prepared tx:
// after the restart the tx is still in doubt and keeps its lock; once the
// coordinator has decided, the participant learns the decision by asking
// (no commit message has gone out) and commits.
func participantRestartInDoubt(t *testing.T, c *cluster.TwoPCCluster) error {
	const txID = "pr-1"
	enable(t, c, coord, twopc.FPCoordinatorBeforeDecision, `return("hold")`)
	res := submitAsync(c.Client(), transfer(txID, 10))
	waitHeld(t, c, txID, twopc.FPCoordinatorBeforeDecision)
	restart(t, c, "p1")
	if st := participantStatus(t, c, "p1"); !slices.Equal(st.InDoubt, []string{txID}) {
		return fmt.Errorf("after its restart p1 has in doubt %v; want [%s] (prepared state must be durable)", st.InDoubt, txID)
	}
	var vote twopc.PrepareResponse
	postParticipant(t, c, "p1", "/prepare", twopc.PrepareRequest{TxID: "pr-probe", Ops: []twopc.Op{{Account: "a1", Delta: -1}}}, &vote)
	if vote.Vote != twopc.VoteNo || !strings.Contains(vote.Reason, "locked") {
		return fmt.Errorf("prepare of another tx on p1/a1 while %s is in doubt voted %+v; want no, locked", txID, vote)
	}
	postParticipant(t, c, "p1", "/abort", twopc.AbortRequest{TxID: "pr-probe"}, nil)

	enable(t, c, coord, twopc.FPCoordinatorBeforeCommit, `return("hold")`)
	disable(t, c, coord, twopc.FPCoordinatorBeforeDecision)
	waitHeld(t, c, txID, twopc.FPCoordinatorBeforeCommit)
	waitFor(t, "p1 to resolve "+txID+" from the coordinator's decision", func(ctx context.Context) (bool, error) {
		o, err := c.Client().Observe(ctx, c.API("p1"))
		return err == nil && o.Effects[txID] == 1, err
	})
	if st, err := c.Client().Status(context.Background()); err != nil || st.PausedTxID != txID {
		return fmt.Errorf("coordinator status %+v, %v: %s should still be held before any commit message", st, err, txID)
	}
	disable(t, c, coord, twopc.FPCoordinatorBeforeCommit)
	if r := await(t, res); r.err != nil || r.out.Outcome != twopc.Committed {
		return fmt.Errorf("submit %s = %+v, %v; want committed", txID, r.out, r.err)
	}
	if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
		return err
	}
	return checkApplied(observe(t, c), map[string]int64{txID: 10}, []string{"pr-probe"})
}

// abortAppliesNowhere submits a tx that p2 must refuse (insufficient
// funds): aborted, and applied on no participant.
func abortAppliesNowhere(t *testing.T, c *cluster.TwoPCCluster) error {
	const txID = "ab-1"
	tx := twopc.Txn{TxID: txID, Ops: map[string][]twopc.Op{
		"p1": {{Account: "a1", Delta: 5}},
		"p2": {{Account: "a1", Delta: -(initialBalance + 1)}},
	}}
	out, err := c.Client().Submit(context.Background(), tx)
	if err != nil {
		t.Fatalf("submit %s: %v", txID, err)
	}
	if out.Outcome != twopc.Aborted || !strings.Contains(out.Reason, "insufficient funds") {
		return fmt.Errorf("submit %s = %+v; want aborted for insufficient funds", txID, out)
	}
	if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
		return err
	}
	return checkApplied(observe(t, c), nil, []string{txID})
}

func sortedIDs(m map[string]int64) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// participantCrashAfterPrepare crashes p1 (a panic term) right after it
// recorded the tx PREPARED and before it voted: the coordinator sees no
// vote and aborts; the restarted p1 finds the tx in doubt and learns
// "aborted" from the coordinator.
func participantCrashAfterPrepare(t *testing.T, c *cluster.TwoPCCluster) error {
	const txID = "crash-1"
	enable(t, c, "p1", twopc.FPParticipantAfterPrepare, "panic")
	exited, _ := c.Participant("p1").Exited()
	out, err := c.Client().Submit(context.Background(), transfer(txID, 10))
	if err != nil {
		t.Fatalf("submit %s: %v", txID, err)
	}
	if out.Outcome != twopc.Aborted || !strings.Contains(out.Reason, "prepare at p1 failed") {
		return fmt.Errorf("submit %s with p1 crashing after prepare = %+v; want aborted", txID, out)
	}
	select {
	case <-exited:
	case <-time.After(waitShort):
		t.Fatalf("p1 did not exit on the panic failpoint")
	}
	if err := c.Start("p1"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(context.Background(), waitShort); err != nil {
		return fmt.Errorf("in-doubt %s not resolved after p1 restarted: %w", txID, err)
	}
	if st := participantStatus(t, c, "p1"); st.Aborted != 1 {
		return fmt.Errorf("p1 status %+v; want %s resolved to aborted", st, txID)
	}
	return checkApplied(observe(t, c), nil, []string{txID})
}
