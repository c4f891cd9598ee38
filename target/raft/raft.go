package raft

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/bugs"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

func init() { target.Register(Target{}, true) }

// Name is the target's name.
const Name = "raft"

// Target boots the embedded Raft store.
type Target struct{}

func (Target) Name() string { return Name }
func (Target) Doc() string {
	return "chaoscheck's embedded Raft-replicated SQLite store (etcd raft, a WAL file, SQLite), 3 nodes by default"
}
func (Target) Workloads() []string {
	return []string{"register", "set", "register-per-node", "retry", "list-append", "rw-register"}
}
func (Target) Features(target.Options) []target.Feature {
	return []target.Feature{target.Kill, target.Pause, target.LeaderFeature, target.ClientProxy, target.RaftFailpoints, target.Partition}
}
func (Target) Flags() []target.Flag {
	return []target.Flag{{Name: FlagSnapshotInterval, Default: strconv.Itoa(defaultSnapshotInterval),
		Usage: "snapshot each replica's state machine every N applied entries and compact its log behind it; 0 never (small N exercises snapshot install)"}}
}
func (Target) Bugs() []string { return bugs.Names(bugs.Raft) }

// FlagSnapshotInterval is the target flag for the replicas' --snapshot-every.
const FlagSnapshotInterval = "snapshot-interval"

// defaultSnapshotInterval is the node's own default (node raft
// --snapshot-every).
const defaultSnapshotInterval = 1000

// snapshotInterval parses --snapshot-interval; a bad value is a
// *target.ConfigError (exit 254).
func snapshotInterval(o target.Options) (uint64, error) {
	v := o.Get(FlagSnapshotInterval, strconv.Itoa(defaultSnapshotInterval))
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, &target.ConfigError{Err: fmt.Errorf("--%s %q: want a whole number of entries ≥ 0 (0: never snapshot)", FlagSnapshotInterval, v)}
	}
	return n, nil
}

// CheckOptions refuses a bad --snapshot-interval before the run starts
// (target.OptionChecker).
func (Target) CheckOptions(opts target.Options, _ int, _ string, _ []string) error {
	_, err := snapshotInterval(opts)
	return err
}

// Boot starts env.Nodes replicas (3 by default) in env.Dir/n<i> and waits
// for a leader.
func (Target) Boot(ctx context.Context, env target.Env) (target.System, error) {
	if !target.Supports(Target{}, env.Workload) {
		return nil, fmt.Errorf("target raft has no driver for workload %q", env.Workload)
	}
	every, err := snapshotInterval(env.Options)
	if err != nil {
		return nil, err
	}
	bin, err := cluster.Binary()
	if err != nil {
		return nil, err
	}
	extra := []string{"--snapshot-every", strconv.FormatUint(every, 10)}
	for _, b := range env.Bugs {
		extra = append(extra, "--sut-bug", b)
	}
	cfg := cluster.RaftConfig{N: env.Nodes, Dir: env.Dir, Bin: bin, ExtraArgs: extra}
	if env.Net != nil {
		cfg.Via = env.Net.Via
	}
	rc, err := cluster.StartRaft(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &System{ProcNodes: rc.ProcNodes(), rc: rc, workload: env.Workload, opts: env.WorkloadOptions.WithDefaults()}
	if err := rc.WaitHealthy(ctx, cluster.BootTimeout); err != nil {
		s.Stop(true)
		return nil, fmt.Errorf("raft cluster not healthy after boot: %w", err)
	}
	return s, nil
}

// System is a running embedded Raft cluster.
type System struct {
	target.Routes
	cluster.ProcNodes // Nodes, Running, Kill, Pause, Resume
	rc                *cluster.RaftCluster
	workload          string
	opts              workload.Options
}

// Raft is the cluster itself, for the nemeses that act on the embedded
// store's own failpoints (lag-follower).
func (s *System) Raft() *cluster.RaftCluster { return s.rc }

func (s *System) proc(node string) (uint64, *cluster.Proc, error) {
	id, ok := cluster.RaftNodeID(node)
	if !ok || s.rc.Node(id) == nil {
		return 0, nil, fmt.Errorf("no node %q", node)
	}
	return id, s.rc.Node(id), nil
}

// Start starts node and waits until it answers /status.
func (s *System) Start(ctx context.Context, node string) error {
	id, p, err := s.proc(node)
	if err != nil {
		return err
	}
	if err := s.rc.Start(id); err != nil {
		return err
	}
	err = cluster.WaitFor(ctx, cluster.NodeUpTimeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if !p.Running() {
			return false, errors.New("process exited")
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := s.rc.Status(sctx, id)
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("node %s not up: %w", node, err)
	}
	return nil
}

func (s *System) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return s.rc.WaitHealthy(ctx, timeout)
}

// Leader polls until a majority agrees on a leader: right after a fault
// (a paused or killed leader) that takes an election timeout or two.
func (s *System) Leader(ctx context.Context) (string, error) {
	var id uint64
	err := cluster.WaitFor(ctx, cluster.NodeUpTimeout, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		var err error
		id, err = s.rc.Leader(sctx)
		return err == nil, err
	})
	if err != nil {
		return "", fmt.Errorf("find the leader: %w", err)
	}
	return cluster.RaftNodeName(id), nil
}

// ClientAddrs are the replicas' API addresses.
func (s *System) ClientAddrs() []string {
	var as []string
	for _, id := range s.rc.IDs() {
		as = append(as, s.rc.APIAddr(id))
	}
	return as
}

func (s *System) Stop(kill bool) error {
	if kill {
		return s.KillAll()
	}
	return s.rc.Stop()
}

// Driver returns the driver of the workload the system was booted for.
func (s *System) Driver() workload.Driver {
	return &driver{s: s, workload: s.workload, opts: s.opts}
}
