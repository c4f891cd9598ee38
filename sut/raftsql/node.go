package raftsql

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Node is one raftsql replica: the raft node, its two stores, the peer
// transport and the client API. Run drives it.
//
// Two goroutines write the stores. The Ready loop (readyLoop, handleReady)
// persists each Ready to the LogStore and sends its messages, in the raft
// docs' order (a leader may send first); the applier (runApplier) applies
// the committed entries to the StateMachine, in order, one Ready behind at
// most a few, and is the only writer of the state machine, of the conf
// state and of local snapshots.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *LogStore
	sm    *StateMachine
	rn    raft.Node
	tr    *Transport
	fwd   *http.Client

	// Owned by the applier.
	confState *raftpb.ConfState
	snapIndex uint64 // the LogStore's newest snapshot

	// Read by the API while the loop writes.
	applied   atomic.Uint64
	leader    atomic.Uint64 // from the last SoftState; a hint for routing
	snapShown atomic.Uint64 // snapIndex, for /status
	installed atomic.Uint64 // snapshots installed from a leader
	lastInst  atomic.Uint64 // index of the last one
	recovered uint64        // LogStore snapshot index found at start

	mu        sync.Mutex
	proposals map[uint64]chan ExecResult // proposal id → waiter
	reads     map[uint64]chan uint64     // read request id → waiter
	appliedCh chan struct{}              // closed (and replaced) when applied advances
}

// Run starts the replica described by cfg and serves until ctx ends
// (graceful stop) or a store fails (the node stops rather than go on
// with a disk it cannot trust).
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return err
	}
	// Listen first: a taken port is the commonest start failure and
	// should not leave stores half-opened.
	peerLn, err := net.Listen("tcp", cfg.Peers[cfg.ID])
	if err != nil {
		return fmt.Errorf("listen for peers: %w", err)
	}
	defer peerLn.Close()
	apiLn, err := net.Listen("tcp", cfg.API)
	if err != nil {
		return fmt.Errorf("listen for clients: %w", err)
	}
	defer apiLn.Close()

	n, err := open(cfg)
	if err != nil {
		return err
	}
	defer n.close()

	peerSrv := &http.Server{Handler: n.peerMux(), ReadHeaderTimeout: 5 * time.Second}
	apiSrv := &http.Server{Handler: n.apiMux(), ReadHeaderTimeout: 5 * time.Second}
	srvErr := make(chan error, 2)
	go func() { srvErr <- fmt.Errorf("peer server: %w", peerSrv.Serve(peerLn)) }()
	go func() { srvErr <- fmt.Errorf("api server: %w", apiSrv.Serve(apiLn)) }()
	n.log.Info("serving", "id", cfg.ID, "peers", cfg.Peers[cfg.ID], "api", cfg.API)

	loopCtx, cancel := context.WithCancel(ctx)
	loopErr := make(chan error, 1)
	go func() { loopErr <- n.loop(loopCtx) }()

	loopDone := false
	select {
	case <-ctx.Done():
		n.log.Info("stopping", "reason", context.Cause(ctx))
	case err = <-srvErr:
	case err = <-loopErr:
		loopDone = true
	}
	cancel()
	// The stores close (deferred) only once the loop, their one writer,
	// has returned.
	if !loopDone {
		if lerr := <-loopErr; err == nil {
			err = lerr
		}
	}
	shutCtx, shutCancel := context.WithTimeout(context.Background(), time.Second)
	defer shutCancel()
	_ = apiSrv.Shutdown(shutCtx)
	// Peers keep their streams open for good, so a graceful shutdown
	// would only wait out shutCtx; raft loses nothing it does not resend.
	_ = peerSrv.Close()
	return err
}

// open opens the stores, brings the state machine up to the LogStore's
// snapshot if a crash left it behind, and starts (or restarts) raft.
func open(cfg Config) (*Node, error) {
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger,
		proposals: map[uint64]chan ExecResult{},
		reads:     map[uint64]chan uint64{},
		appliedCh: make(chan struct{}),
		fwd: &http.Client{
			Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext, MaxIdleConnsPerHost: 16},
			Timeout:   cfg.RequestTimeout + 2*time.Second,
		},
	}
	var err error
	if n.store, err = openLogStore(filepath.Join(cfg.DataDir, "raft"), !cfg.Bugs.UnsyncedLog); err != nil {
		return nil, err
	}
	if n.sm, err = OpenStateMachineWithOptions(filepath.Join(cfg.DataDir, "state.db"), cfg.Bugs.stateMachineOptions()); err != nil {
		n.store.Close()
		return nil, err
	}
	if err := n.recover(); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *Node) recover() error {
	if err := n.loseUnsyncedSuffix(); err != nil {
		return err
	}
	hs, cs, err := n.store.InitialState()
	if err != nil {
		return err
	}
	last, err := n.store.LastIndex()
	if err != nil {
		return err
	}
	meta := n.store.SnapshotMetadata()
	fresh := raft.IsEmptyHardState(hs) && last == 0 && meta.GetIndex() == 0

	applied := n.sm.AppliedIndex()
	if fresh && applied > 0 {
		return fmt.Errorf("state machine has applied index %d but the raft log is empty: data dir %s is damaged", applied, n.cfg.DataDir)
	}
	// A crash may fall between saving a snapshot from the leader and
	// restoring it into the state machine: finish the job now.
	if si := meta.GetIndex(); si > applied {
		snap, err := n.store.Snapshot()
		if err != nil {
			return err
		}
		if err := n.sm.Restore(snap.GetData()); err != nil {
			return fmt.Errorf("restore state machine from snapshot %d: %w", si, err)
		}
		n.log.Info("state machine restored from snapshot", "index", si, "was", applied)
		applied = si
	}
	if applied > hs.GetCommit() && !fresh {
		// Only commit changed since the last synced Save (raft does not
		// ask to sync that), and a power cut lost it while SQLite kept the
		// applied entries: they were committed, so the commit index may
		// be raised to them, as long as the log still holds them.
		if applied > last {
			return fmt.Errorf("state machine applied index %d is past the raft log's last index %d: the raft log lost entries", applied, last)
		}
		hs = proto.Clone(hs).(*raftpb.HardState)
		hs.Commit = new(applied)
		if err := n.store.Save(hs, nil, nil, true); err != nil {
			return fmt.Errorf("raise commit index to applied index %d: %w", applied, err)
		}
		n.log.Warn("raised the durable commit index to the applied index", "applied", applied)
	}
	n.recovered = meta.GetIndex()
	n.snapIndex = meta.GetIndex()
	n.snapShown.Store(n.snapIndex)
	n.applied.Store(applied)
	n.confState = cs
	if n.recovered > 0 {
		n.log.Info(fmt.Sprintf("recovered from snapshot index=%d", n.recovered), "applied", applied, "commit", hs.GetCommit(), "last", last)
	} else if !fresh {
		n.log.Info("recovered from log without snapshot", "applied", applied, "commit", hs.GetCommit(), "last", last)
	}

	rl := &raft.DefaultLogger{Logger: log.New(os.Stderr, "raft ", log.LstdFlags|log.Lmicroseconds)}
	c := &raft.Config{
		ID:              n.cfg.ID,
		ElectionTick:    n.cfg.ElectionTicks,
		HeartbeatTick:   n.cfg.HeartbeatTicks,
		Storage:         n.store,
		Applied:         applied, // raft redelivers nothing at or below it
		MaxSizePerMsg:   1 << 20,
		MaxInflightMsgs: 256,
		// Bounds what a leader cut off from its followers accumulates.
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    rl,
	}
	n.tr = NewTransport(n.cfg.ID, n.cfg.Peers, nil, n.log)
	if fresh {
		ids := n.memberIDs()
		peers := make([]raft.Peer, len(ids))
		for i, id := range ids {
			peers[i] = raft.Peer{ID: id}
		}
		n.log.Info("bootstrapping a new cluster", "members", ids)
		n.rn = raft.StartNode(c, peers)
	} else {
		n.rn = raft.RestartNode(c)
	}
	n.tr.reporter = n.rn
	n.tr.Start()
	return nil
}

func (n *Node) memberIDs() []uint64 {
	ids := make([]uint64, 0, len(n.cfg.Peers))
	for id := range n.cfg.Peers {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (n *Node) close() {
	if n.rn != nil {
		n.rn.Stop()
	}
	if n.tr != nil {
		n.tr.Stop()
	}
	if err := n.sm.Close(); err != nil {
		n.log.Warn("close state machine", "err", err)
	}
	if err := n.store.Close(); err != nil {
		n.log.Warn("close log store", "err", err)
	}
	if n.cfg.Bugs.UnsyncedLog && n.rn != nil {
		if err := os.WriteFile(filepath.Join(n.cfg.DataDir, cleanStopFile), nil, 0o644); err != nil {
			n.log.Warn("unsynced-log: write clean stop marker", "err", err)
		}
	}
}

// cleanStopFile marks, for the unsynced-log bug, a data dir whose node
// stopped gracefully: nothing of its log was lost.
const cleanStopFile = "unsynced-log.clean-stop"

// loseUnsyncedSuffix plays the crash that the seeded bug unsynced-log
// (Save never fsyncs) exposes. A kill -9 alone loses nothing, because
// badger's write-ahead log is a memory-mapped file that the kernel keeps;
// a power cut would lose what was never synced. The model: after a crash
// (no clean-stop marker) the log keeps only what is also in the state
// machine (a model: entries up to the applied index survive, as if SQLite
// had synced them);
// the appended-but-unapplied suffix, which this node may already have
// acknowledged to the leader, is gone, and so is any commit index above
// it. That is how an acknowledged write disappears: the leader counted
// this replica's ack towards a majority that no longer holds the entry.
func (n *Node) loseUnsyncedSuffix() error {
	if !n.cfg.Bugs.UnsyncedLog {
		return nil
	}
	marker := filepath.Join(n.cfg.DataDir, cleanStopFile)
	if _, err := os.Stat(marker); err == nil {
		return os.Remove(marker)
	}
	last, err := n.store.LastIndex()
	if err != nil {
		return err
	}
	first, err := n.store.FirstIndex()
	if err != nil {
		return err
	}
	// Save truncates the log behind the entry it rewrites, so keep at
	// least the first entry after the snapshot.
	keep := max(n.sm.AppliedIndex(), first)
	if last <= keep {
		return nil
	}
	ents, err := n.store.Entries(keep, keep+1, math.MaxUint64)
	if err != nil {
		return fmt.Errorf("unsynced-log: read entry %d: %w", keep, err)
	}
	hs := n.store.HardState()
	hs.Commit = new(min(hs.GetCommit(), keep))
	if err := n.store.Save(hs, ents, nil, true); err != nil {
		return fmt.Errorf("unsynced-log: truncate log to %d: %w", keep, err)
	}
	n.log.Warn(fmt.Sprintf("unsynced-log: crash lost log entries %d..%d", keep+1, last), "commit", hs.GetCommit())
	return nil
}

// applyQueue is how many Readies' committed entries may wait for the
// applier before the Ready loop waits for it.
const applyQueue = 64

// applyJob is one Ready's work for the applier, which takes jobs in Ready
// order.
type applyJob struct {
	snap *raftpb.Snapshot // installed first; nil when none
	ents []*raftpb.Entry  // committed entries
	done chan struct{}    // if set, closed once the job is applied
}

// applier applies committed entries on its own goroutine, so that applying
// one Ready (a SQLite commit, one fsync) overlaps with persisting the next
// (a badger sync): the state machine is a step behind the log, never
// ahead of it, since a Ready's entries reach the applier only after Save.
type applier struct {
	jobs chan applyJob
	stop chan struct{} // closed when the node stops: no new job starts
	done chan struct{} // closed when the applier has returned
	err  error         // why it returned, set before done closes
}

// loop is the Ready loop. An error from it or from the applier is fatal
// for the node.
func (n *Node) loop(ctx context.Context) error {
	ap := &applier{jobs: make(chan applyJob, applyQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go n.runApplier(ap)
	err := n.readyLoop(ctx, ap)
	close(ap.stop)
	<-ap.done
	if err == nil {
		err = ap.err
	}
	return err
}

func (n *Node) readyLoop(ctx context.Context, ap *applier) error {
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ap.done:
			return ap.err
		case <-t.C:
			n.rn.Tick()
		case rd := <-n.rn.Ready():
			if err := n.handleReady(rd, ap); err != nil {
				n.log.Error("ready loop stopped", "err", err)
				return err
			}
			n.rn.Advance()
		}
	}
}

func (n *Node) runApplier(ap *applier) {
	defer close(ap.done)
	for {
		select {
		case <-ap.stop:
			return // what is queued is committed and is applied after a restart
		case job := <-ap.jobs:
			if err := n.applyJob(job); err != nil {
				n.log.Error("applier stopped", "err", err)
				ap.err = err
				return
			}
			if job.done != nil {
				close(job.done)
			}
		}
	}
}

// hand queues job for the applier and, when wait is set, returns only
// once it is applied.
func (ap *applier) hand(job applyJob, wait bool) error {
	if wait {
		job.done = make(chan struct{})
	}
	select {
	case ap.jobs <- job:
	case <-ap.done:
		return fmt.Errorf("applier stopped: %w", ap.err)
	}
	if !wait {
		return nil
	}
	select {
	case <-job.done:
		return nil
	case <-ap.done:
		return fmt.Errorf("applier stopped: %w", ap.err)
	}
}

func (n *Node) handleReady(rd raft.Ready, ap *applier) error {
	if rd.SoftState != nil {
		if old := n.leader.Swap(rd.SoftState.Lead); old != rd.SoftState.Lead {
			n.log.Info("leader changed", "leader", rd.SoftState.Lead, "state", rd.SoftState.RaftState.String())
		}
	}

	// The failpoints fire only on Readies that have something for their
	// step, so a crash at "before apply" means entries were waiting.
	saving := !raft.IsEmptyHardState(rd.HardState) || len(rd.Entries) > 0 || !raft.IsEmptySnap(rd.Snapshot)

	// raft docs: hard state, entries and snapshot are durable before any
	// message of the same Ready is sent, except that a leader may send its
	// entries to the followers while it persists them (raft's doc.go;
	// Raft thesis 10.2.1): raft counts the leader's own copy towards a
	// quorum only once Advance says it is durable. So a leader whose term
	// and vote are already durable sends first; its disk and the
	// followers' then work at the same time.
	early := n.isLeader() && n.sameTermAndVote(rd.HardState)
	if early {
		n.tr.Send(rd.Messages)
	}
	// A leader's committed entries are all durable here already: raft
	// counts the leader's own copy only once a Save has returned, and a
	// Ready's entries are never committed in that same Ready. So they go
	// to the applier before this Ready's Save, as etcd's leader does. A
	// follower may learn entries and their commit in one message: its
	// committed entries wait for the Save below.
	applied := false
	if early && raft.IsEmptySnap(rd.Snapshot) && len(rd.CommittedEntries) > 0 && !slices.ContainsFunc(rd.CommittedEntries, isConfChange) {
		if err := n.toApplier(rd, ap); err != nil {
			return err
		}
		applied = true
	}
	if saving {
		evalFailpoint(fpBeforeSave)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		// The applier may be snapshotting on its own; the leader's
		// snapshot replaces the log only once it is done.
		if err := ap.hand(applyJob{}, true); err != nil {
			return err
		}
	}
	mustSync := rd.MustSync
	if n.cfg.Bugs.UnsyncedLog {
		mustSync = false
	}
	if err := n.store.Save(rd.HardState, rd.Entries, rd.Snapshot, mustSync); err != nil {
		return fmt.Errorf("save ready: %w", err)
	}
	if saving {
		evalFailpoint(fpAfterSave)
	}
	if !early {
		n.tr.Send(rd.Messages)
	}

	if !applied {
		if err := n.toApplier(rd, ap); err != nil {
			return err
		}
	}
	n.answerReads(rd.ReadStates)
	return nil
}

// toApplier hands rd's snapshot and committed entries to the applier.
// The failpoint before it is in the loop, so a stall there holds
// everything after this Ready: a follower has saved and acknowledged what
// it was sent, and takes nothing more until the stall ends (lag-follower,
// kill-all).
func (n *Node) toApplier(rd raft.Ready, ap *applier) error {
	if len(rd.CommittedEntries) == 0 && raft.IsEmptySnap(rd.Snapshot) {
		return nil
	}
	evalFailpoint(fpBeforeApply)
	job := applyJob{ents: rd.CommittedEntries}
	if !raft.IsEmptySnap(rd.Snapshot) {
		job.snap = rd.Snapshot
	}
	// A snapshot or a conf change must be in place before raft goes on
	// (etcd waits likewise): raft takes Advance as "applied".
	wait := job.snap != nil || slices.ContainsFunc(job.ents, isConfChange)
	return ap.hand(job, wait)
}

func isConfChange(e *raftpb.Entry) bool {
	return e.GetType() == raftpb.EntryConfChange || e.GetType() == raftpb.EntryConfChangeV2
}

// sameTermAndVote reports whether hs (a Ready's, possibly empty) changes
// neither term nor vote from what is durable.
func (n *Node) sameTermAndVote(hs *raftpb.HardState) bool {
	if raft.IsEmptyHardState(hs) {
		return true
	}
	old := n.store.HardState()
	return hs.GetTerm() == old.GetTerm() && hs.GetVote() == old.GetVote()
}

// applyJob applies one Ready's snapshot and committed entries, then
// snapshots the state machine if it is time.
func (n *Node) applyJob(job applyJob) error {
	if job.snap == nil && len(job.ents) == 0 {
		return nil
	}
	if job.snap != nil {
		if err := n.installSnapshot(job.snap); err != nil {
			return err
		}
	}
	if err := n.applyEntries(job.ents); err != nil {
		return err
	}
	evalFailpoint(fpAfterApply)
	return n.maybeSnapshot()
}

// installSnapshot replaces the state machine with a snapshot the leader
// sent; Save has already made it the LogStore's.
func (n *Node) installSnapshot(snap *raftpb.Snapshot) error {
	meta := snap.GetMetadata()
	if err := n.sm.Restore(snap.GetData()); err != nil {
		return fmt.Errorf("install snapshot %d: %w", meta.GetIndex(), err)
	}
	n.confState = meta.GetConfState()
	n.snapIndex = meta.GetIndex()
	n.snapShown.Store(n.snapIndex)
	n.installed.Add(1)
	n.lastInst.Store(meta.GetIndex())
	n.setApplied(meta.GetIndex())
	n.log.Info("installed snapshot from leader", "index", meta.GetIndex(), "term", meta.GetTerm())
	return nil
}

// applyEntries applies committed entries: runs of normal entries as one
// StateMachine.ApplyBatch (one SQLite transaction, one fsync), a conf
// change on its own. Invariant (exactly once): an entry at or below the
// applied index is already in the state machine and is skipped; the state
// machine stores the index with the entries' effects. Waiting proposals
// get their results only once the batch has committed.
func (n *Node) applyEntries(ents []*raftpb.Entry) error {
	var batch []Entry
	var pids []uint64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		res, err := n.sm.ApplyBatch(batch)
		if err != nil {
			return err
		}
		n.setApplied(batch[len(batch)-1].Index)
		for i, pid := range pids {
			if batch[i].Data != nil {
				n.deliver(pid, res[i])
			}
		}
		batch, pids = batch[:0], pids[:0]
		return nil
	}
	for _, e := range ents {
		idx := e.GetIndex()
		if idx <= n.applied.Load() {
			continue
		}
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) == 0 {
				// A new leader's empty entry.
				batch, pids = append(batch, Entry{Index: idx}), append(pids, 0)
				continue
			}
			pid, cmd, err := decodeEntry(e.GetData())
			if err != nil {
				return fmt.Errorf("apply %d: %w", idx, err)
			}
			batch, pids = append(batch, Entry{Index: idx, Data: cmd}), append(pids, pid)
		case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
			if err := flush(); err != nil {
				return err
			}
			if err := n.applyConfChange(e); err != nil {
				return fmt.Errorf("apply %d: %w", idx, err)
			}
			n.setApplied(idx)
		default:
			return fmt.Errorf("apply %d: unknown entry type %v", idx, e.GetType())
		}
	}
	return flush()
}

func (n *Node) applyConfChange(e *raftpb.Entry) error {
	var cc raftpb.ConfChangeI
	if e.GetType() == raftpb.EntryConfChange {
		c := &raftpb.ConfChange{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return fmt.Errorf("conf change: %w", err)
		}
		cc = c
	} else {
		c := &raftpb.ConfChangeV2{}
		if err := proto.Unmarshal(e.GetData(), c); err != nil {
			return fmt.Errorf("conf change: %w", err)
		}
		cc = c
	}
	n.confState = n.rn.ApplyConfChange(cc)
	// Durable before the index counts as applied: a restart skips it.
	if err := n.store.SaveConfState(n.confState); err != nil {
		return err
	}
	return n.sm.ApplyNoop(e.GetIndex())
}

// maybeSnapshot snapshots the state machine every SnapshotEvery applied
// entries and compacts the log behind it, keeping SnapshotMargin entries.
func (n *Node) maybeSnapshot() error {
	every := n.cfg.SnapshotEvery
	applied := n.applied.Load()
	if every == 0 || applied < n.snapIndex+every {
		return nil
	}
	data, smIndex, err := n.sm.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", applied, err)
	}
	// The applier is the only writer, so the copy reflects exactly applied
	// (the ForgetAppliedIndex bug makes the state machine report 0).
	if smIndex != applied && !n.cfg.Bugs.ForgetAppliedIndex {
		return fmt.Errorf("snapshot at %d: state machine reports applied index %d", applied, smIndex)
	}
	if _, err := n.store.CreateSnapshot(applied, n.confState, data); err != nil {
		return fmt.Errorf("snapshot at %d: %w", applied, err)
	}
	n.snapIndex = applied
	n.snapShown.Store(applied)
	first, err := n.store.FirstIndex()
	if err != nil {
		return err
	}
	if applied > n.cfg.SnapshotMargin {
		if to := applied - n.cfg.SnapshotMargin; to >= first {
			if err := n.store.Compact(to); err != nil {
				return fmt.Errorf("compact to %d: %w", to, err)
			}
		}
	}
	n.log.Info("snapshot", "index", applied, "bytes", len(data))
	return nil
}

func (n *Node) setApplied(idx uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.applied.Store(idx)
	close(n.appliedCh)
	n.appliedCh = make(chan struct{})
}

// waitApplied returns once the state machine has applied idx.
func (n *Node) waitApplied(ctx context.Context, idx uint64) error {
	for {
		n.mu.Lock()
		ch := n.appliedCh
		n.mu.Unlock()
		if n.applied.Load() >= idx {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// An entry's data is an 8-byte proposal id, by which the proposing node
// finds the waiting request, followed by the encoded Command. The id is
// random so that a restarted node never mistakes an old entry for one of
// its new proposals.
func encodeEntry(pid uint64, cmd []byte) []byte {
	b := make([]byte, 8, 8+len(cmd))
	binary.BigEndian.PutUint64(b, pid)
	return append(b, cmd...)
}

func decodeEntry(data []byte) (uint64, []byte, error) {
	if len(data) < 8 {
		return 0, nil, fmt.Errorf("entry of %d bytes has no proposal id", len(data))
	}
	return binary.BigEndian.Uint64(data), data[8:], nil
}

func (n *Node) deliver(pid uint64, res ExecResult) {
	n.mu.Lock()
	ch, ok := n.proposals[pid]
	delete(n.proposals, pid)
	n.mu.Unlock()
	if ok {
		ch <- res
	}
}

func (n *Node) answerReads(rs []raft.ReadState) {
	if len(rs) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range rs {
		if len(r.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(r.RequestCtx)
		if ch, ok := n.reads[id]; ok {
			ch <- r.Index
			delete(n.reads, id)
		}
	}
}

// errIndeterminate marks a failure after which the command may or may not
// be applied.
var errIndeterminate = errors.New("indeterminate")

// propose puts cmd in the log and waits until this node has applied it.
// Errors: errNotLeaderErr (certainly not proposed) or one wrapping
// errIndeterminate.
func (n *Node) propose(ctx context.Context, cmd []byte) (ExecResult, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	pid := rand.Uint64()
	ch := make(chan ExecResult, 1)
	n.mu.Lock()
	n.proposals[pid] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.proposals, pid)
		n.mu.Unlock()
	}()
	if err := n.rn.Propose(ctx, encodeEntry(pid, cmd)); err != nil {
		if errors.Is(err, raft.ErrProposalDropped) {
			return ExecResult{}, errNotLeaderErr
		}
		// A proposal handed to raft may already be in the log.
		return ExecResult{}, fmt.Errorf("%w: propose: %v", errIndeterminate, err)
	}
	if n.cfg.Bugs.AckBeforeCommit {
		// Seeded bug: acknowledge what is merely proposed.
		return ExecResult{}, nil
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return ExecResult{}, fmt.Errorf("%w: not applied within %v (leadership may have changed)", errIndeterminate, n.cfg.RequestTimeout)
	}
}

// readIndex waits until this node may serve a linearizable read: raft
// confirms (with a quorum of heartbeats) the commit index at the time of
// the request, and the state machine has applied it (raft docs, ReadIndex).
func (n *Node) readIndex(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	id := rand.Uint64()
	ch := make(chan uint64, 1)
	n.mu.Lock()
	n.reads[id] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.reads, id)
		n.mu.Unlock()
	}()
	rctx := binary.BigEndian.AppendUint64(nil, id)
	if err := n.rn.ReadIndex(ctx, rctx); err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	select {
	case idx := <-ch:
		if err := n.waitApplied(ctx, idx); err != nil {
			return fmt.Errorf("wait for applied index %d: %w", idx, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("read index not confirmed within %v", n.cfg.RequestTimeout)
	}
}
