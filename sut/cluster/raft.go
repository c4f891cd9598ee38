package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// RaftConfig says how to start a raftsql cluster.
type RaftConfig struct {
	N   int    // replicas; default 3
	Dir string // node i runs in Dir/n<i>: its data and node.log
	Bin string // the chaoscheck binary; default Binary()
	// SnapshotEvery is passed as --snapshot-every when > 0; otherwise the
	// node's default applies.
	SnapshotEvery uint64
	// Tick is passed as --tick when > 0.
	Tick time.Duration
	// Env is extra environment for every node (GOFAIL_FAILPOINTS=…).
	Env []string
	// ExtraArgs are appended to every node's arguments, e.g.
	// ["--sut-bug", "no-dedup"].
	ExtraArgs []string
	// Via, when set, routes every node-to-node link (--peers and
	// --peer-apis) through the address it returns, e.g. a faultnet
	// proxy: node ni dials Via(ni, nj, addr of nj). Nil: nodes dial each
	// other directly.
	Via ViaFunc
}

// RaftCluster is a running raftsql cluster of local processes: what a
// nemesis kills, pauses and restarts, and what a workload's clients talk to.
type RaftCluster struct {
	cfg    RaftConfig
	ids    []uint64
	procs  map[uint64]*Proc
	apis   map[uint64]string
	peers  map[uint64]string
	client *raftsql.Client
}

// StartRaft starts cfg.N replicas on free loopback ports and returns once
// every one answers /status; call WaitHealthy to wait for a leader. A port
// taken between FreePorts and the node's bind is retried with new ports.
func StartRaft(ctx context.Context, cfg RaftConfig) (*RaftCluster, error) {
	if cfg.N <= 0 {
		cfg.N = 3
	}
	if cfg.Dir == "" {
		return nil, errors.New("start raft: no Dir")
	}
	if cfg.Bin == "" {
		bin, err := Binary()
		if err != nil {
			return nil, fmt.Errorf("start raft: %w", err)
		}
		cfg.Bin = bin
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	cfg.Dir = dir
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		rc, err := startRaftOnce(ctx, cfg)
		if err == nil {
			return rc, nil
		}
		last = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	return nil, last
}

func startRaftOnce(ctx context.Context, cfg RaftConfig) (*RaftCluster, error) {
	ports, err := FreePorts(2 * cfg.N)
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	rc := &RaftCluster{cfg: cfg, procs: map[uint64]*Proc{}, apis: map[uint64]string{}, peers: map[uint64]string{}}
	for i := 0; i < cfg.N; i++ {
		id := uint64(i + 1)
		rc.ids = append(rc.ids, id)
		rc.peers[id] = fmt.Sprintf("127.0.0.1:%d", ports[2*i])
		rc.apis[id] = fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
	}
	for _, id := range rc.ids {
		peers, err := rc.routes(id, rc.peers)
		if err != nil {
			return nil, fmt.Errorf("start raft: %w", err)
		}
		apis, err := rc.routes(id, rc.apis)
		if err != nil {
			return nil, fmt.Errorf("start raft: %w", err)
		}
		args := []string{"node", "raft",
			"--id", strconv.FormatUint(id, 10),
			"--peers", raftsql.FormatAddrs(peers),
			"--peer-apis", raftsql.FormatAddrs(apis),
			"--api", rc.apis[id],
			"--data", rc.DataDir(id),
		}
		if cfg.SnapshotEvery > 0 {
			args = append(args, "--snapshot-every", strconv.FormatUint(cfg.SnapshotEvery, 10))
		}
		if cfg.Tick > 0 {
			args = append(args, "--tick", cfg.Tick.String())
		}
		args = append(args, cfg.ExtraArgs...)
		rc.procs[id] = NewProc(ProcSpec{Name: raftNodeName(id), Bin: cfg.Bin, Args: args, Dir: rc.DataDir(id), Env: cfg.Env})
	}
	rc.client = raftsql.NewClient(rc.apis, raftsql.ClientOptions{Timeout: 10 * time.Second})
	for _, id := range rc.ids {
		if err := rc.procs[id].Start(); err != nil {
			rc.Stop()
			return nil, fmt.Errorf("start raft: %w", err)
		}
	}
	if err := rc.waitServing(ctx, rc.ids, 15*time.Second); err != nil {
		rc.Stop()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	return rc, nil
}

// routes returns the addresses replica id dials to reach each replica in
// addrs: its own entry as it is (where it listens), every other one
// through cfg.Via.
func (rc *RaftCluster) routes(id uint64, addrs map[uint64]string) (map[uint64]string, error) {
	out := make(map[uint64]string, len(addrs))
	for j, a := range addrs {
		if j == id {
			out[j] = a
			continue
		}
		r, err := rc.cfg.Via.route(raftNodeName(id), raftNodeName(j), a)
		if err != nil {
			return nil, err
		}
		out[j] = r
	}
	return out, nil
}

// RaftNodeName is replica id's name in histories and run dirs: n1, n2, …
func RaftNodeName(id uint64) string { return "n" + strconv.FormatUint(id, 10) }

func raftNodeName(id uint64) string { return RaftNodeName(id) }

// RaftNodeID is the replica id of a node named by RaftNodeName.
func RaftNodeID(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, "n")
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	return id, err == nil && id > 0
}

// waitServing waits until every node in ids answers /status, and fails
// early, with the end of its log, when one exits instead.
func (rc *RaftCluster) waitServing(ctx context.Context, ids []uint64, timeout time.Duration) error {
	return WaitFor(ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, id := range ids {
			p := rc.procs[id]
			if !p.Running() {
				return false, fmt.Errorf("node %s exited at start: %s", p.Name(), tailFile(p.Spec().LogPath, 600))
			}
			sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			_, err := rc.client.Status(sctx, id)
			cancel()
			if err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// tailFile returns the last n bytes of the file at path, for errors.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf))
}

// IDs lists the replica ids in order.
func (rc *RaftCluster) IDs() []uint64 { return append([]uint64(nil), rc.ids...) }

// Node returns replica id's process, nil for an unknown id.
func (rc *RaftCluster) Node(id uint64) *Proc { return rc.procs[id] }

// APIAddr is replica id's client API address (host:port).
func (rc *RaftCluster) APIAddr(id uint64) string { return rc.apis[id] }

// APIs maps every replica id to its client API address.
func (rc *RaftCluster) APIs() map[uint64]string {
	m := make(map[uint64]string, len(rc.apis))
	for id, a := range rc.apis {
		m[id] = a
	}
	return m
}

// DataDir is replica id's directory: its data and node.log.
func (rc *RaftCluster) DataDir(id uint64) string {
	return filepath.Join(rc.cfg.Dir, raftNodeName(id))
}

// ProcNodes controls the replicas' processes by node name (n1, n2 …).
func (rc *RaftCluster) ProcNodes() ProcNodes {
	return ProcNodes{
		lookup: func(node string) *Proc {
			id, _ := RaftNodeID(node)
			return rc.procs[id]
		},
		names: func() []string {
			ns := make([]string, len(rc.ids))
			for i, id := range rc.ids {
				ns[i] = RaftNodeName(id)
			}
			return ns
		},
	}
}

// LogPath is replica id's node.log.
func (rc *RaftCluster) LogPath(id uint64) string { return rc.procs[id].Spec().LogPath }

// Client is a client of the whole cluster that follows the leader.
func (rc *RaftCluster) Client() *raftsql.Client { return rc.client }

func (rc *RaftCluster) proc(id uint64) (*Proc, error) {
	p, ok := rc.procs[id]
	if !ok {
		return nil, fmt.Errorf("raft cluster: no node %d", id)
	}
	return p, nil
}

// Kill sends SIGKILL to replica id and waits until it is gone.
func (rc *RaftCluster) Kill(id uint64) error { return rc.ProcNodes().Kill(RaftNodeName(id)) }

// Start starts replica id again on its data dir and waits until it
// answers /status.
func (rc *RaftCluster) Start(id uint64) error {
	p, err := rc.proc(id)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	return rc.waitServing(context.Background(), []uint64{id}, 15*time.Second)
}

// Restart kills replica id (kill -9) and starts it on the same data dir.
func (rc *RaftCluster) Restart(id uint64) error {
	if err := rc.Kill(id); err != nil {
		return err
	}
	return rc.Start(id)
}

// Pause stops replica id with SIGSTOP.
func (rc *RaftCluster) Pause(id uint64) error { return rc.ProcNodes().Pause(RaftNodeName(id)) }

// Resume continues a paused replica.
func (rc *RaftCluster) Resume(id uint64) error { return rc.ProcNodes().Resume(RaftNodeName(id)) }

// Status asks replica id for its /status.
func (rc *RaftCluster) Status(ctx context.Context, id uint64) (raftsql.Status, error) {
	return rc.client.Status(ctx, id)
}

// statuses asks every running, unpaused replica for /status at once; a
// replica that does not answer within a second is left out.
func (rc *RaftCluster) statuses(ctx context.Context) (map[uint64]raftsql.Status, error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[uint64]raftsql.Status{}
	var errs []error
	for _, id := range rc.ids {
		p := rc.procs[id]
		if !p.Running() || p.Paused() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			st, err := rc.client.Status(sctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			out[id] = st
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Leader returns the replica that a majority of the cluster's /status
// answers name as leader.
func (rc *RaftCluster) Leader(ctx context.Context) (uint64, error) {
	sts, err := rc.statuses(ctx)
	leader, ok := agreedLeader(sts, len(rc.ids))
	if ok {
		return leader, nil
	}
	if err != nil {
		return 0, fmt.Errorf("no leader agreed by a majority: %w", err)
	}
	return 0, fmt.Errorf("no leader agreed by a majority: %s", describeStatuses(sts))
}

func agreedLeader(sts map[uint64]raftsql.Status, n int) (uint64, bool) {
	votes := map[uint64]int{}
	for _, st := range sts {
		if st.Leader != 0 {
			votes[st.Leader]++
		}
	}
	for l, v := range votes {
		if v > n/2 {
			if st, ok := sts[l]; ok && st.State == "StateLeader" {
				return l, true
			}
		}
	}
	return 0, false
}

func describeStatuses(sts map[uint64]raftsql.Status) string {
	ids := make([]uint64, 0, len(sts))
	for id := range sts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var parts []string
	for _, id := range ids {
		st := sts[id]
		parts = append(parts, fmt.Sprintf("n%d: %s leader=%d term=%d commit=%d applied=%d", id, st.State, st.Leader, st.Term, st.Commit, st.Applied))
	}
	if len(parts) == 0 {
		return "no node answered"
	}
	return strings.Join(parts, "; ")
}

// WaitHealthy waits until a leader is agreed by a majority and every
// running, unpaused replica has applied everything in that leader's log as
// it stood when the leader was first seen.
//
// The leader's commit index is not enough: a leader fresh from an election
// reports the commit index it learned so far, which can lag the entries an
// earlier leader committed and acknowledged until it commits one of its own
// term. Its log, though, holds every committed entry (Raft's leader
// completeness), and a replica applies only committed entries, so "applied
// ≥ the leader's last index" means every acknowledged write is on every
// replica, without waiting for a quiet moment under load.
func (rc *RaftCluster) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	var leader, target uint64
	return WaitFor(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, error) {
		sts, err := rc.statuses(ctx)
		if err != nil {
			return false, err
		}
		l, ok := agreedLeader(sts, len(rc.ids))
		if !ok {
			return false, fmt.Errorf("no leader agreed by a majority: %s", describeStatuses(sts))
		}
		if l != leader {
			leader, target = l, max(sts[l].LastIndex, sts[l].Commit)
		}
		for id, st := range sts {
			if st.Applied < target {
				return false, fmt.Errorf("n%d applied %d < leader n%d's log at %d", id, st.Applied, leader, target)
			}
		}
		return true, nil
	})
}

// Pids lists the process ids of the replicas now running.
func (rc *RaftCluster) Pids() []int {
	var pids []int
	for _, id := range rc.ids {
		if pid := rc.procs[id].Pid(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Stop stops every replica: SIGTERM, then SIGKILL after a grace period.
// It is idempotent, and an error says which replica is still alive.
func (rc *RaftCluster) Stop() error {
	var wg sync.WaitGroup
	errs := make([]error, len(rc.ids))
	for i, id := range rc.ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rc.procs[id].Stop(5 * time.Second)
		}()
	}
	wg.Wait()
	for _, id := range rc.ids {
		if pid := rc.procs[id].Pid(); pid != 0 {
			errs = append(errs, fmt.Errorf("node n%d still running (pid %d) after Stop", id, pid))
		}
	}
	return errors.Join(errs...)
}
