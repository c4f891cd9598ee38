// logstore_save.go: the LogStore's writes (Save in crash-safe order, conf
// state, snapshots, compaction, close).

package raftsql

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// maxKeptBuffer: Save keeps its write buffer for the next Save up to this
// capacity; the buffer of a larger Ready is let go after its write.
const maxKeptBuffer = 1 << 20

// setErr makes err sticky and returns it.
func (s *LogStore) setErr(err error) error {
	s.err.Store(&err)
	return err
}

// writeBatch writes the batch b with one pwrite and, when sync is asked
// and this is not the unsynced-log bug's store, fdatasyncs the file, in
// the calling goroutine. A failure is sticky: the file may now hold part
// of the batch, which no later batch may follow, and after a failed
// fdatasync the page cache cannot be trusted either.
func (s *LogStore) writeBatch(b *walBatch, sync bool) error {
	if err := s.wal.write(b.finish()); err != nil {
		return s.setErr(fmt.Errorf("write log store: %w", err))
	}
	s.batch = b.batch
	if sync && s.syncEach {
		s.syncs++
		if err := s.wal.sync(); err != nil {
			return s.setErr(fmt.Errorf("sync log store: %w", err))
		}
	}
	return nil
}

// Save persists one Ready: a non-empty snapshot newer than the current one
// replaces the whole log (like MemoryStorage.ApplySnapshot), entries are
// appended after truncating any conflicting suffix (like
// MemoryStorage.Append), and hs, if not empty, is stored. All of it is one
// batch, one write; when sync is true (Ready.MustSync) it is fdatasynced
// before Save returns (raft docs: durable before messages are sent). A
// snapshot is always synced.
//
// Replay applies a batch whole or not at all, and the records are also in
// an order that leaves a valid state at every prefix: with a snapshot, the
// snapshot record, "snapshot installed" (the log becomes empty after the
// snapshot's index), its conf state and an interim hard state whose commit
// is the snapshot's index (the stored commit never leaves [firstIndex-1,
// lastIndex]: raft panics on restart otherwise); then the entries bottom
// up, each of which drops the conflicting suffix from its index on; the
// final hard state last.
//
// A hard state that only moves the commit index (sync false) is held back
// in memory, not written: the next Save that writes carries it, and a
// clean Close writes it. A crash keeps the older commit index, which raft
// relearns (and the node raises to its applied index).
func (s *LogStore) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot, sync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.check(); err != nil {
		return err
	}

	// Everything is checked before the first write. dummy and last are the
	// log's bounds as this Ready leaves them.
	dummy, last := s.dummy, s.lastIndex()
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
	if raft.IsEmptyHardState(hs) && s.hsDirty && len(ents) > 0 {
		hs = s.hs // a commit index held back below rides along
	}
	if meta == nil && len(ents) == 0 {
		if raft.IsEmptyHardState(hs) {
			return nil
		}
		if !sync && s.syncEach {
			// Only the commit index moved (raft asks no sync for that):
			// keep it in memory until a write carries a hard state.
			s.mu.Lock()
			s.hs = cloneHardState(hs)
			s.mu.Unlock()
			s.hsDirty = true
			return nil
		}
	}

	b := &s.enc
	b.reset(s.batch + 1)
	var newSnap *snapRecord
	var interim *raftpb.HardState
	if meta != nil {
		rec, err := s.writeSnapshotFile(meta, snap.GetData())
		if err != nil {
			return err
		}
		newSnap = &rec
		interim = &raftpb.HardState{Term: new(s.hs.GetTerm()), Vote: new(s.hs.GetVote()), Commit: new(meta.GetIndex())}
		if !raft.IsEmptyHardState(hs) {
			interim.Term, interim.Vote = new(hs.GetTerm()), new(hs.GetVote())
		}
		err = errors.Join(
			b.addBytes(recSnapshot, mustJSON(rec)),
			b.addEntryID(recInstall, dummy),
			addProto(b, recConfState, cloneConfState(meta.GetConfState())),
			addProto(b, recHardState, interim))
		if err != nil {
			return err
		}
		sync = true
	}
	sizes := s.encSizes[:0]
	for _, e := range ents {
		n, err := b.addProto(recEntry, e)
		if err != nil {
			return fmt.Errorf("save entry %d: %w", e.GetIndex(), err)
		}
		sizes = append(sizes, n)
	}
	s.encSizes = sizes
	if !raft.IsEmptyHardState(hs) {
		if err := addProto(b, recHardState, hs); err != nil {
			return err
		}
	}
	err = s.writeBatch(b, sync)
	if cap(b.buf) > maxKeptBuffer {
		*b = walBatch{}
	}
	if err != nil {
		return err
	}

	// Durable: now the cache may show it.
	s.mu.Lock()
	oldSnap := ""
	if newSnap != nil {
		oldSnap = s.snap.File
		s.snap = *newSnap
		s.cs = newSnap.meta.GetConfState()
		s.installLog(dummy)
		s.hs = interim
		s.hsDirty = false
	}
	if len(ents) > 0 {
		s.appendLog(ents, sizes)
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = cloneHardState(hs)
		s.hsDirty = false
	}
	s.mu.Unlock()
	s.removeSnapshotFile(oldSnap)
	return nil
}

func addProto(b *walBatch, kind recKind, m proto.Message) error {
	_, err := b.addProto(kind, m)
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

// SaveConfState makes cs the conf state InitialState reports, durably. The
// node calls it after raft's ApplyConfChange and before recording the conf
// change's index as applied: a restart skips entries up to the applied index,
// so their conf changes must already be here.
func (s *LogStore) SaveConfState(cs *raftpb.ConfState) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	cs = cloneConfState(cs)
	b := &s.enc
	b.reset(s.batch + 1)
	if err := addProto(b, recConfState, cs); err != nil {
		return err
	}
	if err := s.writeBatch(b, true); err != nil {
		return err
	}
	s.mu.Lock()
	s.cs = cs
	s.mu.Unlock()
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index (which
// must be applied, hence in the log) with the given conf state and data. It
// returns raft.ErrSnapOutOfDate unless index is newer than the current
// snapshot. The log is not compacted; see Compact. raft's reads go on
// while the snapshot file is written.
func (s *LogStore) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if index <= s.snap.meta.GetIndex() {
		return nil, fmt.Errorf("create snapshot %d, have %d: %w", index, s.snap.meta.GetIndex(), raft.ErrSnapOutOfDate)
	}
	if last := s.lastIndex(); index > last {
		return nil, fmt.Errorf("create snapshot %d beyond last index %d: %w", index, last, raft.ErrUnavailable)
	}
	if index < s.dummy.index {
		return nil, fmt.Errorf("create snapshot %d: %w", index, raft.ErrCompacted)
	}
	meta := &raftpb.SnapshotMetadata{
		ConfState: cloneConfState(cs),
		Index:     new(index),
		Term:      new(s.termOf(index)),
	}
	rec, err := s.writeSnapshotFile(meta, data)
	if err != nil {
		return nil, err
	}
	b := &s.enc
	b.reset(s.batch + 1)
	if err := b.addBytes(recSnapshot, mustJSON(rec)); err != nil {
		return nil, err
	}
	if err := s.writeBatch(b, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.snap.File
	s.snap = rec
	s.mu.Unlock()
	s.removeSnapshotFile(old)
	return &raftpb.Snapshot{Metadata: proto.Clone(meta).(*raftpb.SnapshotMetadata), Data: data}, nil
}

// Compact discards the entries before index and keeps index as the dummy
// entry (its term stays answerable), like MemoryStorage.Compact. index must
// not pass the latest snapshot: entries neither in the log nor in a snapshot
// could never reach a lagging follower. Synced, although losing a
// compaction in a crash would only leave garbage behind: every write the
// store makes is synced before the next one, which is what lets open tell
// a write torn by a crash from damage (logstore_replay.go). It costs one
// fdatasync per snapshot.
//
// When the WAL file has grown past rewriteAt (and holds more than twice
// what is retained), the compacted state is written as a new generation
// instead of a compaction record (writeGeneration), which bounds the file.
func (s *LogStore) Compact(index uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	if index <= s.dummy.index {
		return fmt.Errorf("compact to %d, first index %d: %w", index, s.dummy.index+1, raft.ErrCompacted)
	}
	if last := s.lastIndex(); index > last {
		return fmt.Errorf("compact to %d beyond last index %d: %w", index, last, raft.ErrUnavailable)
	}
	if si := s.snap.meta.GetIndex(); index > si {
		return fmt.Errorf("compact to %d beyond the latest snapshot %d: create a snapshot first", index, si)
	}
	k := int(index - s.dummy.index)
	retained := s.bytes + int64(len(s.ents)-k)*walHeaderSize
	for _, n := range s.sizes[:k] {
		retained -= int64(n)
	}
	rewrite := s.wal.end >= s.rewriteAt && s.wal.end > 2*retained
	if !rewrite {
		b := &s.enc
		b.reset(s.batch + 1)
		if err := b.addEntryID(recCompact, entryID{index, s.termOf(index)}); err != nil {
			return err
		}
		if err := s.writeBatch(b, true); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.compactLog(index)
	s.mu.Unlock()
	if rewrite {
		return s.writeGeneration(s.wal.gen + 1)
	}
	return nil
}

// Close writes a held-back commit index and closes the files. Further
// calls return an error.
func (s *LogStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var flushErr error
	if s.hsDirty && s.err.Load() == nil {
		// A clean stop keeps the commit index Save held back.
		b := &s.enc
		b.reset(s.batch + 1)
		flushErr = addProto(b, recHardState, s.hs)
		if flushErr == nil {
			flushErr = s.writeBatch(b, true)
		}
	}
	if err := errors.Join(flushErr, s.closeFiles()); err != nil {
		return fmt.Errorf("close log store: %w", err)
	}
	return nil
}
