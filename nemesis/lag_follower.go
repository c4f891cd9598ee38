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
	Register("lag-follower", []target.Feature{target.RaftFailpoints, target.LeaderFeature},
		func(o Options) Nemesis { return &lagFollower{opts: o} })
}

// lagFollower alternates: stall a Raft follower's apply step, then let it
// catch up at the next action. A stalled follower keeps its sockets and
// its place in the cluster (it saved and acknowledged what it had when
// the stall began) but its state machine stands still, as a replica on a
// slow disk falls behind: the leader and the other follower commit
// without it. Reads that reach it must still see every acknowledged
// write, i.e. go through the leader (ReadIndex); a replica that answers
// from its own state (raftsql's stale-read) serves stale values for as
// long as the stall lasts.
//
// The stall is raftsql's raftBeforeApply failpoint (see
// sut/raftsql/failpoints.go) set to sleep; the follower is picked at
// random among the nodes that follow the leader at the time.
type lagFollower struct {
	opts Options
	hc   *http.Client

	mu     sync.Mutex
	lagged string // the follower stalled last, until it catches up
}

func (*lagFollower) Name() string { return "lag-follower" }
func (*lagFollower) Close() error { return nil }

func (l *lagFollower) Setup(_ context.Context, sys target.System) error {
	if rc, ok := raftOf(sys); !ok || len(rc.IDs()) < 2 {
		return errors.New("lag-follower: needs a Raft cluster with followers")
	}
	l.hc = &http.Client{Timeout: 5 * time.Second}
	return nil
}

// lagStall is how long one evaluation of the failpoint stalls: longer than
// the interval, so the follower stays behind until it is told to catch
// up (switching the failpoint off ends the sleep in progress at its next
// evaluation only, hence the cap: a catch-up is never further away than
// this).
func (l *lagFollower) lagStall() time.Duration {
	return min(l.opts.Interval+time.Second, 10*time.Second)
}

func (l *lagFollower) Op(rng *rand.Rand) history.Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lagged != "" {
		return history.Op{F: "catch-up", Value: l.lagged}
	}
	// Which follower: the k-th of those that follow the leader when the
	// stall begins. Drawn here, so it comes from the schedule's seed.
	return history.Op{F: "lag", Value: map[string]any{"follower": int64(rng.Intn(1 << 16))}}
}

func (l *lagFollower) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	switch op.F {
	case "lag":
		v, _ := op.Value.(map[string]any)
		k, _ := v["follower"].(int64)
		name, err := l.lag(ctx, sys, int(k))
		op.Value, op.Node = name, name
		if err != nil {
			op.Error = err.Error()
		}
	case "catch-up":
		name, _ := op.Value.(string)
		op.Node = name
		if err := l.catchUp(sys, name); err != nil {
			op.Error = err.Error()
		}
	default:
		op.Error = fmt.Sprintf("lag-follower: unknown f %q", op.F)
	}
	return op
}

// lag stalls the k-th follower (mod their number) and returns its name.
func (l *lagFollower) lag(ctx context.Context, sys target.System, k int) (string, error) {
	rc, ok := raftOf(sys)
	if !ok {
		return "", errors.New("no embedded Raft cluster booted")
	}
	leader, err := leaderOf(ctx, sys)
	if err != nil {
		return "", err
	}
	var followers []uint64
	for _, id := range rc.IDs() {
		if cluster.RaftNodeName(id) != leader {
			followers = append(followers, id)
		}
	}
	id := followers[k%len(followers)]
	terms := fmt.Sprintf("sleep(%d)", l.lagStall().Milliseconds())
	name := cluster.RaftNodeName(id)
	if err := failpoint.Enable(l.hc, "http://"+rc.APIAddr(id), lagFailpoint, terms); err != nil {
		return name, err
	}
	l.mu.Lock()
	l.lagged = name
	l.mu.Unlock()
	return name, nil
}

func (l *lagFollower) catchUp(sys target.System, name string) error {
	l.mu.Lock()
	l.lagged = ""
	l.mu.Unlock()
	rc, ok := raftOf(sys)
	id, known := cluster.RaftNodeID(name)
	if !ok || !known || rc.Node(id) == nil {
		return fmt.Errorf("no node %q", name)
	}
	return failpoint.Disable(l.hc, "http://"+rc.APIAddr(id), lagFailpoint)
}

// Heal lets every follower catch up: the failpoint goes off on every node
// that answers (a node another nemesis holds down comes back without it).
func (l *lagFollower) Heal(ctx context.Context, sys target.System) error {
	l.mu.Lock()
	l.lagged = ""
	l.mu.Unlock()
	rc, ok := raftOf(sys)
	if !ok {
		return nil
	}
	hc := l.hc
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	var errs []error
	for _, id := range rc.IDs() {
		if n := rc.Node(id); n != nil && n.Running() && !n.Paused() {
			errs = append(errs, failpoint.Disable(hc, "http://"+rc.APIAddr(id), lagFailpoint))
		}
	}
	return errors.Join(errs...)
}
