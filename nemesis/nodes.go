package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
)

// This file holds what the nemeses need of a target.System beyond its
// interface: the leader, restarts, starting what is down, and the embedded
// clusters for the faults that act on their own failpoints.

// leaderOf returns the node that leads sys now.
func leaderOf(ctx context.Context, sys target.System) (string, error) {
	l, ok := sys.(target.Leader)
	if !ok {
		return "", errors.New("the target has no leader to act on")
	}
	return l.Leader(ctx)
}

// hasNode returns an error unless sys has a node called name.
func hasNode(sys target.System, name string) error {
	if !slices.Contains(sys.Nodes(), name) {
		return fmt.Errorf("no node %q", name)
	}
	return nil
}

// restart kills node and starts it again on its data, waiting until it
// serves.
func restart(ctx context.Context, sys target.System, node string) error {
	if err := sys.Kill(node); err != nil {
		return err
	}
	return sys.Start(ctx, node)
}

// startAll starts every node that is not running and waits until it
// serves.
func startAll(ctx context.Context, sys target.System) error {
	var errs []error
	for _, n := range sys.Nodes() {
		if !sys.Running(n) {
			errs = append(errs, sys.Start(ctx, n))
		}
	}
	return errors.Join(errs...)
}

// raftOf is the embedded Raft cluster behind sys, for the faults that use
// its failpoints (target raft).
func raftOf(sys target.System) (*cluster.RaftCluster, bool) {
	r, ok := sys.(interface{ Raft() *cluster.RaftCluster })
	if !ok {
		return nil, false
	}
	return r.Raft(), true
}

// twopcOf is the embedded 2PC cluster behind sys, for the faults that use
// its coordinator's failpoints (target twopc).
func twopcOf(sys target.System) (*cluster.TwoPCCluster, bool) {
	t, ok := sys.(interface{ TwoPC() *cluster.TwoPCCluster })
	if !ok {
		return nil, false
	}
	return t.TwoPC(), true
}
