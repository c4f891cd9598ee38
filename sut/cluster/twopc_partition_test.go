package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// startPartitionableTwoPC starts p1, p2 and the coordinator with every
// coordinator ↔ participant link through a new faultnet.Net. Participants
// ask about in-doubt txs after 300 ms. Cleanup stops the nodes, checks
// that none is left and closes the Net.
func startPartitionableTwoPC(t *testing.T, bugs ...string) (*TwoPCCluster, *faultnet.Net, context.Context) {
	t.Helper()
	fn := faultnet.New(nil)
	t.Cleanup(func() {
		if err := fn.Close(); err != nil {
			t.Errorf("close faultnet: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	var args []string
	for _, b := range bugs {
		args = append(args, "--sut-bug", b)
	}
	c, err := StartTwoPC(ctx, TwoPCConfig{Dir: t.TempDir(), Via: fn.Via, ResolveAfter: 300 * time.Millisecond, ExtraArgs: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if left := c.Leftovers(); len(left) > 0 {
			t.Errorf("2PC processes left after Stop: %v", left)
		}
	})
	return c, fn, ctx
}

func transfer(id, from, to string, amount int64) twopc.Txn {
	tx := twopc.Txn{TxID: id, Ops: map[string][]twopc.Op{}}
	fp, fa, _ := strings.Cut(from, "/")
	tp, ta, _ := strings.Cut(to, "/")
	tx.Ops[fp] = append(tx.Ops[fp], twopc.Op{Account: fa, Delta: -amount})
	tx.Ops[tp] = append(tx.Ops[tp], twopc.Op{Account: ta, Delta: amount})
	return tx
}

// commitWindowPartition holds t1 (p1 → p2) in the commit window, cuts the
// coordinator from p2, releases t1 and runs two more transactions while
// the cut lasts (t2 needs p2 and aborts, t3 stays on p1 and commits).
// The cut is still on when it returns.
func commitWindowPartition(t *testing.T, c *TwoPCCluster, fn *faultnet.Net, ctx context.Context) {
	t.Helper()
	cl := c.Client()
	if err := cl.EnableFailpoint(c.CoordinatorAPI(), twopc.FPCoordinatorBeforeCommit, `return("hold")`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.DisableFailpoint(c.CoordinatorAPI(), twopc.FPCoordinatorBeforeCommit) })
	t1 := make(chan error, 1)
	go func() {
		out, err := cl.Submit(ctx, transfer("t1", "p1/a1", "p2/a1", 5))
		if err == nil && out.Outcome != twopc.Committed {
			err = fmt.Errorf("outcome %s: %s", out.Outcome, out.Reason)
		}
		t1 <- err
	}()
	// t1 ending first (aborted, failed) is reported as what it was, not
	// as a wait that timed out.
	ended := false
	var endErr error
	if err := WaitFor(ctx, 15*time.Second, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case endErr = <-t1:
			ended = true
			return true, nil
		default:
		}
		st, err := cl.Status(ctx)
		return err == nil && st.PausedTxID == "t1", err
	}); err != nil {
		t.Fatalf("t1 never reached the commit window: %v", err)
	}
	if ended {
		t.Fatalf("t1 ended before the commit window (want it held there): %v", endErr)
	}

	fn.Partition(faultnet.Cut(TwoPCCoordinator, "p2"))
	if err := cl.DisableFailpoint(c.CoordinatorAPI(), twopc.FPCoordinatorBeforeCommit); err != nil {
		t.Fatal(err)
	}
	if err := <-t1; err != nil {
		t.Fatalf("t1, decided before the cut: %v; want committed", err)
	}
	obs, err := c.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if obs["p1"].Effects["t1"] != 1 || !slices.Contains(obs["p2"].InDoubt, "t1") {
		t.Fatalf("t1 released into the cut: p1 effects of t1 %d, p2 in doubt %v; want t1 applied at p1 and in doubt at p2",
			obs["p1"].Effects["t1"], obs["p2"].InDoubt)
	}
	// In the window: a transfer that needs p2 cannot prepare there and
	// aborts; one that stays on p1 commits.
	for _, w := range []struct {
		tx   twopc.Txn
		want string
	}{
		{transfer("t2", "p1/a2", "p2/a2", 3), twopc.Aborted},
		{transfer("t3", "p1/a3", "p1/a2", 1), twopc.Committed},
	} {
		out, err := cl.Submit(ctx, w.tx)
		if err != nil || out.Outcome != w.want {
			t.Fatalf("%s during the cut: %+v, %v; want %s", w.tx.TxID, out, err, w.want)
		}
	}
}

// inDoubtAt reports whether tx is in doubt at participant p.
func inDoubtAt(ctx context.Context, c *TwoPCCluster, p, tx string) (bool, error) {
	st, err := c.Client().ParticipantStatus(ctx, c.API(p))
	return slices.Contains(st.InDoubt, tx), err
}

func totalBalance(obs map[string]twopc.Observation) int64 {
	var sum int64
	for _, o := range obs {
		for _, b := range o.Balances {
			sum += b
		}
	}
	return sum
}

func TestCoordinatorCutFromParticipantInCommitWindowResolvesAfterHeal(t *testing.T) {
	c, fn, ctx := startPartitionableTwoPC(t)
	commitWindowPartition(t, c, fn, ctx)

	// p2 asks the coordinator about t1 and hears nothing: wait until a
	// second question has gone out, i.e. the first has failed (the moment a
	// participant with unilateral-abort gives up), and check it still waits.
	var first int64
	if err := WaitFor(ctx, 20*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		d := fn.Counts("p2", TwoPCCoordinator).Dropped
		if first == 0 {
			first = d
		}
		if in, err := inDoubtAt(ctx, c, "p2", "t1"); err != nil || !in {
			t.Fatalf("p2 cut from the coordinator: t1 in doubt %v (%v); a prepared participant must wait for the decision", in, err)
		}
		return first > 0 && d > first, nil
	}); err != nil {
		t.Fatalf("p2 did not ask the coordinator twice across the cut: %v", err)
	}

	fn.Heal()
	if err := c.WaitHealthy(ctx, 30*time.Second); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	obs, err := c.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{"p1": {"t1": 1, "t3": 1}, "p2": {"t1": 1}}
	for p, o := range obs {
		for tx, n := range o.Effects {
			if n != want[p][tx] {
				t.Errorf("%s applied %s %d times, want %d", p, tx, n, want[p][tx])
			}
		}
		for tx, n := range want[p] {
			if o.Effects[tx] != n {
				t.Errorf("%s applied %s %d times, want %d", p, tx, o.Effects[tx], n)
			}
		}
	}
	if sum := totalBalance(obs); sum != 600 {
		t.Errorf("total balance %d after heal, want 600", sum)
	}
}

// The seeded bug unilateral-abort: p2, prepared for t1 and unable to reach
// the coordinator, aborts on its own although t1 committed; p1 applied
// it. After the heal the coordinator can never complete it.
func TestUnilateralAbortLeavesCommittedTxPartiallyApplied(t *testing.T) {
	c, fn, ctx := startPartitionableTwoPC(t, twopc.BugUnilateralAbort)
	commitWindowPartition(t, c, fn, ctx)
	if err := WaitFor(ctx, 20*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		in, err := inDoubtAt(ctx, c, "p2", "t1")
		return err == nil && !in, err
	}); err != nil {
		t.Fatalf("p2 with unilateral-abort kept t1 in doubt: %v", err)
	}
	fn.Heal()
	dec, err := c.Client().Decision(ctx, "t1")
	if err != nil || dec != twopc.Committed {
		t.Fatalf("coordinator's decision on t1: %q, %v; want committed", dec, err)
	}
	obs, err := c.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if obs["p1"].Effects["t1"] != 1 || obs["p2"].Effects["t1"] != 0 {
		t.Fatalf("t1 effects p1=%d p2=%d; want the partial application 1/0", obs["p1"].Effects["t1"], obs["p2"].Effects["t1"])
	}
	if sum := totalBalance(obs); sum == 600 {
		t.Fatalf("total balance still 600: the partial commit should have destroyed money")
	}
	if err := c.WaitHealthy(ctx, 3*time.Second); err == nil {
		t.Fatal("cluster healthy after a unilateral abort of a committed tx; the coordinator should be stuck re-driving it")
	}
}
