package nemesis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
)

// This file maps a Target onto the nodes a nemesis acts on, whichever
// SUT was booted.

// node is one process of the target: its name in the history, its
// process, and how to wait until it serves again after a start.
type node struct {
	name string
	proc *cluster.Proc
	up   func(ctx context.Context) error
}

// upTimeout bounds how long a nemesis waits for a (re)started node.
const upTimeout = 20 * time.Second

// nodesOf lists t's nodes: the Raft replicas n1…nN, then the 2PC
// participants and coordinator.
func nodesOf(t *cluster.Target) []node {
	var ns []node
	if rc := t.Raft; rc != nil {
		for _, id := range rc.IDs() {
			ns = append(ns, node{name: raftName(id), proc: rc.Node(id),
				up: func(ctx context.Context) error { return raftUp(ctx, rc, id) }})
		}
	}
	if tc := t.TwoPC; tc != nil {
		for _, name := range tc.Nodes() {
			ns = append(ns, node{name: name, proc: tc.Node(name),
				up: func(ctx context.Context) error { return tc.WaitUp(ctx, name, upTimeout) }})
		}
	}
	return ns
}

func nodeNamed(t *cluster.Target, name string) (node, error) {
	for _, n := range nodesOf(t) {
		if n.name == name {
			return n, nil
		}
	}
	return node{}, fmt.Errorf("no node %q", name)
}

func raftName(id uint64) string { return fmt.Sprintf("n%d", id) }

// raftLeader finds the Raft leader.
func raftLeader(ctx context.Context, t *cluster.Target) (node, error) {
	if t.Raft == nil {
		return node{}, errors.New("no Raft cluster booted: no leader to act on")
	}
	// Poll: right after a fault (a paused or killed leader) the cluster
	// needs an election timeout or two to agree on a new leader.
	var id uint64
	err := cluster.WaitFor(ctx, upTimeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		var err error
		id, err = t.Raft.Leader(sctx)
		return err == nil, err
	})
	if err != nil {
		return node{}, fmt.Errorf("find the leader: %w", err)
	}
	return nodeNamed(t, raftName(id))
}

// waitHealthy waits until every booted part of t is healthy.
func waitHealthy(ctx context.Context, t *cluster.Target, timeout time.Duration) error {
	var errs []error
	if t.Raft != nil {
		errs = append(errs, t.Raft.WaitHealthy(ctx, timeout))
	}
	if t.TwoPC != nil {
		errs = append(errs, t.TwoPC.WaitHealthy(ctx, timeout))
	}
	return errors.Join(errs...)
}

// raftUp waits until replica id answers /status.
func raftUp(ctx context.Context, rc *cluster.RaftCluster, id uint64) error {
	err := cluster.WaitFor(ctx, upTimeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if !rc.Node(id).Running() {
			return false, errors.New("process exited")
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := rc.Status(sctx, id)
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("node %s not up: %w", raftName(id), err)
	}
	return nil
}
