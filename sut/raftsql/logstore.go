package raftsql

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	badgeropts "github.com/dgraph-io/badger/v4/options"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// LogStore is the durable raft state of one replica: the log, the hard
// state, the conf state and the latest snapshot. It implements
// raft.Storage.
//
// Layout of dir:
//
//	badger/                     keys below, one badger database
//	snapshots/<term>-<index>.snap   data of the latest snapshot (one file)
//
// Keys: "hs" HardState, "cs" ConfState, "snap" snapshot record,
// "dummy" the (index, term) of the entry just before the first one kept
// (raft's "dummy entry": the last compacted or snapshotted entry), and
// "e"+8-byte big-endian index for each entry. Keys "e…" at or below dummy are
// garbage left by a crash and are removed at open.
//
// Snapshot data goes in a file, not badger: it can be several MB (a SQLite
// database), larger than a badger transaction may be (15% of the memtable),
// and it would bloat badger's value log until garbage collection. The file is
// written atomically (temp, fsync, rename, fsync dir) before the badger record
// that names it commits, so a record never names a missing file; a CRC in
// the record catches a damaged one.
//
// Durability: badger runs with SyncWrites off and Save calls db.Sync() when
// asked (Ready.MustSync). raft only requires a sync when term, vote or
// entries change; commit-index-only Readies are frequent and need none.
// Badger's write-ahead log is a memory-mapped file, so even an unsynced
// commit survives a kill -9 of the process; fsync is what survives power
// loss. Values stay below ValueThreshold (1 MB) so entries live in the one
// write-ahead log and a crash keeps a prefix of the commits.
//
// Concurrency: raft's goroutine reads (Term, Entries, …) while the Ready
// loop calls Save; one RWMutex orders them. The in-memory index (dummy, last,
// term runs) changes only after a write has committed.
type LogStore struct {
	dir     string
	snapDir string
	db      *badger.DB

	// wmu admits one writer at a time; mu guards the cache below. Save
	// holds mu only to read and to publish the cache, not while it writes
	// and fsyncs: raft's goroutine reads terms and entries all the time
	// (each MsgApp it sends, each MsgAppResp it matches) and must not
	// wait out a sync. The entries a Save writes are raft's unstable ones
	// until Advance, which raft never asks Storage for.
	wmu    sync.Mutex
	mu     sync.RWMutex
	err    atomic.Pointer[error] // sticky: a failed multi-step write leaves the cache unreliable
	closed bool

	hs    *raftpb.HardState
	cs    *raftpb.ConfState // latest durable conf state; nil until one is saved
	snap  snapRecord
	dummy entryID // entries at or below dummy.index are compacted
	last  uint64  // index of the last entry; == dummy.index when the log is empty
	runs  []termRun
}

type entryID struct{ index, term uint64 }

// termRun says entries from first on (until the next run) have term.
// Term is asked for constantly (every append is matched by term), so the
// terms live in memory; a run per leader change keeps it tiny.
type termRun struct{ first, term uint64 }

// snapRecord is the badger value naming the snapshot file.
type snapRecord struct {
	Meta []byte `json:"meta"` // raftpb.SnapshotMetadata, protobuf
	File string `json:"file"` // base name in snapshots/, "" when no snapshot
	Size int64  `json:"size"`
	CRC  uint32 `json:"crc"` // crc32 (Castagnoli) of the data

	meta *raftpb.SnapshotMetadata
}

var (
	keyHardState = []byte("hs")
	keyConfState = []byte("cs")
	keySnapshot  = []byte("snap")
	keyDummy     = []byte("dummy")
	entryPrefix  = []byte("e")
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errLogStoreClosed is returned by every method after Close.
var errLogStoreClosed = errors.New("log store is closed")

func entryKey(index uint64) []byte {
	k := make([]byte, 1+8)
	k[0] = entryPrefix[0]
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

// OpenLogStore opens (or creates) the log store in dir.
func OpenLogStore(dir string) (*LogStore, error) {
	s := &LogStore{dir: dir, snapDir: filepath.Join(dir, "snapshots")}
	for _, d := range []string{dir, s.snapDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open log store: %w", err)
		}
	}
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "badger")))
	if err != nil {
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	if err := s.removeStraySnapshots(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	return s, nil
}

// badgerOptions sizes badger for a small process: three replicas, a
// coordinator and the runner share a laptop. A 16 MB memtable allows 2.4 MB
// per transaction, more than a Ready holds with raft's default message
// sizes; Save splits safely when one does not fit.
func badgerOptions(path string) badger.Options {
	return badger.DefaultOptions(path).
		WithLogger(badgerLogger{slog.Default().With("component", "badger")}).
		WithSyncWrites(false).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithValueLogFileSize(32 << 20).
		WithValueThreshold(1 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithNumGoroutines(1).
		WithCompression(badgeropts.None).
		WithMetricsEnabled(false).
		WithDetectConflicts(false) // one writer: the Ready loop
}

// load rebuilds the in-memory state from badger.
func (s *LogStore) load() error {
	var garbage [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		if v, ok, err := get(txn, keyHardState); err != nil {
			return err
		} else if ok {
			hs := &raftpb.HardState{}
			if err := proto.Unmarshal(v, hs); err != nil {
				return fmt.Errorf("decode hard state: %w", err)
			}
			s.hs = hs
		}
		if v, ok, err := get(txn, keyConfState); err != nil {
			return err
		} else if ok {
			cs := &raftpb.ConfState{}
			if err := proto.Unmarshal(v, cs); err != nil {
				return fmt.Errorf("decode conf state: %w", err)
			}
			s.cs = cs
		}
		if v, ok, err := get(txn, keySnapshot); err != nil {
			return err
		} else if ok {
			rec, err := decodeSnapRecord(v)
			if err != nil {
				return err
			}
			s.snap = rec
		}
		if v, ok, err := get(txn, keyDummy); err != nil {
			return err
		} else if ok {
			if len(v) != 16 {
				return fmt.Errorf("decode dummy entry: %d bytes, want 16", len(v))
			}
			s.dummy = entryID{binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])}
		}
		s.last = s.dummy.index

		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: entryPrefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if len(k) != 9 {
				return fmt.Errorf("bad entry key %x", k)
			}
			idx := binary.BigEndian.Uint64(k[1:])
			if idx <= s.dummy.index {
				garbage = append(garbage, k)
				continue
			}
			if idx != s.last+1 {
				// Save deletes top-down and appends bottom-up, so every
				// crash leaves a contiguous log; a gap means damage.
				return fmt.Errorf("log has a gap: entry %d follows %d", idx, s.last)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("read entry %d: %w", idx, err)
			}
			e := &raftpb.Entry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return fmt.Errorf("decode entry %d: %w", idx, err)
			}
			if e.GetIndex() != idx {
				return fmt.Errorf("entry under key %d has index %d", idx, e.GetIndex())
			}
			s.addRun(idx, e.GetTerm())
			s.last = idx
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(garbage) > 0 {
		ops := make([]writeOp, len(garbage))
		for i, k := range garbage {
			ops[i] = writeOp{key: k, del: true}
		}
		if err := s.commit(ops); err != nil {
			return fmt.Errorf("remove compacted entries: %w", err)
		}
	}
	return nil
}

func get(txn *badger.Txn, key []byte) ([]byte, bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	}
	return v, true, nil
}

func decodeSnapRecord(v []byte) (snapRecord, error) {
	var rec snapRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("decode snapshot record: %w", err)
	}
	rec.meta = &raftpb.SnapshotMetadata{}
	if err := proto.Unmarshal(rec.Meta, rec.meta); err != nil {
		return rec, fmt.Errorf("decode snapshot metadata: %w", err)
	}
	if rec.File != "" && (strings.ContainsAny(rec.File, `/\`) || rec.File == "." || rec.File == "..") {
		return rec, fmt.Errorf("snapshot record names bad file %q", rec.File)
	}
	return rec, nil
}

// removeStraySnapshots deletes snapshot files no record names: temp files
// and files written just before a crash, or superseded ones whose removal
// was cut short.
func (s *LogStore) removeStraySnapshots() error {
	des, err := os.ReadDir(s.snapDir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.Name() == s.snap.File {
			continue
		}
		if err := os.Remove(filepath.Join(s.snapDir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (s *LogStore) addRun(index, term uint64) {
	if n := len(s.runs); n > 0 && s.runs[n-1].term == term {
		return
	}
	s.runs = append(s.runs, termRun{index, term})
}

// truncateRuns forgets the terms of entries at index and above.
func (s *LogStore) truncateRuns(index uint64) {
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first >= index })
	s.runs = s.runs[:i]
}

// compactRuns forgets terms of entries at index and below, keeping the run
// that covers index+1.
func (s *LogStore) compactRuns(index uint64) {
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first > index+1 })
	if i > 0 {
		i--
	}
	s.runs = append([]termRun(nil), s.runs[i:]...)
}

// termOf returns the term of an index in (dummy, last].
func (s *LogStore) termOf(index uint64) uint64 {
	i := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first > index })
	if i == 0 {
		return 0 // unreachable while runs cover (dummy, last]
	}
	return s.runs[i-1].term
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

// setErr makes err sticky and returns it.
func (s *LogStore) setErr(err error) error {
	s.err.Store(&err)
	return err
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
		hs = proto.Clone(s.hs).(*raftpb.HardState)
	}
	cs := s.cs
	if cs == nil {
		cs = s.snap.meta.GetConfState()
	}
	return hs, cloneConfState(cs), nil
}

// Entries implements raft.Storage: entries in [lo, hi), at least one if any,
// at most maxSize bytes (raft's measure, proto.Size) after the first.
func (s *LogStore) Entries(lo, hi, maxSize uint64) ([]*raftpb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	if lo <= s.dummy.index {
		return nil, raft.ErrCompacted
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("entries [%d, %d) beyond last index %d: %w", lo, hi, s.last, raft.ErrUnavailable)
	}
	if s.last == s.dummy.index {
		return nil, raft.ErrUnavailable
	}
	if lo >= hi {
		return nil, nil
	}
	ents := make([]*raftpb.Entry, 0, min(hi-lo, 64))
	var size uint64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: entryPrefix})
		defer it.Close()
		want := lo
		for it.Seek(entryKey(lo)); it.Valid() && want < hi; it.Next() {
			idx := binary.BigEndian.Uint64(it.Item().Key()[1:])
			if idx != want {
				break
			}
			e := &raftpb.Entry{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, e) }); err != nil {
				return fmt.Errorf("read entry %d: %w", idx, err)
			}
			size += uint64(proto.Size(e))
			if len(ents) > 0 && size > maxSize {
				return nil
			}
			ents = append(ents, e)
			want++
		}
		if want < hi {
			// The cache says [lo, hi) is in the log: badger lost an entry.
			return fmt.Errorf("entry %d missing from the log store", want)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ents, nil
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
	case i == s.dummy.index:
		return s.dummy.term, nil
	case i > s.last:
		return 0, raft.ErrUnavailable
	}
	return s.termOf(i), nil
}

// LastIndex implements raft.Storage.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last, s.check()
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
	return proto.Clone(s.hs).(*raftpb.HardState)
}

// SnapshotMetadata returns the latest snapshot's metadata without reading
// its data.
func (s *LogStore) SnapshotMetadata() *raftpb.SnapshotMetadata {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(raftpb.EnsureSnapshotMetadata(s.snap.meta)).(*raftpb.SnapshotMetadata)
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
	if !raft.IsEmptyHardState(hs) {
		ops = append(ops, writeOp{key: keyHardState, val: mustProto(hs)})
	}
	if len(ops) == 0 {
		return nil
	}
	if !whole {
		unlock()
		locked = false
	}

	if err := s.commit(ops); err != nil {
		return err
	}
	if sync {
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
		s.hs = &raftpb.HardState{Term: new(s.hs.GetTerm()), Vote: new(s.hs.GetVote()), Commit: new(dummy.index)}
		s.removeSnapshotFile(old)
	}
	if len(ents) > 0 {
		s.truncateRuns(ents[0].GetIndex())
		for _, e := range ents {
			s.addRun(e.GetIndex(), e.GetTerm())
		}
		s.last = ents[len(ents)-1].GetIndex()
	}
	if !raft.IsEmptyHardState(hs) {
		s.hs = proto.Clone(hs).(*raftpb.HardState)
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
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check(); err != nil {
		return err
	}
	cs = cloneConfState(cs)
	if err := s.commit([]writeOp{{key: keyConfState, val: mustProto(cs)}}); err != nil {
		return err
	}
	if err := s.db.Sync(); err != nil {
		return s.setErr(fmt.Errorf("sync log store: %w", err))
	}
	s.cs = cs
	return nil
}

// CreateSnapshot records a snapshot of the state machine at index (which
// must be applied, hence in the log) with the given conf state and data. It
// returns raft.ErrSnapOutOfDate unless index is newer than the current
// snapshot. The log is not compacted; see Compact.
func (s *LogStore) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if err := s.db.Sync(); err != nil {
		return nil, s.setErr(fmt.Errorf("sync log store: %w", err))
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
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.dummy = d
	return nil
}

// Close closes badger. Further calls return an error.
func (s *LogStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close log store: %w", err)
	}
	return nil
}

// writeSnapshotFile writes data atomically to snapshots/<term>-<index>.snap:
// temp file, fsync, rename, fsync of the directory (so the rename itself is
// durable before the record naming the file commits).
func (s *LogStore) writeSnapshotFile(meta *raftpb.SnapshotMetadata, data []byte) (snapRecord, error) {
	meta = raftpb.EnsureSnapshotMetadata(proto.Clone(meta).(*raftpb.SnapshotMetadata))
	name := fmt.Sprintf("%016x-%016x.snap", meta.GetTerm(), meta.GetIndex())
	if err := writeFileAtomic(filepath.Join(s.snapDir, name), data); err != nil {
		return snapRecord{}, fmt.Errorf("write snapshot: %w", err)
	}
	return snapRecord{
		Meta: mustProto(meta),
		File: name,
		Size: int64(len(data)),
		CRC:  crc32.Checksum(data, crcTable),
		meta: meta,
	}, nil
}

// removeSnapshotFile deletes a superseded snapshot file. A failure only
// leaves a stray file that the next open removes, so it is logged, not
// returned.
func (s *LogStore) removeSnapshotFile(name string) {
	if name == "" || name == s.snap.File {
		return
	}
	if err := os.Remove(filepath.Join(s.snapDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("remove old snapshot", "file", name, "err", err)
	}
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, complete.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func encodeDummy(d entryID) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, d.index)
	binary.BigEndian.PutUint64(b[8:], d.term)
	return b
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

// badgerLogger routes badger's log through slog; its Info chatter (table
// compactions, value log replays) is debug-level for a test node.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...)))
}
