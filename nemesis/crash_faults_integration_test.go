package nemesis_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/workload"
)

// The correct system under the nemeses the self-test uses to expose
// seeded bugs (kill-all, lag-follower, coordinator-crash,
// restart-coordinator): each fault happens as its completion says, and
// the checkers still say valid.

func TestSetUnderKillAll(t *testing.T) {
	o := run(t, scenario{
		workload: "set", wopts: workload.Options{Concurrency: 4, OpTimeout: 5 * time.Second},
		nemesis: "kill-all", nopts: nemesis.Options{Interval: time.Second, Rounds: 1},
		load: 4 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["kill-all"] != 1 {
		t.Fatalf("nemesis did %v, want one kill-all", got)
	}
	killed, _ := ops[0].Value.([]any)
	if len(killed) != 3 || !strings.HasPrefix(ops[0].Node, "n") {
		t.Errorf("kill-all completion %+v: want the 3 nodes killed and the former leader, restarted last, as its node", ops[0])
	}
	if o.count("add", history.OK) == 0 || o.count("read-all", history.OK) != 1 {
		t.Errorf("want ok adds and one ok read-all")
	}
}

// A correct follower forwards reads to the leader (ReadIndex), so clients
// bound to the lagging follower still read every acknowledged write.
func TestRegisterPerNodeUnderLagFollower(t *testing.T) {
	o := run(t, scenario{
		workload: "register-per-node", wopts: workload.Options{Concurrency: 6, Keys: 2, OpTimeout: time.Second},
		nemesis: "lag-follower", nopts: nemesis.Options{Interval: time.Second, Rounds: 2},
		load: 3500 * time.Millisecond,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["lag"] != 1 || got["catch-up"] != 1 {
		t.Fatalf("nemesis did %v, want lag then catch-up", got)
	}
	if ops[0].Node == "" || ops[0].Node != ops[1].Node {
		t.Errorf("lag %+v and catch-up %+v: want the same follower", ops[0], ops[1])
	}
	if o.count("read", history.OK) == 0 || o.count("write", history.OK) == 0 {
		t.Errorf("want ok reads and writes: the checker judged little")
	}
}

func TestBankUnderCoordinatorCrash(t *testing.T) {
	o := run(t, scenario{
		workload: "bank", wopts: workload.Options{Concurrency: 4, OpTimeout: 2 * time.Second},
		// The round waits for a transfer spanning both participants to be
		// held prepared; on a loaded machine (CI runs test packages in
		// parallel) that took more than the 4s this load once had.
		nemesis: "coordinator-crash", nopts: nemesis.Options{Interval: 500 * time.Millisecond, Rounds: 1},
		load: 9 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["coordinator-crash"] != 1 {
		t.Fatalf("nemesis did %v, want one coordinator-crash round", got)
	}
	v, _ := ops[0].Value.(map[string]any)
	effects, _ := v["held_tx_effects"].(map[string]any)
	if v["coordinator_crashed"] != true || v["held_tx"] == "" || !slices.Contains([]any{"p1", "p2"}, v["participant"]) {
		t.Fatalf("round %+v: want a participant killed and the coordinator crashed while a tx was held", ops[0])
	}
	// The decision was durable before the crash: the held tx commits on
	// both participants, once.
	if asInt(effects["p1"]) != 1 || asInt(effects["p2"]) != 1 {
		t.Errorf("held tx %v effect rows %v, want 1 on p1 and on p2", v["held_tx"], effects)
	}
}

func TestRetryUnderRestartCoordinator(t *testing.T) {
	o := run(t, scenario{
		workload: "retry", wopts: workload.Options{Concurrency: 4, OpTimeout: 2 * time.Second, Target: "twopc"},
		nemesis: "duplicate-retry,restart-coordinator", nopts: nemesis.Options{Interval: 700 * time.Millisecond, Rounds: 3},
		load: 3 * time.Second,
	})
	if got := fs(t, o.nemesisOps(t)); got["restart-coordinator"] == 0 {
		t.Errorf("nemesis did %v, want a restart-coordinator", got)
	}
}
