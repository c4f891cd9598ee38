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
	"runtime"
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
// raft is a RawNode behind a mutex (rawRaft): peer streams, handlers and
// the storage goroutines step it themselves and wake the Ready loop. raft
// runs with AsyncStorageWrites. The Ready loop (readyLoop, handleReady)
// only dispatches: messages to peers, MsgStorageAppend to the
// appender (runAppender), which persists to the LogStore and then sends
// the acknowledgements, MsgStorageApply to the applier (runApplier), which
// applies committed entries to the StateMachine in order and is the only
// writer of the state machine, of the conf state and of local snapshots.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *LogStore
	sm    *StateMachine
	rn    *rawRaft
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

	// A leader's applier leaves its SQLite transaction open for a while
	// (runApplier); a read waiting for the applied index makes it commit
	// at once: applyWaiters counts those reads, commitNow wakes it.
	applyWaiters atomic.Int32
	commitNow    chan struct{}
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
		commitNow: make(chan struct{}, 1),
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

	rl := raftLogger{&raft.DefaultLogger{Logger: log.New(os.Stderr, "raft ", log.LstdFlags|log.Lmicroseconds)}}
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
		// The Ready loop only dispatches; an appender and the applier
		// persist and apply (see handleReady).
		AsyncStorageWrites: true,
	}
	n.tr = NewTransport(n.cfg.ID, n.cfg.Peers, nil, n.log)
	if fresh {
		ids := n.memberIDs()
		peers := make([]raft.Peer, len(ids))
		for i, id := range ids {
			peers[i] = raft.Peer{ID: id}
		}
		n.log.Info("bootstrapping a new cluster", "members", ids)
		if n.rn, err = newRawRaft(c, peers); err != nil {
			return fmt.Errorf("start raft: %w", err)
		}
	} else if n.rn, err = newRawRaft(c, nil); err != nil {
		return fmt.Errorf("restart raft: %w", err)
	}
	n.tr.reporter = n.rn
	n.tr.Start()
	return nil
}

// raftLogger is raft's DefaultLogger without one Info line that
// AsyncStorageWrites makes routine: an append response that names entries
// an earlier response already made stable (raft's log_unstable.go). It
// came hundreds of times a second under load, each a write to node.log.
type raftLogger struct{ *raft.DefaultLogger }

const raftStaleStableMsg = "entry at index %d missing from unstable log; ignoring"

func (l raftLogger) Infof(format string, v ...any) {
	if format == raftStaleStableMsg {
		return
	}
	l.DefaultLogger.Infof(format, v...)
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
// the WAL's unsynced writes are in the kernel's page cache, which keeps
// them; a power cut would lose what was never synced. The model: after a crash
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

// applyQueue and appendQueue are how many storage messages may wait for
// the applier and the appender before the Ready loop waits for them.
const (
	applyQueue  = 64
	appendQueue = 64
)

// applyJob is one MsgStorageApply's work for the applier (or, with snap,
// the installation of a snapshot the appender has just saved), taken in
// order.
type applyJob struct {
	snap  *raftpb.Snapshot  // installed first; nil when none
	ents  []*raftpb.Entry   // committed entries
	resps []*raftpb.Message // delivered once the job is applied
	done  chan struct{}     // if set, closed once the job is applied
}

// applier applies committed entries on its own goroutine, so that applying
// (a SQLite commit) overlaps with persisting newer entries (a WAL
// fdatasync). raft hands it only entries this node holds durably (with
// AsyncStorageWrites, raft never applies from its unstable log), so the
// state machine is behind the log, never ahead of it.
type applier struct {
	jobs chan applyJob
	stop chan struct{} // closed when the node stops: no new job starts
	done chan struct{} // closed when the applier has returned
	err  error         // why it returned, set before done closes
}

// appender persists MsgStorageAppend messages in order on its own
// goroutine and then delivers their responses (the acknowledgements raft
// may send only once the entries are durable).
type appender struct {
	msgs   chan *raftpb.Message
	queued atomic.Int64 // messages handed over and not yet saved
	stop   chan struct{}
	done   chan struct{}
	err    error
}

// loop is the Ready loop. An error from it, the appender or the applier is
// fatal for the node.
func (n *Node) loop(ctx context.Context) error {
	ap := &applier{jobs: make(chan applyJob, applyQueue), stop: make(chan struct{}), done: make(chan struct{})}
	aw := &appender{msgs: make(chan *raftpb.Message, appendQueue), stop: make(chan struct{}), done: make(chan struct{})}
	go n.runApplier(ctx, ap)
	go n.runAppender(ctx, aw, ap)
	err := n.readyLoop(ctx, ap, aw)
	// The appender first: it may be waiting for the applier.
	close(aw.stop)
	<-aw.done
	close(ap.stop)
	<-ap.done
	if err == nil {
		err = errors.Join(aw.err, ap.err)
	}
	return err
}

func (n *Node) readyLoop(ctx context.Context, ap *applier, aw *appender) error {
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ap.done:
			return ap.err
		case <-aw.done:
			return aw.err
		case <-t.C:
			n.rn.Tick()
		case <-n.rn.wake:
		}
		for {
			rd, ok := n.rn.ready()
			if !ok {
				break
			}
			if err := n.handleReady(ctx, rd, ap, aw); err != nil {
				n.log.Error("ready loop stopped", "err", err)
				return err
			}
			// AsyncStorageWrites: no Advance; the storage messages'
			// responses tell raft what is durable and what is applied.
		}
	}
}

// runApplier applies the jobs the Ready loop hands over, in order.
//
// A leader applies at once and answers each client as soon as its
// entry's result is decided, but leaves the SQLite transaction open for
// up to leaderCommitDelay (or maxOpenEntries entries) so that one COMMIT
// serves many small batches; a read waiting for the applied index, a
// snapshot, a conf change or a waiting job commits it at once. The
// applied index moves only at the COMMIT, so a read never sees less than
// it waited for. A crash loses only uncommitted applies, which the raft
// log re-delivers (StateMachine.ApplyBatchOpen).
func (n *Node) runApplier(ctx context.Context, ap *applier) {
	defer close(ap.done)
	var commitBy *time.Timer // set while the state machine holds an open transaction
	defer func() {
		if commitBy != nil {
			commitBy.Stop()
		}
	}()
	commit := func() error {
		if commitBy != nil {
			commitBy.Stop()
			commitBy = nil
		}
		return n.commitApplied()
	}
	for {
		var deadline <-chan time.Time
		var now <-chan struct{}
		if commitBy != nil {
			deadline, now = commitBy.C, n.commitNow
		}
		var err error
		select {
		case <-ap.stop:
			return // what is queued is committed and is applied after a restart; Close commits what is open
		case <-deadline:
			err = commit()
		case <-now:
			err = commit()
		case job := <-ap.jobs:
			linger := followerApplyDelay
			if n.isLeader() {
				linger = 0
			}
			for _, job := range ap.group(job, linger) {
				open := linger == 0 && job.snap == nil && job.done == nil
				if err = n.applyJob(job, open); err != nil {
					break
				}
				n.deliver(ctx, job.resps)
				if job.done != nil {
					close(job.done)
				}
			}
			switch open := n.sm.OpenEntries(); {
			case err != nil:
			case open == 0:
				if commitBy != nil {
					commitBy.Stop()
					commitBy = nil
				}
			case open >= maxOpenEntries || n.applyWaiters.Load() > 0:
				err = commit()
			case commitBy == nil:
				commitBy = time.NewTimer(leaderCommitDelay)
			}
		}
		if err != nil {
			n.log.Error("applier stopped", "err", err)
			ap.err = err
			return
		}
	}
}

// How long, and for how many entries, a leader's applier keeps its
// SQLite transaction open (runApplier). Nobody waits for the COMMIT but
// reads, which ask for it; at a few thousand writes a second 5 ms gathers
// tens of entries per COMMIT instead of one or two.
const (
	leaderCommitDelay = 5 * time.Millisecond
	maxOpenEntries    = 512
)

// commitApplied commits what the applier left open and moves the applied
// index past it.
func (n *Node) commitApplied() error {
	idx, err := n.sm.CommitOpen()
	if err != nil {
		return err
	}
	if idx > n.applied.Load() {
		n.setApplied(idx)
	}
	return n.maybeSnapshot()
}

// group merges job with the plain jobs (entries only) queued behind it
// into one, so that they are applied as one batch (one SQLite commit);
// a job with a snapshot or a waiter stays on its own, after the merged
// one. With linger > 0 it also waits that long for more jobs.
func (ap *applier) group(job applyJob, linger time.Duration) []applyJob {
	if job.snap != nil || job.done != nil {
		return []applyJob{job}
	}
	var timeout <-chan time.Time
	if linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		timeout = t.C
	} else {
		// Let the goroutines about to hand more over (raft's) run first:
		// each SQLite commit writes its pages as a dozen syscalls.
		runtime.Gosched()
	}
	for range maxGroup {
		var next applyJob
		if timeout == nil {
			select {
			case next = <-ap.jobs:
			default:
				return []applyJob{job}
			}
		} else {
			select {
			case next = <-ap.jobs:
			case <-timeout:
				return []applyJob{job}
			case <-ap.stop:
				return []applyJob{job}
			}
		}
		if next.snap != nil || next.done != nil {
			return []applyJob{job, next}
		}
		// Clip: the slices are raft's, whose backing arrays an append
		// must not write into.
		job.ents = append(slices.Clip(job.ents), next.ents...)
		job.resps = append(slices.Clip(job.resps), next.resps...)
	}
	return []applyJob{job}
}

// followerApplyDelay is how long a follower's applier waits for more
// committed entries before it applies what it has: nobody waits for a
// follower's apply (clients wait on the leader; reads go through the
// leader's ReadIndex), and every SQLite commit costs a dozen syscalls
// (WAL frames, locks), so fewer, larger commits save CPU on a busy
// machine.
const followerApplyDelay = 5 * time.Millisecond

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

// handleReady dispatches one Ready (raft's AsyncStorageWrites: its doc.go,
// "Usage with Asynchronous Storage Writes"). Messages to peers go out at
// once: raft puts every message that needs this node's log durable first
// (a follower's MsgAppResp, a vote) among the responses of the
// MsgStorageAppend, which the appender delivers after its Save; a
// leader's MsgApp goes out while the leader persists the same entries
// (raft counts its own copy only once the appender answers). The
// MsgStorageAppend goes to the appender (a follower's is saved here when
// the appender is idle), the MsgStorageApply to the applier; each takes
// its messages in order.
func (n *Node) handleReady(ctx context.Context, rd raft.Ready, ap *applier, aw *appender) error {
	if rd.SoftState != nil {
		if old := n.leader.Swap(rd.SoftState.Lead); old != rd.SoftState.Lead {
			n.log.Info("leader changed", "leader", rd.SoftState.Lead, "state", rd.SoftState.RaftState.String())
		}
	}
	var apply, save *raftpb.Message
	var out []*raftpb.Message
	for _, m := range rd.Messages {
		switch m.GetTo() {
		case raft.LocalAppendThread:
			if aw.queued.Load() == 0 && !n.isLeader() {
				// A follower saves in this loop (below, after sending
				// the rest), as etcd's raft loop does: its
				// acknowledgement waits for the Save anyway, and a
				// hand-off to the appender is one more goroutine to wake
				// on the path of every write (raft keeps taking messages
				// meanwhile and batches them into the next Ready). Only
				// when the appender holds nothing older: Saves stay in
				// order.
				save = m
				continue
			}
			aw.queued.Add(1)
			select {
			case aw.msgs <- m:
			case <-aw.done:
				return fmt.Errorf("appender stopped: %w", aw.err)
			}
		case raft.LocalApplyThread:
			apply = m
		default:
			out = append(out, m)
		}
	}
	n.deliver(ctx, out)
	n.answerReads(rd.ReadStates)
	if save != nil {
		if err := n.persist(ctx, []*raftpb.Message{save}, ap); err != nil {
			return err
		}
	}
	if apply == nil {
		return nil
	}
	// The failpoint is in this loop, so a stall here holds everything
	// after this Ready: a follower has saved and acknowledged what the
	// appender holds, and takes nothing more until the stall ends
	// (lag-follower, kill-all).
	evalFailpoint(fpBeforeApply)
	return ap.hand(applyJob{ents: apply.GetEntries(), resps: apply.GetResponses()}, false)
}

// deliver sends msgs: those addressed to this node back into raft, the
// others to their peers.
func (n *Node) deliver(ctx context.Context, msgs []*raftpb.Message) {
	var out []*raftpb.Message
	for _, m := range msgs {
		if m.GetTo() == n.cfg.ID {
			// Fails only when the node is stopping.
			_ = n.rn.Step(ctx, m)
			continue
		}
		out = append(out, m)
	}
	n.tr.Send(out)
}

// maxGroup bounds how many queued storage messages one Save or one
// apply takes.
const maxGroup = 64

// runAppender persists MsgStorageAppend messages in order. Those queued
// together are saved together when they can be (group commit: one
// fsync), and their responses are delivered after that Save.
func (n *Node) runAppender(ctx context.Context, aw *appender, ap *applier) {
	defer close(aw.done)
	for {
		var group []*raftpb.Message
		select {
		case <-aw.stop:
			return
		case m := <-aw.msgs:
			group = append(group, m)
		}
	more:
		for len(group) < maxGroup {
			select {
			case m := <-aw.msgs:
				group = append(group, m)
			default:
				break more
			}
		}
		if err := n.persist(ctx, group, ap); err != nil {
			n.log.Error("appender stopped", "err", err)
			aw.err = err
			return
		}
		aw.queued.Add(-int64(len(group)))
	}
}

// persist saves msgs in order, merging neighbours into one Save where the
// result is the same as saving them one by one: no snapshot, entries that
// continue each other's, the newest hard state.
func (n *Node) persist(ctx context.Context, msgs []*raftpb.Message, ap *applier) error {
	var w storageWrite
	for _, m := range msgs {
		if !w.merge(m) {
			if err := n.save(ctx, w, ap); err != nil {
				return err
			}
			w = storageWrite{}
			w.merge(m)
		}
	}
	return n.save(ctx, w, ap)
}

// storageWrite is one Save's worth of MsgStorageAppend messages.
type storageWrite struct {
	hs    *raftpb.HardState
	ents  []*raftpb.Entry
	snap  *raftpb.Snapshot
	resps []*raftpb.Message
	n     int // messages merged
}

// merge adds m to w and reports true, or reports false and leaves w as it
// was when m cannot join it.
func (w *storageWrite) merge(m *raftpb.Message) bool {
	snap := m.GetSnapshot()
	if raft.IsEmptySnap(snap) {
		snap = nil
	}
	ents := m.GetEntries()
	if w.n > 0 {
		if snap != nil || w.snap != nil {
			return false
		}
		if len(ents) > 0 && len(w.ents) > 0 && ents[0].GetIndex() != w.ents[len(w.ents)-1].GetIndex()+1 {
			return false // m rewrites part of w's entries: save w first
		}
	}
	if m.Term != nil || m.Vote != nil || m.Commit != nil {
		w.hs = &raftpb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	}
	// Clip: the slices are raft's, whose backing arrays an append must
	// not write into.
	w.ents = append(slices.Clip(w.ents), ents...)
	w.snap = snap
	w.resps = append(slices.Clip(w.resps), m.GetResponses()...)
	w.n++
	return true
}

// save persists w, installs its snapshot into the state machine, and then
// delivers its responses. raft docs: everything a MsgStorageAppend carries
// is durable before its responses are delivered; raft asks no sync for a
// write that changes only the commit index (Ready.MustSync's rule, kept
// here).
func (n *Node) save(ctx context.Context, w storageWrite, ap *applier) error {
	if w.n == 0 {
		return nil
	}
	saving := !raft.IsEmptyHardState(w.hs) || len(w.ents) > 0 || w.snap != nil
	if saving {
		evalFailpoint(fpBeforeSave)
	}
	if w.snap != nil {
		// The applier may be snapshotting on its own; the leader's
		// snapshot replaces the log only once it is done.
		if err := ap.hand(applyJob{}, true); err != nil {
			return err
		}
	}
	sync := len(w.ents) > 0 || w.snap != nil || !n.sameTermAndVote(w.hs)
	if n.cfg.Bugs.UnsyncedLog {
		sync = false
	}
	hs := w.hs
	if hs == nil {
		hs = &raftpb.HardState{}
	}
	if err := n.store.Save(hs, w.ents, w.snap, sync); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if saving {
		evalFailpoint(fpAfterSave)
	}
	if w.snap != nil {
		// raft takes the MsgStorageAppendResp of a snapshot as "applied":
		// the state machine holds it before the responses go.
		if err := ap.hand(applyJob{snap: w.snap}, true); err != nil {
			return err
		}
	}
	n.deliver(ctx, w.resps)
	return nil
}

// sameTermAndVote reports whether hs (possibly empty) changes
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
func (n *Node) applyJob(job applyJob, open bool) error {
	if job.snap == nil && len(job.ents) == 0 {
		return nil
	}
	if job.snap != nil {
		if err := n.installSnapshot(job.snap); err != nil {
			return err
		}
	}
	if err := n.applyEntries(job.ents, open); err != nil {
		return err
	}
	evalFailpoint(fpAfterApply)
	if open {
		return nil // a snapshot needs the COMMIT: commitApplied
	}
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
// get their results once they are decided, just before the batch's SQLite
// COMMIT; the applied index, which reads wait for, moves after it. With
// open the last batch's transaction stays open (runApplier commits it).
func (n *Node) applyEntries(ents []*raftpb.Entry, open bool) error {
	var batch []Entry
	var pids []uint64
	flush := func(open bool) error {
		if len(batch) == 0 {
			return nil
		}
		// Waiting clients get their results as soon as they are decided,
		// before the SQLite COMMIT (ApplyBatchDecided); the rest (an
		// entry already applied) once the batch is done.
		answer := func(first int, res []ExecResult) {
			for k := range res {
				if batch[first+k].Data != nil {
					n.answer(pids[first+k], res[k])
				}
			}
		}
		apply := n.sm.ApplyBatchDecided
		if open {
			apply = n.sm.ApplyBatchOpen
		}
		res, err := apply(batch, answer)
		if err != nil {
			return err
		}
		if !open {
			n.setApplied(batch[len(batch)-1].Index)
		}
		answer(0, res)
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
			if err := flush(false); err != nil {
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
	return flush(open)
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
	n.applyWaiters.Add(1)
	defer n.applyWaiters.Add(-1)
	for {
		n.mu.Lock()
		ch := n.appliedCh
		n.mu.Unlock()
		if n.applied.Load() >= idx {
			return nil
		}
		// A leader's applier may hold idx in its open transaction.
		select {
		case n.commitNow <- struct{}{}:
		default:
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

// answer gives res to the client waiting for proposal pid, if it waits here.
func (n *Node) answer(pid uint64, res ExecResult) {
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
