package twopc_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

func TestPrepareCommitAlternateKill(t *testing.T) {
	c := startCluster(t)
	if err := alternateKill(t, c, 4); err != nil {
		t.Fatal(err)
	}
}

func TestIdempotentRetryDoesNotDoubleApply(t *testing.T) {
	c := startCluster(t)
	committed := map[string]int64{}
	step := func(name string, amount int64, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if amount > 0 {
			committed[name] = amount
		}
		if err := checkApplied(observe(t, c), committed, nil); err != nil {
			t.Fatalf("after %s: %v", name, err)
		}
	}
	step("idem-seq", 7, retrySequential(t, c, "idem-seq", 7))
	step("idem-timeout", 8, retryAfterTimeout(t, c, "idem-timeout", 8))
	step("idem-conc", 9, retryConcurrent(t, c, "idem-conc", 9))
	step("reuse of idem-seq", 0, reuseWithOtherOps(t, c, "idem-seq", 7))
	step("coordinator restart", 0, retryAfterCoordinatorRestart(t, c, committed))
	step("reuse of idem-conc after the restart", 0, reuseWithOtherOps(t, c, "idem-conc", 9))
}

func TestCoordinatorKilledInCommitWindowStillCommits(t *testing.T) {
	if err := killInCommitWindow(t, startCluster(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCoordinatorKilledBeforeDecisionAborts(t *testing.T) {
	if err := killBeforeDecision(t, startCluster(t)); err != nil {
		t.Fatal(err)
	}
}

func TestParticipantRestartKeepsPreparedTxInDoubt(t *testing.T) {
	if err := participantRestartInDoubt(t, startCluster(t)); err != nil {
		t.Fatal(err)
	}
}

func TestParticipantCrashAfterPrepareAborts(t *testing.T) {
	if err := participantCrashAfterPrepare(t, startCluster(t)); err != nil {
		t.Fatal(err)
	}
}

func TestAbortedTxAppliesNowhere(t *testing.T) {
	if err := abortAppliesNowhere(t, startCluster(t)); err != nil {
		t.Fatal(err)
	}
}

// TestReadBalancesSeesConsistentSnapshot runs transfers both ways while
// reading balances through the coordinator: every read that succeeds sums
// to the total (the bank checker's demand), and a read is refused while a
// tx is held prepared in the commit window.
func TestReadBalancesSeesConsistentSnapshot(t *testing.T) {
	c := startCluster(t)
	cl := c.Client()
	ctx := context.Background()
	const total = 2 * initialBalance

	enable(t, c, coord, twopc.FPCoordinatorBeforeCommit, `return("hold")`)
	held := submitAsync(cl, transfer("rb-held", 1))
	waitHeld(t, c, "rb-held", twopc.FPCoordinatorBeforeCommit)
	if _, err := cl.ReadBalances(ctx); !errors.Is(err, twopc.ErrReadLocked) {
		t.Fatalf("read-balances while rb-held is prepared: err %v; want ErrReadLocked", err)
	}
	disable(t, c, coord, twopc.FPCoordinatorBeforeCommit)
	if r := await(t, held); r.err != nil || r.out.Outcome != twopc.Committed {
		t.Fatalf("submit rb-held = %+v, %v", r.out, r.err)
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		bad      []string
		reads    int
		writing  = make(chan struct{})
		outcomes = map[string]int{}
	)
	for w := range 3 {
		wg.Go(func() {
			for i := range 20 {
				amount := int64(i%5 + 1)
				if (w+i)%2 == 1 {
					amount = -amount // p2 → p1
				}
				out, err := cl.Submit(ctx, transfer(fmt.Sprintf("rb-%d-%d", w, i), amount))
				mu.Lock()
				if err != nil {
					bad = append(bad, fmt.Sprintf("transfer: %v", err))
				} else {
					outcomes[out.Outcome]++
				}
				mu.Unlock()
			}
		})
	}
	var rg sync.WaitGroup
	for range 2 {
		rg.Go(func() {
			for {
				select {
				case <-writing:
					return
				default:
				}
				b, err := cl.ReadBalances(ctx)
				mu.Lock()
				switch {
				case err == nil && b["p1/a1"]+b["p2/a1"] != total:
					bad = append(bad, fmt.Sprintf("read %v sums to %d, want %d", b, b["p1/a1"]+b["p2/a1"], total))
				case err == nil:
					reads++
				case !errors.Is(err, twopc.ErrReadLocked):
					bad = append(bad, fmt.Sprintf("read: %v", err))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(writing)
	rg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d problems, first: %v", len(bad), bad[0])
	}
	if outcomes[twopc.Committed] == 0 {
		t.Fatalf("no transfer committed: %v", outcomes)
	}
	b, err := cl.ReadBalances(ctx)
	if err != nil || b["p1/a1"]+b["p2/a1"] != total {
		t.Fatalf("final read-balances = %v, %v; want a sum of %d", b, err, total)
	}
	t.Logf("transfers %v, consistent reads during the run: %d", outcomes, reads)
}

// TestSeededBugsAreCaught runs, for each seeded bug, the scenario that
// must catch it, against a cluster with the bug on: the scenario has to
// report a violation.
func TestSeededBugsAreCaught(t *testing.T) {
	cases := []struct {
		name, bug string
		scenario  func(*testing.T, *cluster.TwoPCCluster) error
	}{
		{"no-dedup/retry", twopc.BugNoDedup, func(t *testing.T, c *cluster.TwoPCCluster) error {
			return retrySequential(t, c, "bug-seq", 5)
		}},
		{"memory-dedup/retry-after-restart", twopc.BugMemoryDedup, func(t *testing.T, c *cluster.TwoPCCluster) error {
			if err := retrySequential(t, c, "bug-seq", 5); err != nil {
				t.Fatalf("in-memory dedup should hold until a restart: %v", err)
			}
			return retryAfterCoordinatorRestart(t, c, map[string]int64{"bug-seq": 5})
		}},
		{"memory-dedup/kill-before-decision", twopc.BugMemoryDedup, killBeforeDecision},
		{"forget-prepared/participant-restart", twopc.BugForgetPrepared, participantRestartInDoubt},
		{"commit-before-decision/kill-in-commit-window", twopc.BugCommitBeforeDecision, killInCommitWindow},
		{"one-phase/abort", twopc.BugOnePhase, abortAppliesNowhere},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, "--sut-bug", tc.bug)
			err := tc.scenario(t, c)
			if err == nil {
				t.Fatalf("seeded bug %s went unnoticed", tc.bug)
			}
			t.Logf("caught: %v", err)
		})
	}
}
