package raftsql

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// LogStore is the durable raft state of one replica: the log, the hard
// state, the conf state and the latest snapshot. It implements
// raft.Storage, shaped like etcd's: an append-only WAL file for
// durability, and the whole log since the last compaction in memory (as in
// raft.MemoryStorage), so Entries and Term never touch the disk.
//
// Layout of dir:
//
//	<generation>.wal                the WAL file (16 hex digits: one file, the newest generation)
//	snapshots/<term>-<index>.snap   data of the latest snapshot (one file)
//	LOCK                            flock'd while the store is open
//
// The WAL file is a sequence of CRC-checked, length-prefixed records
// grouped in batches (logstore_wal.go): a file header, then records of
// hard state, conf state, snapshot, "snapshot installed: the log is
// replaced", compaction (the dummy entry) and entries. Each write (one
// Save, one SaveConfState, …) is one batch, written with ONE pwrite and,
// when durability is asked, ONE fdatasync, in the calling goroutine: no
// hand-off to another goroutine. Open replays the newest generation; a
// batch cut short by a crash at the end is truncated away and logged, a
// file damaged in the middle is refused (logstore_replay.go says how the
// two are told apart).
//
// Compaction bounds the file: when Compact finds it larger than
// walRewriteAt, it writes the whole state as a new generation (temp file,
// fsync, rename, fsync dir, then the old one is removed;
// logstore_generation.go), so a crash at any point leaves one complete
// generation, which open uses.
//
// Snapshot data goes in a file of its own, not the WAL: it can be several
// MB (a SQLite database) and would make every rewrite copy it. The file is
// written atomically (temp, fsync, rename, fsync dir) before the WAL
// record that names it, so a record never names a missing file; a CRC in
// the record catches a damaged one.
//
// Durability: Save fdatasyncs when asked (Ready.MustSync: raft requires it
// when term, vote or entries change); a Ready that only moves the commit
// index is held back in memory (see Save). An unsynced write survives a
// kill -9 of the process (it is in the kernel's page cache); fdatasync is
// what survives a power cut. The store the seeded bug unsynced-log uses
// (syncEach false) never fdatasyncs its WAL.
//
// A data dir made by the badger-backed LogStore of earlier builds (a
// badger/ subdirectory) is refused at open, never opened empty: that would
// lose every acknowledged write it holds.
//
// Concurrency: raft reads (Term, Entries, …) on whichever goroutine steps
// it (rawRaft) while the appender or a follower's Ready loop calls Save.
// wmu admits one writer at a time; mu guards the in-memory state, which
// only a writer holding wmu changes, and only after its write is durable.
type LogStore struct {
	dir     string
	snapDir string
	lock    *os.File // dir/LOCK, flock'd: one process per store

	// wmu admits one writer at a time; mu guards the cache below. A
	// writer holds mu only to publish, not while it writes and syncs:
	// raft's goroutine reads terms and entries all the time (each MsgApp
	// it sends, each MsgAppResp it matches) and must not wait out a sync.
	// The entries a Save writes are raft's unstable ones until the
	// appender's answer says they are durable, and raft never asks
	// Storage for those. A writer may read the cache without mu: only
	// writers change it.
	wmu    sync.Mutex
	mu     sync.RWMutex
	err    atomic.Pointer[error] // sticky: after a failed write the file and the cache may disagree
	closed bool

	// Writer's own state (wmu).
	syncEach bool     // false: the unsynced-log bug's store, which never fdatasyncs
	hsDirty  bool     // hs holds a commit index not yet written (see Save)
	syncs    int      // fdatasyncs of the WAL so far (tests: the unsynced store makes none)
	wal      *walFile // the generation writes append to
	batch    uint64   // number of the last batch written
	enc      walBatch // reused buffer of Save's batch
	encSizes []int    // reused: sizes of the entries Save encodes
	// rewriteAt is the file size from which Compact writes a new
	// generation; afterStep, if set, is called after each step of that
	// rewrite (tests crash the process there).
	rewriteAt int64
	afterStep func(step string)

	hs    *raftpb.HardState
	cs    *raftpb.ConfState // latest durable conf state; nil until one is saved
	snap  snapRecord
	dummy entryID         // entries at or below dummy.index are compacted
	ents  []*raftpb.Entry // the log: indexes dummy.index+1 …; raft's own entries, never changed
	sizes []int           // proto.Size of each of ents
	bytes int64           // sum of sizes
}

// walRewriteAt: a new generation once the WAL file passes 8 MB (and holds
// more than twice what a rewrite would write). The rewrite writes only what
// is retained, which right after a compaction is little, so its cost does
// not grow with the threshold; the threshold bounds what open replays
// (8 MB: tens of ms) and the disk a replica uses (at most this plus one
// preallocation step). At the raftvsetcd benchmark's rate (about 200 bytes
// of WAL per write, 3000 writes/s) that is one rewrite every 13 s or so.
const walRewriteAt = 8 << 20

type entryID struct{ index, term uint64 }

// errLogStoreClosed is returned by every method after Close.
var errLogStoreClosed = errors.New("log store is closed")

// OpenLogStore opens (or creates) the log store in dir.
func OpenLogStore(dir string) (*LogStore, error) { return openLogStore(dir, true) }

// openLogStore opens the store; syncEach false is the seeded bug
// unsynced-log's store, which fsyncs nothing.
func openLogStore(dir string, syncEach bool) (*LogStore, error) {
	s := &LogStore{dir: dir, snapDir: filepath.Join(dir, "snapshots"), syncEach: syncEach, rewriteAt: walRewriteAt}
	if err := s.open(); err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	return s, nil
}

func (s *LogStore) open() error {
	if fi, err := os.Stat(filepath.Join(s.dir, "badger")); err == nil && fi.IsDir() {
		return errors.New("it holds a badger/ raft log written by an older chaoscheck build; this build keeps the raft log " +
			"in a WAL file and cannot read badger's (nothing was changed): start the replica on a new data dir, or with the build that made this one")
	}
	for _, d := range []string{s.dir, s.snapDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := s.takeLock(); err != nil {
		return err
	}
	gens, err := s.generations()
	if err != nil {
		return err
	}
	if len(gens) == 0 {
		if err := s.writeGeneration(1); err != nil {
			return err
		}
	} else if err := s.replay(gens[len(gens)-1]); err != nil {
		return err
	}
	for _, g := range gens[:max(len(gens)-1, 0)] {
		// Superseded: a crash came after the newer one was renamed into
		// place and before this was removed.
		if err := os.Remove(filepath.Join(s.dir, walName(g))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return s.removeStraySnapshots()
}

// takeLock flocks dir/LOCK: two processes appending to one WAL would
// interleave their batches.
func (s *LogStore) takeLock() error {
	f, err := os.OpenFile(filepath.Join(s.dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return errors.New("in use by another process (its LOCK is held)")
		}
		return fmt.Errorf("lock: %w", err)
	}
	s.lock = f
	return nil
}

// replay rebuilds the in-memory state from generation gen, truncates a
// torn tail, and leaves the file open for appends.
func (s *LogStore) replay(gen uint64) error {
	path := filepath.Join(s.dir, walName(gen))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	scan, err := readWAL(f, path, func(r walRecord) error { return s.replayRecord(r, gen) })
	if err != nil {
		f.Close()
		return err
	}
	if scan.torn != "" {
		// Everything past the last complete batch goes, zeros included;
		// the next write allocates ahead again.
		if err := f.Truncate(scan.end); err != nil {
			f.Close()
			return fmt.Errorf("truncate the torn end of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("truncate the torn end of %s: %w", path, err)
		}
		slog.Warn("raft log: removed an incomplete write at the end of the WAL (a crash cut it short; it was never acknowledged)",
			"component", "logstore", "file", path, "offset", scan.tornAt, "bytes", scan.size-scan.end, "why", scan.torn)
		scan.size = scan.end
	}
	s.wal = newWALFile(f, path, gen, scan.end, scan.size)
	s.batch = scan.batch
	return nil
}

// replayRecord applies one record of a complete batch to the in-memory
// state, refusing what no sequence of writes makes.
func (s *LogStore) replayRecord(r walRecord, gen uint64) error {
	switch r.kind {
	case recFileHeader:
		g, err := decodeFileHeader(r.payload)
		if err != nil {
			return err
		}
		if r.off != 0 || g != gen {
			return fmt.Errorf("header of generation %d at offset %d of generation %d's file", g, r.off, gen)
		}
	case recHardState:
		hs := &raftpb.HardState{}
		if err := proto.Unmarshal(r.payload, hs); err != nil {
			return err
		}
		s.hs = hs
	case recConfState:
		cs := &raftpb.ConfState{}
		if err := proto.Unmarshal(r.payload, cs); err != nil {
			return err
		}
		s.cs = cs
	case recSnapshot:
		rec, err := decodeSnapRecord(r.payload)
		if err != nil {
			return err
		}
		s.snap = rec
	case recInstall:
		id, err := decodeEntryID(r.payload)
		if err != nil {
			return err
		}
		s.installLog(id)
	case recCompact:
		id, err := decodeEntryID(r.payload)
		if err != nil {
			return err
		}
		if id.index <= s.dummy.index || id.index > s.lastIndex() {
			return fmt.Errorf("compaction to %d outside the log (%d, %d]", id.index, s.dummy.index, s.lastIndex())
		}
		if t := s.termOf(id.index); t != id.term {
			return fmt.Errorf("compaction to %d at term %d, the entry has term %d", id.index, id.term, t)
		}
		s.compactLog(id.index)
	case recEntry:
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(r.payload, e); err != nil {
			return err
		}
		if i := e.GetIndex(); i <= s.dummy.index || i > s.lastIndex()+1 {
			return fmt.Errorf("entry %d does not attach to the log (%d, %d]", i, s.dummy.index, s.lastIndex())
		}
		s.appendLog([]*raftpb.Entry{e}, []int{len(r.payload)})
	default:
		return fmt.Errorf("unknown record kind %d", r.kind)
	}
	return nil
}

// closeFiles releases what open took.
func (s *LogStore) closeFiles() error {
	var errs []error
	if s.wal != nil {
		errs = append(errs, s.wal.close())
		s.wal = nil
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // closing releases the flock
		s.lock = nil
	}
	return errors.Join(errs...)
}

// The in-memory log. Writers change it (holding wmu and mu); the slices
// raft got from Entries stay valid: a change never overwrites a slot that
// an earlier Entries result may share.

func (s *LogStore) lastIndex() uint64 { return s.dummy.index + uint64(len(s.ents)) }

// termOf returns the term of an index in [dummy, last].
func (s *LogStore) termOf(index uint64) uint64 {
	if index == s.dummy.index {
		return s.dummy.term
	}
	return s.ents[index-s.dummy.index-1].GetTerm()
}

// appendLog puts ents (contiguous, attaching to (dummy, last+1]) into the
// log, dropping any entry at or after the first of them.
func (s *LogStore) appendLog(ents []*raftpb.Entry, sizes []int) {
	k := int(ents[0].GetIndex() - s.dummy.index - 1)
	if k < len(s.ents) {
		for _, n := range s.sizes[k:] {
			s.bytes -= int64(n)
		}
		s.ents, s.sizes = slices.Clone(s.ents[:k]), slices.Clone(s.sizes[:k])
	}
	s.ents = append(s.ents, ents...)
	s.sizes = append(s.sizes, sizes...)
	for _, n := range sizes {
		s.bytes += int64(n)
	}
}

// compactLog drops the entries up to index (in (dummy, last]), which
// becomes the dummy entry.
func (s *LogStore) compactLog(index uint64) {
	k := int(index - s.dummy.index)
	s.dummy = entryID{index, s.termOf(index)}
	for _, n := range s.sizes[:k] {
		s.bytes -= int64(n)
	}
	s.ents, s.sizes = slices.Clone(s.ents[k:]), slices.Clone(s.sizes[k:])
}

// installLog replaces the log with an empty one after id.
func (s *LogStore) installLog(id entryID) {
	s.dummy, s.ents, s.sizes, s.bytes = id, nil, nil, 0
}

func (s *LogStore) check() error {
	if s.closed {
		return errLogStoreClosed
	}
	if err := s.err.Load(); err != nil {
		return *err
	}
	return nil
}

// InitialState implements raft.Storage. The conf state is the latest one
// saved with SaveConfState, else the snapshot's.
func (s *LogStore) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, nil, err
	}
	hs := &raftpb.HardState{}
	if s.hs != nil {
		hs = cloneHardState(s.hs)
	}
	cs := s.cs
	if cs == nil {
		cs = s.snap.meta.GetConfState()
	}
	return hs, cloneConfState(cs), nil
}

// Entries implements raft.Storage: entries in [lo, hi), at least one if any,
// at most maxSize bytes (raft's measure, proto.Size) after the first. The
// slice is the caller's to append to; the entries are shared and must not
// be changed (raft does not).
func (s *LogStore) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	last := s.lastIndex()
	if lo <= s.dummy.index {
		return nil, raft.ErrCompacted
	}
	if hi > last+1 {
		return nil, fmt.Errorf("entries [%d, %d) beyond last index %d: %w", lo, hi, last, raft.ErrUnavailable)
	}
	if last == s.dummy.index {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	a, b := int(lo-s.dummy.index-1), int(hi-s.dummy.index-1)
	size := uint64(s.sizes[a])
	for i := a + 1; i < b; i++ {
		if size += uint64(s.sizes[i]); size > maxSize {
			b = i
			break
		}
	}
	return slices.Clip(s.ents[a:b]), nil
}

// Term implements raft.Storage for i in [FirstIndex()-1, LastIndex()].
func (s *LogStore) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return 0, err
	}
	switch {
	case i < s.dummy.index:
		return 0, raft.ErrCompacted
	case i > s.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.termOf(i), nil
}

// LastIndex implements raft.Storage.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastIndex(), s.check()
}

// FirstIndex implements raft.Storage.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.dummy.index + 1, s.check()
}

// Snapshot implements raft.Storage: the latest snapshot with its data, read
// from its file and checked against the recorded size and CRC.
func (s *LogStore) Snapshot() (*raftpb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	snap := &raftpb.Snapshot{Metadata: proto.Clone(raftpb.EnsureSnapshotMetadata(s.snap.meta)).(*raftpb.SnapshotMetadata)}
	if s.snap.File == "" {
		return raftpb.EnsureSnapshot(snap), nil
	}
	data, err := os.ReadFile(filepath.Join(s.snapDir, s.snap.File))
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	if int64(len(data)) != s.snap.Size || crc32.Checksum(data, crcTable) != s.snap.CRC {
		return nil, fmt.Errorf("snapshot file %s is damaged: %d bytes, want %d with crc %08x",
			s.snap.File, len(data), s.snap.Size, s.snap.CRC)
	}
	snap.Data = data
	return snap, nil
}

// HardState returns the durable hard state (empty if none was saved).
func (s *LogStore) HardState() *raftpb.HardState {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.hs == nil {
		return &raftpb.HardState{}
	}
	return cloneHardState(s.hs)
}

// SnapshotMetadata returns the latest snapshot's metadata without reading
// its data.
func (s *LogStore) SnapshotMetadata() *raftpb.SnapshotMetadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(raftpb.EnsureSnapshotMetadata(s.snap.meta)).(*raftpb.SnapshotMetadata)
}

// cloneHardState copies hs without reflection (Save calls it per Ready).
func cloneHardState(hs *raftpb.HardState) *raftpb.HardState {
	return &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(hs.GetCommit())}
}

// cloneConfState copies cs (raftpb.EnsureConfState fills in the copy, never
// the caller's message, which the node may be reading).
func cloneConfState(cs *raftpb.ConfState) *raftpb.ConfState {
	if cs == nil {
		return raftpb.EnsureConfState(nil)
	}
	return raftpb.EnsureConfState(proto.Clone(cs).(*raftpb.ConfState))
}

// mustProto marshals raft's own messages; it cannot fail for them (no
// required fields, no invalid UTF-8 in bytes fields).
func mustProto(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", m, err))
	}
	return b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return b
}
