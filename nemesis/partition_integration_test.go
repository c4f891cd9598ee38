package nemesis_test

import (
	"slices"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/workload"
)

// The correct systems under network partitions: the leader isolated from
// the majority (a new leader is elected on the majority side; the old one
// must neither acknowledge writes nor serve reads it cannot vouch for),
// and the 2PC coordinator cut from a participant inside the commit window
// (the participant must block, not decide on its own). The checkers must
// say valid.

func TestRegisterUnderPartitionLeader(t *testing.T) {
	o := run(t, scenario{
		workload: "register-per-node", wopts: workload.Options{Concurrency: 6, Keys: 2, OpTimeout: time.Second},
		nemesis: "partition-leader", nopts: nemesis.Options{Interval: 1500 * time.Millisecond, Rounds: 2},
		load: 5 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["start-partition"] != 1 || got["stop-partition"] != 1 {
		t.Fatalf("nemesis did %v, want one partition started and stopped", got)
	}
	g, err := faultnet.ParseGrudge(ops[0].Value)
	if err != nil || len(g) != 3 {
		t.Fatalf("start-partition value %v (%v): want a grudge isolating one of 3 nodes", ops[0].Value, err)
	}
	if o.count("read", history.OK) == 0 || o.count("write", history.OK) == 0 {
		t.Errorf("want ok reads and writes: the checker judged little")
	}
}

// A leader frozen through the election and thawed still cut off believes
// it leads while another does; the correct store's reads go through
// ReadIndex, which the old leader cannot complete, so nothing it answers
// is stale.
func TestRegisterUnderDeposedLeader(t *testing.T) {
	o := run(t, scenario{
		workload: "register-per-node", wopts: workload.Options{Concurrency: 6, Keys: 2, OpTimeout: 500 * time.Millisecond},
		nemesis: "deposed-leader", nopts: nemesis.Options{Interval: 1500 * time.Millisecond, Rounds: 4},
		load: 10 * time.Second,
	})
	ops := o.nemesisOps(t)
	var did []string
	for _, op := range ops {
		if op.Error != "" {
			t.Fatalf("%s failed: %s", op.F, op.Error)
		}
		did = append(did, op.F)
	}
	if want := []string{"start-partition", "pause", "resume", "stop-partition"}; !slices.Equal(did, want) {
		t.Fatalf("nemesis did %v, want %v", did, want)
	}
	if ops[1].Value != ops[0].Node {
		t.Errorf("paused %v, but the partition isolated %v", ops[1].Value, ops[0].Node)
	}
	if o.count("read", history.OK) == 0 || o.count("write", history.OK) == 0 {
		t.Errorf("want ok reads and writes: the checker judged little")
	}
}

func TestBankUnderPartitionCoordinator(t *testing.T) {
	o := run(t, scenario{
		workload: "bank", wopts: workload.Options{Concurrency: 4, OpTimeout: 2 * time.Second},
		nemesis: "partition-coordinator", nopts: nemesis.Options{Interval: 500 * time.Millisecond, Rounds: 1, PauseBeforeCommit: time.Second},
		load: 10 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["partition-coordinator"] != 1 {
		t.Fatalf("nemesis did %v, want one partition-coordinator round", got)
	}
	v, _ := ops[0].Value.(map[string]any)
	effects, _ := v["held_tx_effects"].(map[string]any)
	if v["held_tx"] == "" || v["participant"] != "p1" || v["released"] != true {
		t.Fatalf("round %+v: want p1 cut off while a tx spanning it was held, then released", ops[0])
	}
	// The participant blocked until the link healed, then committed.
	if asInt(effects["p1"]) != 1 {
		t.Errorf("held tx %v effect rows %v, want 1 on p1 (the participant that was cut off)", v["held_tx"], effects)
	}
}
