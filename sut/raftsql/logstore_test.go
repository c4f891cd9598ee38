package raftsql

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var _ raft.Storage = (*LogStore)(nil)

func ent(index, term uint64) *raftpb.Entry {
	return &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryNormal.Enum(),
		Data: fmt.Appendf(nil, "entry %d@%d", index, term)}
}

// ents returns entries [lo, hi] all with term.
func ents(lo, hi, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := lo; i <= hi; i++ {
		out = append(out, ent(i, term))
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func openLog(t testing.TB, dir string) *LogStore {
	t.Helper()
	s, err := OpenLogStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustSave(t testing.TB, s *LogStore, hs *raftpb.HardState, es []*raftpb.Entry, snap *raftpb.Snapshot) {
	t.Helper()
	if err := s.Save(hs, es, snap, true); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

// logTerms describes the log as "first..last" and the term of each entry,
// e.g. "[3 3 4]" for entries 1..3; it fails the test on any storage error.
func logTerms(t testing.TB, s *LogStore) string {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var terms []string
	for i := first; i <= last; i++ {
		tm, err := s.Term(i)
		if err != nil {
			t.Fatalf("Term(%d): %v", i, err)
		}
		terms = append(terms, fmt.Sprint(tm))
	}
	if last >= first {
		es, err := s.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
		}
		for k, e := range es {
			if e.GetIndex() != first+uint64(k) || fmt.Sprint(e.GetTerm()) != terms[k] {
				t.Fatalf("entry %d is (%d, %d), Term says %s", first+uint64(k), e.GetIndex(), e.GetTerm(), terms[k])
			}
			if want := fmt.Sprintf("entry %d@%d", e.GetIndex(), e.GetTerm()); string(e.GetData()) != want {
				t.Fatalf("entry %d data %q, want %q", e.GetIndex(), e.GetData(), want)
			}
		}
	}
	return fmt.Sprintf("%d..%d %v", first, last, terms)
}

func TestLogStoreRecoversHardStateEntriesAndSnapshotAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	mustSave(t, s, hardState(2, 1, 3), ents(1, 5, 2), nil)
	if _, err := s.CreateSnapshot(3, &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("db at 3")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(2); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveConfState(&raftpb.ConfState{Voters: []uint64{1, 2, 3, 4}}); err != nil {
		t.Fatal(err)
	}
	before := logTerms(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openLog(t, dir)
	if got := logTerms(t, s); got != before || got != "3..5 [2 2 2]" {
		t.Errorf("log after reopen = %s, before %s, want 3..5 [2 2 2]", got, before)
	}
	hs, cs, err := s.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	if hs.GetTerm() != 2 || hs.GetVote() != 1 || hs.GetCommit() != 3 {
		t.Errorf("hard state after reopen = %v, want term 2 vote 1 commit 3", hs)
	}
	if fmt.Sprint(cs.GetVoters()) != "[1 2 3 4]" {
		t.Errorf("conf state after reopen = %v, want the one saved last, voters [1 2 3 4]", cs)
	}
	if tm, err := s.Term(2); err != nil || tm != 2 {
		t.Errorf("Term(2) of the dummy entry = %d, %v; want 2", tm, err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() != 3 || snap.GetMetadata().GetTerm() != 2 || string(snap.GetData()) != "db at 3" ||
		fmt.Sprint(snap.GetMetadata().GetConfState().GetVoters()) != "[1 2 3]" {
		t.Errorf("snapshot after reopen = %v", snap)
	}
}

func TestLogStoreEmptyStoreLooksLikeMemoryStorage(t *testing.T) {
	s := openLog(t, t.TempDir())
	ms := raft.NewMemoryStorage()
	for _, st := range []raft.Storage{ms, s} {
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		tm, err := st.Term(0)
		_, entErr := st.Entries(1, 1, 100)
		hs, cs, _ := st.InitialState()
		got := fmt.Sprintf("first=%d last=%d term0=%d,%v entries=%v hsEmpty=%v csVoters=%v",
			first, last, tm, err, entErr, raft.IsEmptyHardState(hs), cs.GetVoters())
		if want := "first=1 last=0 term0=0,<nil> entries=requested entry at index is unavailable hsEmpty=true csVoters=[]"; got != want {
			t.Errorf("%T: %s\nwant %s", st, got, want)
		}
	}
}

func TestLogStoreAppendTruncatesConflictingSuffix(t *testing.T) {
	tests := []struct {
		name    string
		initial []*raftpb.Entry
		compact uint64 // snapshot+compact to this index first, 0 for none
		append  []*raftpb.Entry
		want    string
		wantErr string
	}{
		{name: "append at the end", initial: ents(1, 3, 1), append: ents(4, 5, 2), want: "1..5 [1 1 1 2 2]"},
		{name: "conflict in the middle drops the old suffix", initial: ents(1, 5, 1), append: ents(3, 3, 2), want: "1..3 [1 1 2]"},
		{name: "conflict at the first entry", initial: ents(1, 3, 1), append: ents(1, 2, 3), want: "1..2 [3 3]"},
		{name: "overwrite and extend", initial: ents(1, 3, 1), append: ents(2, 6, 2), want: "1..6 [1 2 2 2 2 2]"},
		{name: "entries before the first index are ignored", initial: ents(1, 5, 1), compact: 3, append: ents(2, 6, 2), want: "4..6 [2 2 2]"},
		{name: "entries all compacted are ignored", initial: ents(1, 5, 1), compact: 4, append: ents(2, 4, 1), want: "5..5 [1]"},
		{name: "gap is refused", initial: ents(1, 3, 1), append: ents(5, 6, 1), wantErr: "entries missing", want: "1..3 [1 1 1]"},
		{name: "non-contiguous batch is refused", initial: ents(1, 3, 1), append: append(ents(4, 4, 1), ent(6, 1)), wantErr: "not contiguous", want: "1..3 [1 1 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openLog(t, dir)
			mustSave(t, s, nil, tt.initial, nil)
			if tt.compact > 0 {
				if _, err := s.CreateSnapshot(tt.compact, nil, []byte("x")); err != nil {
					t.Fatal(err)
				}
				if err := s.Compact(tt.compact); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Save(nil, tt.append, nil, true)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Save: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Save error = %v, want one containing %q", err, tt.wantErr)
			}
			if got := logTerms(t, s); got != tt.want {
				t.Errorf("log = %s, want %s", got, tt.want)
			}
			s.Close()
			if got := logTerms(t, openLog(t, dir)); got != tt.want {
				t.Errorf("log after reopen = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestLogStoreCompactMakesOldIndexesErrCompacted(t *testing.T) {
	s := openLog(t, t.TempDir())
	mustSave(t, s, hardState(1, 1, 10), ents(1, 10, 1), nil)
	if _, err := s.CreateSnapshot(6, nil, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Term below the dummy entry", func() error { _, err := s.Term(4); return err }, raft.ErrCompacted},
		{"Term of the dummy entry", func() error { _, err := s.Term(5); return err }, nil},
		{"Term past the end", func() error { _, err := s.Term(11); return err }, raft.ErrUnavailable},
		{"Entries from the dummy entry", func() error { _, err := s.Entries(5, 7, 1<<20); return err }, raft.ErrCompacted},
		{"Entries from the first index", func() error { _, err := s.Entries(6, 11, 1<<20); return err }, nil},
		{"Entries past the end", func() error { _, err := s.Entries(6, 12, 1<<20); return err }, raft.ErrUnavailable},
		{"Compact again to the same index", func() error { return s.Compact(5) }, raft.ErrCompacted},
		{"CreateSnapshot at the current snapshot", func() error { _, err := s.CreateSnapshot(6, nil, nil); return err }, raft.ErrSnapOutOfDate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("error = %v, want %v", err, tt.want)
			}
		})
	}
	if first, _ := s.FirstIndex(); first != 6 {
		t.Errorf("FirstIndex = %d, want 6", first)
	}
}

func TestLogStoreCompactRefusesToPassTheSnapshot(t *testing.T) {
	s := openLog(t, t.TempDir())
	mustSave(t, s, hardState(1, 1, 10), ents(1, 10, 1), nil)
	if _, err := s.CreateSnapshot(4, nil, []byte("snap")); err != nil {
		t.Fatal(err)
	}
	err := s.Compact(5)
	if err == nil || !strings.Contains(err.Error(), "beyond the latest snapshot") {
		t.Fatalf("Compact(5) with a snapshot at 4 = %v, want a refusal", err)
	}
	if got := logTerms(t, s); got != "1..10 [1 1 1 1 1 1 1 1 1 1]" {
		t.Errorf("log = %s, want it untouched", got)
	}
}

func TestLogStoreSnapshotAfterCreateSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	if snap, err := s.Snapshot(); err != nil || !raft.IsEmptySnap(snap) {
		t.Fatalf("Snapshot of a new store = %v, %v; want empty", snap, err)
	}
	mustSave(t, s, hardState(3, 1, 8), append(ents(1, 4, 2), ents(5, 8, 3)...), nil)
	data := bytes.Repeat([]byte("sqlite page "), 1<<18) // 3 MB, like a SQLite database
	cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	created, err := s.CreateSnapshot(6, cs, data)
	if err != nil {
		t.Fatal(err)
	}
	if created.GetMetadata().GetIndex() != 6 || created.GetMetadata().GetTerm() != 3 {
		t.Errorf("CreateSnapshot metadata = %v, want index 6 term 3", created.GetMetadata())
	}
	for _, reopen := range []bool{false, true} {
		if reopen {
			s.Close()
			s = openLog(t, dir)
		}
		got, err := s.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got.GetMetadata(), created.GetMetadata()) || !bytes.Equal(got.GetData(), data) {
			t.Errorf("reopen=%v: Snapshot = %v with %d bytes, want %v with %d bytes",
				reopen, got.GetMetadata(), len(got.GetData()), created.GetMetadata(), len(data))
		}
	}
	if _, err := s.CreateSnapshot(8, cs, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	if len(files) != 1 {
		t.Errorf("snapshot files = %v, want only the newest", files)
	}
}

func TestLogStoreSaveSnapshotReplacesTheLog(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	mustSave(t, s, hardState(1, 1, 3), ents(1, 5, 1), nil)
	snap := &raftpb.Snapshot{Data: []byte("leader's db at 20"), Metadata: &raftpb.SnapshotMetadata{
		Index: new(uint64(20)), Term: new(uint64(4)), ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, 3}}}}
	// raft: a Ready with a snapshot carries the hard state it implies and may
	// carry entries after it.
	mustSave(t, s, hardState(4, 0, 20), ents(21, 22, 4), snap)

	check := func(when string) {
		if got := logTerms(t, s); got != "21..22 [4 4]" {
			t.Errorf("%s: log = %s, want 21..22 [4 4]", when, got)
		}
		if tm, err := s.Term(20); err != nil || tm != 4 {
			t.Errorf("%s: Term(20) = %d, %v; want the snapshot's term 4", when, tm, err)
		}
		hs, cs, _ := s.InitialState()
		if hs.GetCommit() != 20 || hs.GetTerm() != 4 || fmt.Sprint(cs.GetVoters()) != "[1 2 3]" {
			t.Errorf("%s: InitialState = %v, %v", when, hs, cs)
		}
		got, err := s.Snapshot()
		if err != nil || string(got.GetData()) != "leader's db at 20" {
			t.Errorf("%s: Snapshot = %v, %v", when, got, err)
		}
	}
	check("before reopen")
	s.Close()
	s = openLog(t, dir)
	check("after reopen")

	old := &raftpb.Snapshot{Data: []byte("old"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(4))}}
	if err := s.Save(nil, nil, old, true); !errors.Is(err, raft.ErrSnapOutOfDate) {
		t.Errorf("Save of a snapshot not newer than the current one = %v, want ErrSnapOutOfDate", err)
	}
}

func TestLogStoreEntriesRespectsMaxSize(t *testing.T) {
	s := openLog(t, t.TempDir())
	mustSave(t, s, nil, ents(1, 10, 1), nil)
	size := uint64(proto.Size(ent(5, 1))) // every test entry has the same size
	tests := []struct {
		name    string
		lo, hi  uint64
		maxSize uint64
		want    int
	}{
		{"zero still returns one entry", 1, 11, 0, 1},
		{"just under two entries returns one", 1, 11, 2*size - 1, 1},
		{"exactly two entries", 1, 11, 2 * size, 2},
		{"unlimited returns the range", 3, 8, 1 << 62, 5},
		{"limit larger than the range", 3, 5, 100 * size, 2},
		{"empty range", 4, 4, 1 << 62, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Entries(tt.lo, tt.hi, tt.maxSize)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("Entries(%d, %d, %d) returned %d entries, want %d", tt.lo, tt.hi, tt.maxSize, len(got), tt.want)
			}
			for k, e := range got {
				if e.GetIndex() != tt.lo+uint64(k) {
					t.Errorf("entry %d has index %d", k, e.GetIndex())
				}
			}
		})
	}
}

// The same sequence of operations on LogStore and raft's MemoryStorage must
// answer every Storage call the same way.
func TestLogStoreAgreesWithMemoryStorage(t *testing.T) {
	s := openLog(t, t.TempDir())
	ms := raft.NewMemoryStorage()
	steps := []struct {
		name    string
		ents    []*raftpb.Entry
		snapAt  uint64
		compact uint64
	}{
		{name: "append 1..6", ents: ents(1, 6, 1)},
		{name: "conflict at 4", ents: ents(4, 7, 2)},
		{name: "snapshot at 5, compact 3", snapAt: 5, compact: 3},
		{name: "append 8..9", ents: ents(8, 9, 3)},
		{name: "conflict at 6", ents: ents(6, 6, 4)},
		{name: "snapshot at 6, compact 6", snapAt: 6, compact: 6},
		{name: "append 7..12", ents: ents(7, 12, 4)},
	}
	for _, st := range steps {
		if len(st.ents) > 0 {
			mustSave(t, s, nil, st.ents, nil)
			if err := ms.Append(st.ents); err != nil {
				t.Fatal(err)
			}
		}
		if st.snapAt > 0 {
			if _, err := s.CreateSnapshot(st.snapAt, nil, []byte("d")); err != nil {
				t.Fatal(err)
			}
			if _, err := ms.CreateSnapshot(st.snapAt, nil, []byte("d")); err != nil {
				t.Fatal(err)
			}
			if err := s.Compact(st.compact); err != nil {
				t.Fatal(err)
			}
			if err := ms.Compact(st.compact); err != nil {
				t.Fatal(err)
			}
		}
		want, got := describeStorage(ms), describeStorage(s)
		if got != want {
			t.Fatalf("after %s:\nLogStore      %s\nMemoryStorage %s", st.name, got, want)
		}
	}
}

func describeStorage(st raft.Storage) string {
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	var b strings.Builder
	fmt.Fprintf(&b, "first=%d last=%d", first, last)
	for i := uint64(0); i <= last+1; i++ {
		tm, err := st.Term(i)
		fmt.Fprintf(&b, " t%d=%d/%v", i, tm, err != nil)
	}
	for lo := uint64(1); lo <= last; lo++ {
		es, err := st.Entries(lo, last+1, 1<<62)
		fmt.Fprintf(&b, " e%d=%d/%v", lo, len(es), err)
	}
	snap, _ := st.Snapshot()
	fmt.Fprintf(&b, " snap=%d/%d", snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm())
	return b.String()
}

// A Ready larger than the write buffer Save keeps between writes is still
// one batch (one write), survives a reopen, and its buffer is let go.
func TestLogStoreSavesAReadyLargerThanItsWriteBuffer(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	// 4000 entries of 1 KB: four times the buffer Save keeps.
	big := ents(1, 4000, 1)
	for _, e := range big {
		e.Data = append(e.Data, bytes.Repeat([]byte{'.'}, 1024)...)
	}
	batch := s.batch
	if err := s.Save(hardState(1, 1, 4000), big, nil, true); err != nil {
		t.Fatal(err)
	}
	// Overwrite most of it: the conflicting suffix goes in the same batch.
	over := ents(10, 3000, 2)
	for _, e := range over {
		e.Data = append(e.Data, bytes.Repeat([]byte{'-'}, 1024)...)
	}
	if err := s.Save(hardState(2, 1, 9), over, nil, true); err != nil {
		t.Fatal(err)
	}
	if s.batch != batch+2 {
		t.Errorf("two Saves wrote %d batches, want one each", s.batch-batch)
	}
	if c := cap(s.enc.buf); c > maxKeptBuffer {
		t.Errorf("Save kept a write buffer of %d bytes, want at most %d", c, maxKeptBuffer)
	}
	s.Close()
	s = openLog(t, dir)
	if last, _ := s.LastIndex(); last != 3000 {
		t.Fatalf("LastIndex = %d, want 3000", last)
	}
	for _, i := range []uint64{1, 9, 10, 3000} {
		want := uint64(1)
		if i >= 10 {
			want = 2
		}
		if tm, err := s.Term(i); err != nil || tm != want {
			t.Errorf("Term(%d) = %d, %v; want %d", i, tm, err, want)
		}
	}
	es, err := s.Entries(1, 3001, 1<<62)
	if err != nil || len(es) != 3000 {
		t.Fatalf("Entries = %d entries, %v", len(es), err)
	}
	if hs, _, _ := s.InitialState(); hs.GetTerm() != 2 || hs.GetCommit() != 9 {
		t.Errorf("hard state = %v, want term 2 commit 9", hs)
	}
}

func TestLogStoreSnapshotOverALongLogReplacesIt(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	if err := s.Save(hardState(1, 1, 20000), ents(1, 30000, 1), nil, true); err != nil {
		t.Fatal(err)
	}
	snap := &raftpb.Snapshot{Data: []byte("db"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(25000)), Term: new(uint64(2))}}
	if err := s.Save(hardState(2, 0, 25001), ents(25001, 25001, 2), snap, true); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openLog(t, dir)
	if got := logTerms(t, s); got != "25001..25001 [2]" {
		t.Errorf("log = %s, want 25001..25001 [2]", got)
	}
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 25001 || hs.GetTerm() != 2 {
		t.Errorf("hard state = %v", hs)
	}
	if len(s.ents) != 1 || len(s.sizes) != 1 || s.bytes != int64(proto.Size(ent(25001, 2))) {
		t.Errorf("replay holds %d entries (%d sizes, %d bytes), want 1: the old log must be gone", len(s.ents), len(s.sizes), s.bytes)
	}
}

func TestLogStoreRemovesStraySnapshotFilesAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	mustSave(t, s, nil, ents(1, 3, 1), nil)
	if _, err := s.CreateSnapshot(2, nil, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What a crash leaves: a temp file and a renamed file whose record
	// never committed.
	for _, name := range []string{"0000000000000001-0000000000000003.snap", "x.snap.123.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, "snapshots", name), []byte("stray"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = openLog(t, dir)
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*"))
	if len(files) != 1 || !strings.HasSuffix(files[0], "0000000000000001-0000000000000002.snap") {
		t.Errorf("snapshot files after open = %v, want only the recorded one", files)
	}
	if snap, err := s.Snapshot(); err != nil || string(snap.GetData()) != "kept" {
		t.Errorf("Snapshot = %v, %v", snap, err)
	}
}

func TestLogStoreReportsADamagedSnapshotFile(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	mustSave(t, s, nil, ents(1, 3, 1), nil)
	if _, err := s.CreateSnapshot(2, nil, []byte("original data")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.snap"))
	if err := os.WriteFile(files[0], []byte("original dat4"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("Snapshot of a damaged file = %v, want an error saying so", err)
	}
}

func TestLogStoreRefusesUseAfterClose(t *testing.T) {
	s := openLog(t, t.TempDir())
	s.Close()
	if _, err := s.LastIndex(); !errors.Is(err, errLogStoreClosed) {
		t.Errorf("LastIndex after Close = %v", err)
	}
	if err := s.Save(hardState(1, 1, 0), nil, nil, true); !errors.Is(err, errLogStoreClosed) {
		t.Errorf("Save after Close = %v", err)
	}
}

// A single-node raft group run on LogStore: raft itself exercises the
// Storage contract (bootstrap, election, append, commit), and a restart
// from the same directory resumes where it stopped.
func TestLogStoreRunsARaftNodeAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var applied uint64
	run := func(bootstrap bool, proposals int) (commit uint64) {
		s := openLog(t, dir)
		defer s.Close()
		cfg := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
			MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16, Applied: applied,
			Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}}
		rn, err := raft.NewRawNode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if bootstrap {
			if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
				t.Fatal(err)
			}
		}
		proposed := 0
		for step := 0; step < 1000; step++ {
			if rn.Status().RaftState != raft.StateLeader {
				rn.Tick() // campaigns once the election timeout passes
			} else if proposed < proposals {
				if err := rn.Propose(fmt.Appendf(nil, "p%d", proposed)); err != nil {
					t.Fatal(err)
				}
				proposed++
			}
			if !rn.HasReady() {
				if proposed == proposals {
					break
				}
				continue
			}
			rd := rn.Ready()
			if err := s.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
				t.Fatal(err)
			}
			for _, e := range rd.CommittedEntries {
				if e.GetType() == raftpb.EntryConfChange {
					var cc raftpb.ConfChange
					if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
						t.Fatal(err)
					}
					if err := s.SaveConfState(rn.ApplyConfChange(&cc)); err != nil {
						t.Fatal(err)
					}
				}
				applied = e.GetIndex()
			}
			rn.Advance(rd)
		}
		return rn.Status().GetCommit()
	}
	c1 := run(true, 5)
	c2 := run(false, 5)
	// 1 conf change + 1 empty entry per term + 5 proposals per run.
	if c1 != 7 || c2 != 13 {
		t.Errorf("commit index after first run %d, after restart %d; want 7 and 13", c1, c2)
	}
	s := openLog(t, dir)
	es, err := s.Entries(1, 14, 1<<62)
	if err != nil || len(es) != 13 || string(es[12].GetData()) != "p4" {
		t.Errorf("log after restart: %d entries, %v; want 13 ending in p4", len(es), err)
	}
}

// crashHelperEnv makes the test binary act as a child that writes and then
// dies without closing anything, exiting with crashedAsPlanned.
const (
	crashHelperEnv   = "RAFTSQL_CRASH_HELPER"
	crashedAsPlanned = 42
)

func TestLogStoreKeepsSyncedSaveAcrossKill(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "logstore" {
		s, err := OpenLogStore(os.Getenv("RAFTSQL_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if err := s.Save(hardState(7, 2, 40), ents(1, 50, 7), nil, true); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(crashedAsPlanned) // no Close: as if killed
	}
	dir := t.TempDir()
	runCrashHelper(t, "logstore", dir, "TestLogStoreKeepsSyncedSaveAcrossKill")
	s := openLog(t, dir)
	if last, _ := s.LastIndex(); last != 50 {
		t.Errorf("LastIndex after the writer died = %d, want 50", last)
	}
	if hs, _, _ := s.InitialState(); hs.GetTerm() != 7 || hs.GetCommit() != 40 {
		t.Errorf("hard state after the writer died = %v", hs)
	}
}

func runCrashHelper(t *testing.T, mode, dir, test string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+mode, "RAFTSQL_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != crashedAsPlanned {
		t.Fatalf("crash helper %s did not die as planned: %v\n%s", mode, err, out)
	}
}

// One Ready per op: one 100-byte entry and the hard state, as a leader
// under light load saves them.
func BenchmarkLogStoreSave(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			s := openLog(b, b.TempDir())
			payload := bytes.Repeat([]byte("x"), 100)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				idx := uint64(i + 1)
				e := &raftpb.Entry{Index: new(idx), Term: new(uint64(1)), Data: payload}
				if err := s.Save(hardState(1, 1, idx), []*raftpb.Entry{e}, nil, sync); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A commit-only hard state (Ready.MustSync false) is held back, not
// written: the cache shows it at once, and a clean Close writes it. A crash in between keeps the
// older commit index (raft relearns it; the node raises it to its
// applied index).
func TestLogStoreHoldsBackACommitOnlyHardState(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "commit-only" {
		s, err := OpenLogStore(os.Getenv("RAFTSQL_DIR"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		if err := s.Save(hardState(3, 1, 5), ents(1, 10, 3), nil, true); err != nil {
			os.Exit(3)
		}
		if err := s.Save(hardState(3, 1, 9), nil, nil, false); err != nil {
			os.Exit(3)
		}
		os.Exit(crashedAsPlanned)
	}
	dir := t.TempDir()
	runCrashHelper(t, "commit-only", dir, "TestLogStoreHoldsBackACommitOnlyHardState")
	s := openLog(t, dir)
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 5 {
		t.Errorf("commit after a crash = %d, want 5 (the held-back 9 was never written)", hs.GetCommit())
	}
	if err := s.Save(hardState(3, 1, 8), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 8 {
		t.Errorf("cached commit = %d, want 8", hs.GetCommit())
	}
	mustSave(t, s, nil, ents(11, 11, 3), nil)
	if err := s.Save(hardState(3, 1, 10), nil, nil, false); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openLog(t, dir)
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 10 || hs.GetTerm() != 3 {
		t.Errorf("hard state after a clean close = %v, want commit 10 term 3", hs)
	}
}

// Entries answers the same before and after a reopen (a replay): after
// a conflicting suffix is replaced, after a compaction, with a size limit.
func TestLogStoreEntriesFromMemoryMatchTheDisk(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	mustSave(t, s, hardState(1, 1, 0), ents(1, 10, 1), nil)
	mustSave(t, s, hardState(2, 2, 5), ents(6, 8, 2), nil)
	if _, err := s.CreateSnapshot(4, &raftpb.ConfState{Voters: []uint64{1}}, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(3); err != nil {
		t.Fatal(err)
	}
	read := func(s *LogStore, lo, hi, maxSize uint64) string {
		es, err := s.Entries(lo, hi, maxSize)
		if err != nil {
			t.Fatalf("Entries(%d, %d, %d): %v", lo, hi, maxSize, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, string(e.GetData()))
		}
		return fmt.Sprint(out)
	}
	one := uint64(proto.Size(ent(4, 1)))
	cases := [][3]uint64{{4, 9, 1 << 30}, {6, 7, 1 << 30}, {4, 9, 2 * one}, {4, 9, 0}}
	var mem []string
	for _, c := range cases {
		mem = append(mem, read(s, c[0], c[1], c[2]))
	}
	if want := "[entry 4@1 entry 5@1 entry 6@2 entry 7@2 entry 8@2]"; mem[0] != want {
		t.Errorf("Entries(4, 9) = %s, want %s", mem[0], want)
	}
	if _, err := s.Entries(3, 5, 1<<30); !errors.Is(err, raft.ErrCompacted) {
		t.Errorf("Entries(3, 5) after Compact(3): %v, want ErrCompacted", err)
	}
	s.Close()
	s = openLog(t, dir)
	for i, c := range cases {
		if disk := read(s, c[0], c[1], c[2]); disk != mem[i] {
			t.Errorf("Entries%v: %s before the reopen, %s after", c, mem[i], disk)
		}
	}
}
