package twopc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// TestMain builds the chaoscheck binary the integration tests start nodes
// from.
func TestMain(m *testing.M) {
	_, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Waits are on conditions; these bound them.
const (
	waitShort = 15 * time.Second
	poll      = 10 * time.Millisecond
)

const initialBalance = 1000

// startCluster boots a coordinator and participants p1, p2, each with
// account a1 holding initialBalance. Live participants leave prepared txs
// to the coordinator for 30s, so a tx held in a window stays in doubt
// however slow the machine; restarted ones still ask at once. Cleanup stops every node, checks that
// no node process is left, and on failure logs the nodes' logs.
func startCluster(t *testing.T, extraArgs ...string) *cluster.TwoPCCluster {
	t.Helper()
	dir := t.TempDir()
	c, err := cluster.StartTwoPC(context.Background(), cluster.TwoPCConfig{
		Dir:          dir,
		Participants: []string{"p1", "p2"},
		Accounts:     map[string]int64{"p1/a1": initialBalance, "p2/a1": initialBalance},
		ResolveAfter: 30 * time.Second,
		ExtraArgs:    extraArgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Release any hold a scenario left behind, so the coordinator stops
		// at once instead of waiting out a held request.
		for _, fp := range []string{twopc.FPCoordinatorBeforeDecision, twopc.FPCoordinatorAfterDecision, twopc.FPCoordinatorBeforeCommit} {
			_ = c.Client().DisableFailpoint(c.CoordinatorAPI(), fp)
		}
		if t.Failed() {
			for _, n := range c.Nodes() {
				t.Logf("%s node.log (tail):\n%s", n, c.LogTail(n, 30))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
		for _, n := range c.Nodes() {
			if c.Node(n).Running() {
				t.Errorf("node %s still running after Stop", n)
			}
		}
		if left := c.Leftovers(); len(left) > 0 {
			t.Errorf("node processes left after Stop: pids %v", left)
		}
	})
	return c
}

// transfer moves amount from p1/a1 to p2/a1.
func transfer(txID string, amount int64) twopc.Txn {
	return twopc.Txn{TxID: txID, Ops: map[string][]twopc.Op{
		"p1": {{Account: "a1", Delta: -amount}},
		"p2": {{Account: "a1", Delta: amount}},
	}}
}

// submitted is the result of a Submit run in the background.
type submitted struct {
	out twopc.Outcome
	err error
}

// submitAsync runs Submit in a goroutine; the channel gets its result.
func submitAsync(cl *twopc.Client, tx twopc.Txn) <-chan submitted {
	ch := make(chan submitted, 1)
	go func() {
		out, err := cl.Submit(context.Background(), tx)
		ch <- submitted{out, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan submitted) submitted {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitShort):
		t.Fatalf("submit did not return within %v", waitShort)
		return submitted{}
	}
}

// waitFor fails the test when cond does not hold within waitShort.
func waitFor(t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := cluster.WaitFor(context.Background(), waitShort, poll, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitHeld waits until the coordinator holds txID at failpoint fp.
func waitHeld(t *testing.T, c *cluster.TwoPCCluster, txID, fp string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s held at %s", txID, fp), func(ctx context.Context) (bool, error) {
		st, err := c.Client().Status(ctx)
		if err != nil {
			return false, err
		}
		if fp == twopc.FPCoordinatorBeforeCommit && st.PausedTxID != txID {
			return false, fmt.Errorf("paused_tx_id %q", st.PausedTxID)
		}
		return slices.Contains(st.Held, twopc.Held{TxID: txID, Failpoint: fp}), fmt.Errorf("held %v", st.Held)
	})
}

func enable(t *testing.T, c *cluster.TwoPCCluster, node, fp, terms string) {
	t.Helper()
	if err := c.Client().EnableFailpoint(c.API(node), fp, terms); err != nil {
		t.Fatal(err)
	}
}

func disable(t *testing.T, c *cluster.TwoPCCluster, node, fp string) {
	t.Helper()
	if err := c.Client().DisableFailpoint(c.API(node), fp); err != nil {
		t.Fatal(err)
	}
}

// restart kills a node with SIGKILL, starts it on the same data and waits
// until it answers.
func restart(t *testing.T, c *cluster.TwoPCCluster, node string) {
	t.Helper()
	if err := c.Kill(node); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(node); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitUp(context.Background(), node, waitShort); err != nil {
		t.Fatal(err)
	}
}

func observe(t *testing.T, c *cluster.TwoPCCluster) map[string]twopc.Observation {
	t.Helper()
	obs, err := c.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

func participantStatus(t *testing.T, c *cluster.TwoPCCluster, p string) twopc.ParticipantStatus {
	t.Helper()
	st, err := c.Client().ParticipantStatus(context.Background(), c.API(p))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkApplied returns what is wrong with obs for the committed transfers
// (tx_id → amount, each from p1/a1 to p2/a1) and the aborted tx_ids:
// every committed transfer applied exactly once on both participants,
// no aborted one applied anywhere, balances moved by exactly the committed
// amounts, nothing in doubt.
func checkApplied(obs map[string]twopc.Observation, committed map[string]int64, aborted []string) error {
	var moved int64
	for id, amount := range committed {
		moved += amount
		for _, p := range []string{"p1", "p2"} {
			if n := obs[p].Effects[id]; n != 1 {
				return fmt.Errorf("committed tx %s applied %d times on %s, want 1 (effects %v)", id, n, p, obs[p].Effects)
			}
		}
	}
	for _, id := range aborted {
		for _, p := range []string{"p1", "p2"} {
			if n := obs[p].Effects[id]; n != 0 {
				return fmt.Errorf("aborted tx %s applied %d times on %s", id, n, p)
			}
		}
	}
	for _, p := range []string{"p1", "p2"} {
		if len(obs[p].InDoubt) > 0 {
			return fmt.Errorf("%s has txs in doubt: %v", p, obs[p].InDoubt)
		}
	}
	b1, b2 := obs["p1"].Balances["a1"], obs["p2"].Balances["a1"]
	if b1 != initialBalance-moved || b2 != initialBalance+moved {
		return fmt.Errorf("balances p1/a1=%d p2/a1=%d, want %d and %d (moved %d)", b1, b2, initialBalance-moved, initialBalance+moved, moved)
	}
	if b1+b2 != 2*initialBalance {
		return fmt.Errorf("total %d, want %d", b1+b2, 2*initialBalance)
	}
	return nil
}

// postParticipant sends a protocol message straight to a participant, as
// a coordinator would.
func postParticipant(t *testing.T, c *cluster.TwoPCCluster, p, path string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := http.Post("http://"+c.API(p)+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}
