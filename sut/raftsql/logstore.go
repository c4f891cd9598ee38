package raftsql

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
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
// Concurrency: raft reads (Term, Entries, …) on whichever goroutine steps
// it (rawRaft) while the appender or a follower's Ready loop calls Save;
// one RWMutex orders them. The in-memory index (dummy, last,
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
	// until the appender's answer says they are durable, and raft never
	// asks Storage for those.
	wmu    sync.Mutex
	mu     sync.RWMutex
	err    atomic.Pointer[error] // sticky: a failed multi-step write leaves the cache unreliable
	closed bool
	// syncEach: badger fsyncs every commit itself (SyncWrites), which
	// syncs only its write-ahead log; DB.Sync would sync the value log
	// too, a second device flush for nothing (values stay below the
	// value threshold, so the value log is empty).
	syncEach bool
	// hsDirty: s.hs holds a commit index not yet written (see Save).
	hsDirty bool

	hs    *raftpb.HardState
	cs    *raftpb.ConfState // latest durable conf state; nil until one is saved
	snap  snapRecord
	dummy entryID // entries at or below dummy.index are compacted
	last  uint64  // index of the last entry; == dummy.index when the log is empty
	runs  []termRun
	// recent holds the log's newest entries, for Entries.
	recent recentEntries
}

type entryID struct{ index, term uint64 }

// termRun says entries from first on (until the next run) have term.
// Term is asked for constantly (every append is matched by term), so the
// terms live in memory; a run per leader change keeps it tiny.
type termRun struct{ first, term uint64 }

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
func OpenLogStore(dir string) (*LogStore, error) { return openLogStore(dir, true) }

// openLogStore opens the store; syncEach false is the seeded bug
// unsynced-log's store, which fsyncs nothing.
func openLogStore(dir string, syncEach bool) (*LogStore, error) {
	s := &LogStore{dir: dir, snapDir: filepath.Join(dir, "snapshots"), syncEach: syncEach}
	for _, d := range []string{dir, s.snapDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open log store: %w", err)
		}
	}
	db, err := badger.Open(badgerOptions(filepath.Join(dir, "badger")).WithSyncWrites(syncEach))
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
	if ents, ok := s.recent.get(lo, hi, maxSize); ok {
		return ents, nil
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
