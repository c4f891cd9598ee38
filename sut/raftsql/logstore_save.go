// logstore_save.go: the LogStore's writes (Save in crash-safe order, conf
// state, snapshots, compaction, close).

package raftsql

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// lockAll takes both locks, for a writer that holds the cache as it
// writes, and returns their unlock.
func (s *LogStore) lockAll() (unlock func()) {
	s.wmu.Lock()
	s.mu.Lock()
	return func() {
		s.mu.Unlock()
		s.wmu.Unlock()
	}
}

// sync makes the last commit durable, unless every commit already is.
func (s *LogStore) sync() error {
	if s.syncEach {
		return nil
	}
	if err := s.db.Sync(); err != nil {
		return s.setErr(fmt.Errorf("sync log store: %w", err))
	}
	return nil
}

// setErr makes err sticky and returns it.
func (s *LogStore) setErr(err error) error {
	s.err.Store(&err)
	return err
}

// writeOp is one badger mutation; Save builds a list of them in an order
// where every prefix is a valid state.
type writeOp struct {
	key, val []byte
	del      bool
}

// Save persists one Ready: a non-empty snapshot newer than the current one
// replaces the whole log (like MemoryStorage.ApplySnapshot), entries are
// appended after truncating any conflicting suffix (like
// MemoryStorage.Append), and hs, if not empty, is stored. All of it goes in
// one badger transaction; when sync is true (Ready.MustSync) it is fsynced
// before Save returns (raft docs: durable before messages are sent). A
// snapshot is always synced.
//
// If one transaction cannot hold the Ready, Save commits it in several, in an
// order that leaves a valid state at every crash point: the old suffix is
// deleted from the top down, new entries are written from the bottom up, and
// the final hard state comes last; with a snapshot, an interim hard state
// with commit = snapshot index is committed with the snapshot record so the
// stored commit never leaves [firstIndex-1, lastIndex] (raft panics on
// restart otherwise).
func (s *LogStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot, sync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// A snapshot rewrites the whole log: readers wait for it. Otherwise
	// they wait only while the cache is read and published (lock), and
	// the cache cannot change in between: only writers change it.
	lock, unlock := s.mu.Lock, s.mu.Unlock
	whole := !raft.IsEmptySnap(snap)
	if !whole {
		lock, unlock = s.mu.RLock, s.mu.RUnlock
	}
	lock()
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if err := s.check(); err != nil {
		return err
	}

	// Everything is checked before the first write. dummy and last are the
	// log's bounds as this Ready leaves them.
	dummy, last := s.dummy, s.last
	var meta *raftpb.SnapshotMetadata
	if !raft.IsEmptySnap(snap) {
		meta = snap.GetMetadata()
		if have := s.snap.meta.GetIndex(); have >= meta.GetIndex() {
			return fmt.Errorf("save snapshot %d, have %d: %w", meta.GetIndex(), have, raft.ErrSnapOutOfDate)
		}
		dummy, last = entryID{meta.GetIndex(), meta.GetTerm()}, meta.GetIndex()
	}
	ents, err := entriesToAppend(ents, dummy.index, last)
	if err != nil {
		return err
	}

	var ops []writeOp
	var newSnap *snapRecord
	if meta != nil {
		si := meta.GetIndex()
		rec, err := s.writeSnapshotFile(meta, snap.GetData())
		if err != nil {
			return err
		}
		newSnap = &rec
		for i := s.last; i > si; i-- { // entries after the snapshot: top down
			ops = append(ops, writeOp{key: entryKey(i), del: true})
		}
		interim := &raftpb.HardState{Term: new(s.hs.GetTerm()), Vote: new(s.hs.GetVote()), Commit: new(si)}
		if !raft.IsEmptyHardState(hs) {
			interim.Term, interim.Vote = new(hs.GetTerm()), new(hs.GetVote())
		}
		ops = append(ops,
			writeOp{key: keySnapshot, val: mustJSON(rec)},
			writeOp{key: keyDummy, val: encodeDummy(dummy)},
			writeOp{key: keyConfState, val: mustProto(cloneConfState(meta.GetConfState()))},
			writeOp{key: keyHardState, val: mustProto(interim)},
		)
		for i := s.dummy.index + 1; i <= min(s.last, si); i++ { // now garbage
			ops = append(ops, writeOp{key: entryKey(i), del: true})
		}
		sync = true
	}
	if len(ents) > 0 {
		for i := last; i >= ents[0].GetIndex(); i-- { // conflicting suffix: top down
			ops = append(ops, writeOp{key: entryKey(i), del: true})
		}
		for _, e := range ents { // new entries: bottom up
			ops = append(ops, writeOp{key: entryKey(e.GetIndex()), val: mustProto(e)})
		}
	}
	if raft.IsEmptyHardState(hs) && s.hsDirty && len(ents) > 0 {
		hs = s.hs // a commit index held back below rides along
	}
	if !raft.IsEmptyHardState(hs) {
		ops = append(ops, writeOp{key: keyHardState, val: mustProto(hs)})
	}
	if len(ops) == 0 {
		return nil
	}
	if !sync && s.syncEach && len(ents) == 0 && meta == nil {
		// Only the commit index moved (raft asks no sync for that), and
		// every write here is synced: keep it in the cache until a Save
		// that must sync carries a hard state. A restart that finds an
		// older commit index learns the newer one again (and raises it to
		// the applied index itself).
		if !whole {
			unlock()
			locked = false
			s.mu.Lock()
			defer s.mu.Unlock()
		}
		s.hs = proto.Clone(hs).(*raftpb.HardState)
		s.hsDirty = true
		return nil
	}
	if !whole {
		unlock()
		locked = false
	}

	if err := s.commit(ops); err != nil {
		return err
	}
	if sync && !s.syncEach {
		if err := s.db.Sync(); err != nil {
			return s.setErr(fmt.Errorf("sync log store: %w", err))
		}
	}

	// Durable: now the cache may show it.
	if !whole {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if newSnap != nil {
		old := s.snap.File
		s.snap = *newSnap
		s.cs = newSnap.meta.GetConfState()
		s.dummy, s.last, s.runs = dummy, dummy.index, nil
		s.recent.clear()
		s.hs = &raftpb.HardState{Term: new(s.hs.GetTerm()), Vote: new(s.hs.GetVote()), Commit: new(dummy.index)}
		s.hsDirty = false
		s.removeSnapshotFile(old)
	}
	if len(ents) > 0 {
		s.truncateRuns(ents[0].GetIndex())
		for _, e := range ents {
			s.addRun(e.GetIndex(), e.GetTerm())
		}
		s.last = ents[len(ents)-1].GetIndex()
		s.recent.appended(ents)
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
		s.hsDirty = false
	}
	return nil
}

// commit writes ops in one transaction when they fit, else in as few as
// needed, in order. A failure after a partial write makes the store refuse
// further use: its cache no longer matches the disk.
func (s *LogStore) commit(ops []writeOp) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	committed, pending := false, 0
	for i := 0; i < len(ops); {
		op := ops[i]
		var err error
		if op.del {
			err = txn.Delete(op.key)
		} else {
			err = txn.Set(op.key, op.val)
		}
		if errors.Is(err, badger.ErrTxnTooBig) && pending > 0 {
			if err := txn.Commit(); err != nil {
				return s.fail(committed, err)
			}
			committed, pending = true, 0
			txn = s.db.NewTransaction(true)
			continue // retry op in the new transaction
		}
		if err != nil {
			return s.fail(committed, err)
		}
		i++
		pending++
	}
	if err := txn.Commit(); err != nil {
		return s.fail(committed, err)
	}
	return nil
}

func (s *LogStore) fail(partial bool, err error) error {
	err = fmt.Errorf("write log store: %w", err)
	if partial {
		s.setErr(err)
	}
	return err
}

// entriesToAppend checks that ents are contiguous and attach to a log with
// the given bounds, and drops those at or below dummy (already compacted),
// like MemoryStorage.Append.
func entriesToAppend(ents []*raftpb.Entry, dummy, last uint64) ([]*raftpb.Entry, error) {
	for i := 1; i < len(ents); i++ {
		if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
			return nil, fmt.Errorf("entries not contiguous: %d follows %d", ents[i].GetIndex(), ents[i-1].GetIndex())
		}
	}
	if len(ents) == 0 {
		return nil, nil
	}
	if first := ents[0].GetIndex(); first <= dummy {
		if n := dummy - first + 1; n < uint64(len(ents)) {
			ents = ents[n:]
		} else {
			return nil, nil
		}
	}
	if first := ents[0].GetIndex(); first > last+1 {
		return nil, fmt.Errorf("append entries from %d: log ends at %d, entries missing", first, last)
	}
	return ents, nil
}

// cloneConfState copies cs (raftpb.EnsureConfState fills in the copy, never
// the caller's message, which the node may be reading).
func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	if cs == nil {
		return raftpb.EnsureConfState(nil)
	}
	return raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
}

// SaveConfState makes cs the conf state InitialState reports, durably. The
// node calls it after raft's ApplyConfChange and before recording the conf
// change's index as applied: a restart skips entries up to the applied index,
// so their conf changes must already be here.
func (s *LogStore) SaveConfState(cs *raftpb.ConfState) error {
	defer s.lockAll()()
	if err := s.check(); err != nil {
		return err
	}
	cs = cloneConfState(cs)
	if err := s.commit([]writeOp{{key: keyConfState, val: mustProto(cs)}}); err != nil {
		return err
	}
	if err := s.sync(); err != nil {
		return err
	}
	s.cs = cs
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index (which
// must be applied, hence in the log) with the given conf state and data. It
// returns raft.ErrSnapOutOfDate unless index is newer than the current
// snapshot. The log is not compacted; see Compact.
func (s *LogStore) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	defer s.lockAll()()
	if err := s.check(); err != nil {
		return nil, err
	}
	if index <= s.snap.meta.GetIndex() {
		return nil, fmt.Errorf("create snapshot %d, have %d: %w", index, s.snap.meta.GetIndex(), raft.ErrSnapOutOfDate)
	}
	if index > s.last {
		return nil, fmt.Errorf("create snapshot %d beyond last index %d: %w", index, s.last, raft.ErrUnavailable)
	}
	if index < s.dummy.index {
		return nil, fmt.Errorf("create snapshot %d: %w", index, raft.ErrCompacted)
	}
	term := s.dummy.term
	if index > s.dummy.index {
		term = s.termOf(index)
	}
	meta := &raftpb.SnapshotMetadata{
		ConfState: cloneConfState(cs),
		Index:     new(index),
		Term:      new(term),
	}
	rec, err := s.writeSnapshotFile(meta, data)
	if err != nil {
		return nil, err
	}
	if err := s.commit([]writeOp{{key: keySnapshot, val: mustJSON(rec)}}); err != nil {
		return nil, err
	}
	if err := s.sync(); err != nil {
		return nil, err
	}
	old := s.snap.File
	s.snap = rec
	s.removeSnapshotFile(old)
	return &raftpb.Snapshot{Metadata: proto.Clone(meta).(*raftpb.SnapshotMetadata), Data: data}, nil
}

// Compact discards the entries before index and keeps index as the dummy
// entry (its term stays answerable), like MemoryStorage.Compact. index must
// not pass the latest snapshot: entries neither in the log nor in a snapshot
// could never reach a lagging follower. Not synced: losing a compaction in a
// crash only leaves garbage behind.
func (s *LogStore) Compact(index uint64) error {
	defer s.lockAll()()
	if err := s.check(); err != nil {
		return err
	}
	if index <= s.dummy.index {
		return fmt.Errorf("compact to %d, first index %d: %w", index, s.dummy.index+1, raft.ErrCompacted)
	}
	if index > s.last {
		return fmt.Errorf("compact to %d beyond last index %d: %w", index, s.last, raft.ErrUnavailable)
	}
	if si := s.snap.meta.GetIndex(); index > si {
		return fmt.Errorf("compact to %d beyond the latest snapshot %d: create a snapshot first", index, si)
	}
	d := entryID{index, s.termOf(index)}
	ops := []writeOp{{key: keyDummy, val: encodeDummy(d)}}
	for i := s.dummy.index + 1; i <= index; i++ {
		ops = append(ops, writeOp{key: entryKey(i), del: true})
	}
	if err := s.commit(ops); err != nil {
		return err
	}
	s.compactRuns(index)
	s.recent.compacted(index)
	s.dummy = d
	return nil
}

// Close closes badger. Further calls return an error.
func (s *LogStore) Close() error {
	defer s.lockAll()()
	if s.closed {
		return nil
	}
	s.closed = true
	var flushErr error
	if s.hsDirty && s.err.Load() == nil {
		// A clean stop keeps the commit index Save held back.
		flushErr = s.commit([]writeOp{{key: keyHardState, val: mustProto(s.hs)}})
	}
	if err := errors.Join(flushErr, s.db.Close()); err != nil {
		return fmt.Errorf("close log store: %w", err)
	}
	return nil
}
