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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Config is one replica's configuration; cmd/chaoscheck fills it from
// flags.
type Config struct {
	ID uint64
	// Peers maps every member's id to its raft transport address
	// (host:port), this node's own included: that is where it listens.
	Peers map[uint64]string
	// PeerAPIs maps members' ids to their client API addresses, so a
	// follower can forward /exec and /query to the leader. May be partial
	// or empty; then a follower answers "not leader".
	PeerAPIs map[uint64]string
	// API is the client API's listen address.
	API string
	// DataDir holds raft/ (LogStore) and state.db (StateMachine).
	DataDir string
	// SnapshotEvery is the number of applied entries between snapshots;
	// 0 never snapshots.
	SnapshotEvery uint64
	// SnapshotMargin is how many entries the log keeps behind a snapshot,
	// so a follower only slightly behind catches up from the log.
	SnapshotMargin uint64
	// Tick is raft's logical clock period; ElectionTicks and
	// HeartbeatTicks count in it.
	Tick           time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// RequestTimeout bounds how long /exec waits for its entry to apply
	// and /query for its read index; then the answer is indeterminate.
	RequestTimeout time.Duration
	Bugs           Bugs
	Logger         *slog.Logger
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.SnapshotMargin == 0 {
		c.SnapshotMargin = 10
	}
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return c
}

func (c Config) validate() error {
	if c.ID == 0 {
		return errors.New("node id must be > 0")
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("peers do not include this node (id %d)", c.ID)
	}
	if c.API == "" {
		return errors.New("no API address")
	}
	if c.DataDir == "" {
		return errors.New("no data dir")
	}
	return nil
}

// Node is one raftsql replica: the raft node, its two stores, the peer
// transport and the client API. Run drives it.
//
// The Ready loop (loop, handleReady) is the only writer of both stores,
// and follows the raft docs' order: persist, send, apply, Advance.
type Node struct {
	cfg   Config
	log   *slog.Logger
	store *LogStore
	sm    *StateMachine
	rn    raft.Node
	tr    *Transport
	fwd   *http.Client

	// Owned by the Ready loop.
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
	_ = peerSrv.Shutdown(shutCtx)
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
	if n.store, err = OpenLogStore(filepath.Join(cfg.DataDir, "raft")); err != nil {
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
// machine, which SQLite does fsync, i.e. entries up to the applied index;
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

// loop is the Ready loop. An error from it is fatal for the node.
func (n *Node) loop(ctx context.Context) error {
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.rn.Tick()
		case rd := <-n.rn.Ready():
			if err := n.handleReady(rd); err != nil {
				n.log.Error("ready loop stopped", "err", err)
				return err
			}
			n.rn.Advance()
		}
	}
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		if old := n.leader.Swap(rd.SoftState.Lead); old != rd.SoftState.Lead {
			n.log.Info("leader changed", "leader", rd.SoftState.Lead, "state", rd.SoftState.RaftState.String())
		}
	}

	// The failpoints fire only on Readies that have something for their
	// step, so a crash at "before apply" means entries were waiting.
	saving := !raft.IsEmptyHardState(rd.HardState) || len(rd.Entries) > 0 || !raft.IsEmptySnap(rd.Snapshot)
	applying := len(rd.CommittedEntries) > 0 || !raft.IsEmptySnap(rd.Snapshot)
	if saving {
		evalFailpoint(fpBeforeSave)
	}
	// raft docs: hard state, entries and snapshot are durable before any
	// message of the same Ready is sent.
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
	n.tr.Send(rd.Messages)

	if applying {
		evalFailpoint(fpBeforeApply)
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := n.installSnapshot(rd.Snapshot); err != nil {
			return err
		}
	}
	for _, e := range rd.CommittedEntries {
		if err := n.apply(e); err != nil {
			return err
		}
	}
	if applying {
		evalFailpoint(fpAfterApply)
	}
	n.answerReads(rd.ReadStates)
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

// apply applies one committed entry. Invariant (exactly once): an entry at
// or below the applied index is already in the state machine and is
// skipped; the state machine stores the index with the entry's effects.
func (n *Node) apply(e *raftpb.Entry) error {
	idx := e.GetIndex()
	if idx <= n.applied.Load() {
		return nil
	}
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) == 0 {
			// A new leader's empty entry.
			if err := n.sm.ApplyNoop(idx); err != nil {
				return fmt.Errorf("apply %d: %w", idx, err)
			}
			break
		}
		pid, cmd, err := decodeEntry(e.GetData())
		if err != nil {
			return fmt.Errorf("apply %d: %w", idx, err)
		}
		res, err := n.sm.Apply(idx, cmd)
		if err != nil {
			return fmt.Errorf("apply %d: %w", idx, err)
		}
		n.setApplied(idx)
		n.deliver(pid, res)
		return nil
	case raftpb.EntryConfChange, raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeI
		if e.GetType() == raftpb.EntryConfChange {
			c := &raftpb.ConfChange{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("apply %d: conf change: %w", idx, err)
			}
			cc = c
		} else {
			c := &raftpb.ConfChangeV2{}
			if err := proto.Unmarshal(e.GetData(), c); err != nil {
				return fmt.Errorf("apply %d: conf change: %w", idx, err)
			}
			cc = c
		}
		n.confState = n.rn.ApplyConfChange(cc)
		// Durable before idx counts as applied: a restart skips idx.
		if err := n.store.SaveConfState(n.confState); err != nil {
			return fmt.Errorf("apply %d: %w", idx, err)
		}
		if err := n.sm.ApplyNoop(idx); err != nil {
			return fmt.Errorf("apply %d: %w", idx, err)
		}
	default:
		return fmt.Errorf("apply %d: unknown entry type %v", idx, e.GetType())
	}
	n.setApplied(idx)
	return nil
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
	// The loop is the only writer, so the copy reflects exactly applied
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

// Bugs are defects a run can seed on purpose (--sut-bug NAME) to show that
// the checkers notice them. Each is one `if` in the real path.
type Bugs struct {
	ForgetAppliedIndex bool // state machine: applied index not stored with the data
	NoDedup            bool // state machine: a retried request id applies again
	MemoryDedup        bool // state machine: dedup table lost on restart
	StaleRead          bool // /query served from local state, no ReadIndex, any node
	AckBeforeCommit    bool // /exec answered once proposed, before commit
	UnsyncedLog        bool // the log is never fsynced
	LocalLeaderRead    bool // /query on a node that believes it leads skips ReadIndex
}

var bugSetters = map[string]func(*Bugs){
	"forget-applied-index": func(b *Bugs) { b.ForgetAppliedIndex = true },
	"no-dedup":             func(b *Bugs) { b.NoDedup = true },
	"memory-dedup":         func(b *Bugs) { b.MemoryDedup = true },
	"stale-read":           func(b *Bugs) { b.StaleRead = true },
	"ack-before-commit":    func(b *Bugs) { b.AckBeforeCommit = true },
	"unsynced-log":         func(b *Bugs) { b.UnsyncedLog = true },
	"local-leader-read":    func(b *Bugs) { b.LocalLeaderRead = true },
}

// BugNames lists the names ParseBugs accepts, sorted.
func BugNames() []string {
	names := make([]string, 0, len(bugSetters))
	for k := range bugSetters {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ParseBugs turns --sut-bug names into Bugs; an unknown name is an error
// that lists the known ones.
func ParseBugs(names []string) (Bugs, error) {
	var b Bugs
	for _, name := range names {
		set, ok := bugSetters[strings.TrimSpace(name)]
		if !ok {
			return Bugs{}, fmt.Errorf("unknown SUT bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
		}
		set(&b)
	}
	return b, nil
}

// Names lists the bugs switched on.
func (b Bugs) Names() []string {
	var names []string
	for _, name := range BugNames() {
		var one Bugs
		bugSetters[name](&one)
		if b.ForgetAppliedIndex && one.ForgetAppliedIndex || b.NoDedup && one.NoDedup || b.MemoryDedup && one.MemoryDedup ||
			b.StaleRead && one.StaleRead || b.AckBeforeCommit && one.AckBeforeCommit || b.UnsyncedLog && one.UnsyncedLog ||
			b.LocalLeaderRead && one.LocalLeaderRead {
			names = append(names, name)
		}
	}
	return names
}

func (b Bugs) stateMachineOptions() Options {
	return Options{ForgetAppliedIndex: b.ForgetAppliedIndex, NoDedup: b.NoDedup, MemoryDedup: b.MemoryDedup}
}

// ParseAddrs parses "1=127.0.0.1:7101,2=127.0.0.1:7102" into id → address.
// Addresses must be on 127.0.0.1 (or localhost): nodes never listen
// beyond the loopback interface.
func ParseAddrs(s string) (map[uint64]string, error) {
	m := map[uint64]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%q: node id must be a positive integer", part)
		}
		if err := CheckLoopback(addr); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("node id %d given twice", id)
		}
		m[id] = addr
	}
	return m, nil
}

// FormatAddrs is the inverse of ParseAddrs, in id order.
func FormatAddrs(m map[uint64]string) string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d=%s", id, m[id])
	}
	return strings.Join(parts, ",")
}

// CheckLoopback accepts host:port addresses on the loopback interface.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("bad port %q", port)
	}
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("host %q is not a loopback address (nodes listen on 127.0.0.1 only)", host)
		}
	}
	return nil
}
