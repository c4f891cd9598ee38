package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	"github.com/chaoscheck/chaoscheck/target"
)

func init() {
	Register("kill-all", []target.Feature{target.Kill}, func(Options) Nemesis { return &killAll{} })
}

// killAll crashes every node of the target at the same instant, like a
// power cut, then starts them all again on their data dirs and waits
// until each serves (and a Raft leader is agreed).
//
// A single-node kill never tests what a node synced: the survivors still
// hold every acknowledged write and hand it back. Only when every replica
// crashes together must each one's disk alone carry what was
// acknowledged, so this is the fault that exposes a log that is not
// fsynced (raftsql's unsynced-log) and dedup state kept in memory
// (memory-dedup, on raftsql and on the 2PC coordinator).
//
// Two choices make the Raft case sharp, each a situation a real power cut
// meets: the followers are behind the leader in applying when the power
// goes (their apply step stalls for lagFor, as on a slow disk under load,
// so they hold entries the leader has committed and acknowledged but
// they have not applied), and the former leader comes back last, once
// the others have elected a leader among themselves. A correct cluster
// keeps every acknowledged write through both: the followers' logs were
// synced before they acknowledged. While both followers stall nothing
// commits, so a leader that acknowledges what it merely proposed
// (ack-before-commit) acknowledges writes the new leader never had.
type killAll struct{}

func (*killAll) Name() string                               { return "kill-all" }
func (*killAll) Setup(context.Context, target.System) error { return nil }
func (*killAll) Close() error                               { return nil }
func (*killAll) Op(*rand.Rand) history.Op                   { return history.Op{F: "kill-all"} }

func (*killAll) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	// The leader is looked up first: once the nodes are dead nobody can
	// say who it was. Without an agreed leader every node restarts at once.
	_, hasLeader := sys.(target.Leader)
	last := ""
	if hasLeader {
		if l, err := leaderOf(ctx, sys); err == nil {
			last = l
			if rc, ok := raftOf(sys); ok {
				lagFollowers(ctx, rc, l)
			}
		}
	}
	nodes := sys.Nodes()
	names := make([]any, len(nodes))
	for i, n := range nodes {
		names[i] = n
	}
	op.Value = names
	// SIGKILL all at once: one at a time, the survivors could notice the
	// first death and act on it before the last node is hit.
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { errs[i] = sys.Kill(n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		op.Error = err.Error()
		return op
	}
	errs = errs[:0]
	for _, n := range nodes {
		if n != last {
			errs = append(errs, sys.Start(ctx, n))
		}
	}
	if last != "" {
		op.Node = last
		if _, err := leaderOf(ctx, sys); err != nil {
			errs = append(errs, fmt.Errorf("no leader among the nodes but the former leader %s: %w", last, err))
		}
		errs = append(errs, sys.Start(ctx, last))
	}
	if hasLeader {
		if _, err := leaderOf(ctx, sys); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		op.Error = err.Error()
	}
	return op
}

// The followers' lag before the crash: raftsql's raftBeforeApply
// failpoint (sut/raftsql/failpoints.go) stalls their Ready loop after
// they saved and acknowledged entries and before they apply them. The
// stall outlasts lagFor, so the crash finds them still stalled; it dies
// with the process.
const (
	lagFor        = 300 * time.Millisecond
	lagFailpoint  = "raftBeforeApply"
	lagStallTerms = "sleep(5000)"
)

// lagFollowers stalls the apply step of every Raft node but leader, then
// waits lagFor. It is best effort: a follower that cannot be reached is
// left as it is.
func lagFollowers(ctx context.Context, rc *cluster.RaftCluster, leader string) {
	hc := &http.Client{Timeout: time.Second}
	for _, id := range rc.IDs() {
		if cluster.RaftNodeName(id) != leader {
			failpoint.Enable(hc, "http://"+rc.APIAddr(id), lagFailpoint, lagStallTerms)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(lagFor):
	}
}

// Heal starts any node a failed round left down.
func (*killAll) Heal(ctx context.Context, sys target.System) error {
	return startAll(ctx, sys)
}
