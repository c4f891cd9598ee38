package raftsql

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// walFiles lists the WAL generations and temp files in dir.
func walFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*" + walSuffix, "*" + walSuffix + walTempExt} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range m {
			out = append(out, filepath.Base(p))
		}
	}
	return out
}

// onlyWAL returns the path of dir's one WAL file.
func onlyWAL(t testing.TB, dir string) string {
	t.Helper()
	files := walFiles(t, dir)
	if len(files) != 1 || !strings.HasSuffix(files[0], walSuffix) {
		t.Fatalf("WAL files in %s = %v, want exactly one generation", dir, files)
	}
	return filepath.Join(dir, files[0])
}

// padded returns entries [lo, hi] of term whose data is about size bytes.
func padded(lo, hi, term uint64, size int) []*raftpb.Entry {
	es := ents(lo, hi, term)
	for _, e := range es {
		e.Data = append(e.Data, bytes.Repeat([]byte{'~'}, size)...)
	}
	return es
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A crash can cut the last write short anywhere: the file then ends
// inside it, or it is followed by zeros (preallocated space), or (pages of
// one write reach the disk in any order) its start is lost and a later
// part is there. Open drops that write, truncates the file where the last
// complete one ended, and goes on from there.
func TestLogStoreTruncatesAWriteTornByACrash(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte, start, end int) []byte // the last write is b[start:end]
	}{
		{"file ends one byte into it", func(b []byte, start, end int) []byte { return b[:start+1] }},
		{"file ends inside its first record header", func(b []byte, start, end int) []byte { return b[:start+walHeaderSize-3] }},
		{"file ends halfway", func(b []byte, start, end int) []byte { return b[:(start+end)/2] }},
		{"file ends one byte short", func(b []byte, start, end int) []byte { return b[:end-1] }},
		{"second half is zeros", func(b []byte, start, end int) []byte { clear(b[(start+end)/2 : end]); return b }},
		{"first page lost, the rest written", func(b []byte, start, end int) []byte { clear(b[start : start+4096]); return b }},
		{"a byte of its last record flipped", func(b []byte, start, end int) []byte { b[end-2] ^= 0x40; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openLog(t, dir)
			mustSave(t, s, hardState(1, 1, 3), ents(1, 3, 1), nil)
			start := int(s.wal.end)
			mustSave(t, s, hardState(1, 1, 5), padded(4, 8, 1, 2000), nil) // several pages
			end := int(s.wal.end)
			s.Close()
			path := onlyWAL(t, dir)
			if err := os.WriteFile(path, tt.damage(mustRead(t, path), start, end), 0o644); err != nil {
				t.Fatal(err)
			}

			s = openLog(t, dir)
			if got := logTerms(t, s); got != "1..3 [1 1 1]" {
				t.Errorf("log after the torn write = %s, want 1..3 [1 1 1]", got)
			}
			if hs, _, _ := s.InitialState(); hs.GetCommit() != 3 {
				t.Errorf("commit after the torn write = %d, want 3", hs.GetCommit())
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(start) {
				t.Errorf("WAL file after open: %v, %v; want it truncated to %d bytes", fi.Size(), err, start)
			}
			mustSave(t, s, hardState(2, 1, 4), ents(4, 4, 2), nil)
			s.Close()
			if got := logTerms(t, openLog(t, dir)); got != "1..4 [1 1 1 2]" {
				t.Errorf("log after a write past the truncation and a reopen = %s, want 1..4 [1 1 1 2]", got)
			}
		})
	}
}

// Damage followed by a later complete write is not a torn tail: every
// write is synced before the next one is made, so cutting the file there
// would drop synced, acknowledged entries. Open refuses and changes
// nothing. Damage in the last write cannot be told from a torn write and
// is dropped like one.
func TestLogStoreRefusesAWALDamagedInTheMiddle(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(b []byte, mid, last [2]int) // the second and third writes are b[mid[0]:mid[1]], b[last[0]:last[1]]
		wantErr string                           // "" when it opens as a torn tail
		wantLog string
	}{
		{name: "a flipped byte in an entry of the middle write",
			damage:  func(b []byte, mid, last [2]int) { b[(mid[0]+mid[1])/2] ^= 1 },
			wantErr: "damaged in the middle"},
		{name: "a damaged size field in the middle write",
			damage:  func(b []byte, mid, last [2]int) { b[mid[0]+5] ^= 0x10 },
			wantErr: "damaged in the middle"},
		{name: "the middle write zeroed",
			damage:  func(b []byte, mid, last [2]int) { clear(b[mid[0]:mid[1]]) },
			wantErr: "damaged in the middle"},
		{name: "a flipped byte in the last write",
			damage:  func(b []byte, mid, last [2]int) { b[(last[0]+last[1])/2] ^= 1 },
			wantLog: "1..6 [1 1 1 1 1 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openLog(t, dir)
			mustSave(t, s, hardState(1, 1, 3), ents(1, 3, 1), nil)
			mid := [2]int{int(s.wal.end), 0}
			mustSave(t, s, hardState(1, 1, 5), ents(4, 6, 1), nil)
			mid[1] = int(s.wal.end)
			mustSave(t, s, hardState(1, 1, 6), ents(7, 9, 1), nil)
			last := [2]int{mid[1], int(s.wal.end)}
			s.Close()
			path := onlyWAL(t, dir)
			b := mustRead(t, path)
			tt.damage(b, mid, last)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}

			s, err := OpenLogStore(dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("open: %v", err)
				}
				defer s.Close()
				if got := logTerms(t, s); got != tt.wantLog {
					t.Errorf("log = %s, want %s", got, tt.wantLog)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("open succeeded, want an error saying %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), fmt.Sprintf("offset %d", mid[0])) ||
				!strings.Contains(err.Error(), fmt.Sprintf("offset %d", last[0])) {
				t.Errorf("open error = %v\nwant one saying %q and naming offsets %d (the damage) and %d (the later write)",
					err, tt.wantErr, mid[0], last[0])
			}
			if !bytes.Equal(mustRead(t, path), b) {
				t.Errorf("the refused WAL file was changed")
			}
		})
	}
}

func TestLogStoreRefusesAFileThatIsNotItsWAL(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, walName(1)), []byte("some other program's log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := OpenLogStore(dir); err == nil || !strings.Contains(err.Error(), "not a raft log of this store") {
		if err == nil {
			s.Close()
		}
		t.Errorf("open = %v, want a refusal", err)
	}
}

// The badger-backed store of earlier builds kept its log in badger/.
// Opening such a dir empty would lose every acknowledged write in it.
func TestLogStoreRefusesABadgerDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "badger"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "badger", "MANIFEST"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenLogStore(dir)
	if err == nil {
		s.Close()
		t.Fatal("open of a badger-era data dir succeeded, want a refusal")
	}
	if !strings.Contains(err.Error(), "badger/") || !strings.Contains(err.Error(), dir) {
		t.Errorf("open error = %v, want one naming %s and its badger/ log", err, dir)
	}
	des, _ := os.ReadDir(dir)
	if len(des) != 1 {
		t.Errorf("dir after the refusal holds %d entries, want only badger/: nothing created", len(des))
	}
}

func TestLogStoreRefusesASecondOpenOfTheSameDir(t *testing.T) {
	dir := t.TempDir()
	openLog(t, dir)
	if s, err := OpenLogStore(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		if err == nil {
			s.Close()
		}
		t.Errorf("second open = %v, want an error saying the store is in use", err)
	}
}

// unsyncedSequence makes every kind of write a store makes.
func unsyncedSequence(s *LogStore) error {
	snap := &raftpb.Snapshot{Data: []byte("leader's db"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(20)), Term: new(uint64(2))}}
	return errors.Join(
		s.Save(hardState(1, 1, 0), ents(1, 10, 1), nil, true),
		s.Save(hardState(1, 1, 5), nil, nil, false),
		s.SaveConfState(&raftpb.ConfState{Voters: []uint64{1, 2}}),
		s.Save(hardState(2, 2, 5), nil, nil, true),
		func() error { _, err := s.CreateSnapshot(6, nil, []byte("db")); return err }(),
		s.Compact(4),
		s.Save(hardState(2, 2, 20), ents(21, 22, 2), snap, true),
	)
}

// The seeded bug unsynced-log's store (syncEach false) never fdatasyncs
// its WAL, whatever it is asked; the correct store does on every write but
// the held-back commit index. Counted by the store, and (when strace can trace
// the test binary) by the kernel: the helper below runs the same sequence
// under strace.
func TestLogStoreUnsyncedStoreNeverSyncsItsWAL(t *testing.T) {
	if mode := os.Getenv(crashHelperEnv); strings.HasPrefix(mode, "sync-each=") {
		s, err := openLogStore(os.Getenv("RAFTSQL_DIR"), mode == "sync-each=true")
		if err == nil {
			err = unsyncedSequence(s)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		os.Exit(crashedAsPlanned)
	}
	for _, syncEach := range []bool{true, false} {
		s, err := openLogStore(t.TempDir(), syncEach)
		if err != nil {
			t.Fatal(err)
		}
		if err := unsyncedSequence(s); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// Synced: the first Save, SaveConfState, the Save that changes the
		// term, CreateSnapshot, Compact and the snapshot's install.
		if syncEach && s.syncs != 6 {
			t.Errorf("the correct store made %d fdatasyncs, want one per synced write (6)", s.syncs)
		}
		if !syncEach && s.syncs != 0 {
			t.Errorf("the unsynced store made %d fdatasyncs, want none", s.syncs)
		}
	}

	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace not installed: the kernel-side count is not checked")
	}
	for _, syncEach := range []bool{true, false} {
		trace := filepath.Join(t.TempDir(), "trace")
		cmd := exec.Command(strace, "-f", "-e", "trace=fdatasync", "-o", trace, os.Args[0],
			"-test.run=^TestLogStoreUnsyncedStoreNeverSyncsItsWAL$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashHelperEnv+fmt.Sprintf("=sync-each=%v", syncEach), "RAFTSQL_DIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != crashedAsPlanned {
			t.Skipf("strace could not run the helper (ptrace not allowed?): %v\n%s", err, out)
		}
		n := strings.Count(string(mustRead(t, trace)), "fdatasync(")
		if syncEach && n < 6 {
			t.Errorf("strace saw %d fdatasyncs from the correct store, want at least 6", n)
		}
		if !syncEach && n != 0 {
			t.Errorf("strace saw %d fdatasyncs from the unsynced store, want none", n)
		}
	}
}

// Compact writes a new generation once the file has grown past
// rewriteAt and holds more than twice what is retained; otherwise it
// appends a compaction record.
func TestLogStoreRewritesTheWALWhenCompactFindsItLarge(t *testing.T) {
	dir := t.TempDir()
	s := openLog(t, dir)
	s.rewriteAt = 8 << 10
	mustSave(t, s, hardState(3, 2, 390), ents(1, 400, 3), nil) // about 20 KB
	if err := s.SaveConfState(&raftpb.ConfState{Voters: []uint64{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSnapshot(390, &raftpb.ConfState{Voters: []uint64{1, 2, 3}}, []byte("db at 390")); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(5); err != nil { // keeps most of the log: not worth a rewrite
		t.Fatal(err)
	}
	if g := s.wal.gen; g != 1 {
		t.Fatalf("after a compaction that keeps most of the log: generation %d, want 1", g)
	}
	before := s.wal.end
	if err := s.Compact(390); err != nil {
		t.Fatal(err)
	}
	if g := s.wal.gen; g != 2 || s.wal.end >= before/4 {
		t.Errorf("after compacting 390 of 400 entries: generation %d of %d bytes (was %d), want generation 2 and a small file", g, s.wal.end, before)
	}
	if files := walFiles(t, dir); !slices.Equal(files, []string{walName(2)}) {
		t.Errorf("WAL files = %v, want only %s", files, walName(2))
	}
	mustSave(t, s, hardState(3, 2, 395), ents(401, 401, 3), nil)
	want := logTerms(t, s)
	s.Close()

	s = openLog(t, dir)
	if got := logTerms(t, s); got != want || !strings.HasPrefix(got, "391..401 ") {
		t.Errorf("log after reopen = %s, want %s", got, want)
	}
	hs, cs, _ := s.InitialState()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("hs=%d/%d/%d voters=%v snap=%d %q", hs.GetTerm(), hs.GetVote(), hs.GetCommit(), cs.GetVoters(),
		snap.GetMetadata().GetIndex(), snap.GetData()); got != `hs=3/2/395 voters=[1 2 3] snap=390 "db at 390"` {
		t.Errorf("state after reopen: %s", got)
	}
	if tm, err := s.Term(390); err != nil || tm != 3 {
		t.Errorf("Term(390) of the dummy entry = %d, %v; want 3", tm, err)
	}
}

// A crash at any step of a rewrite leaves one complete generation, which
// open uses; open removes what the crash left behind (a temp file, the
// superseded generation). The helper process dies right after the step.
func TestLogStoreSurvivesACrashAtEachStepOfARewrite(t *testing.T) {
	if step, ok := strings.CutPrefix(os.Getenv(crashHelperEnv), "rewrite:"); ok {
		cs := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
		s, err := OpenLogStore(os.Getenv("RAFTSQL_DIR"))
		if err == nil {
			err = errors.Join(
				s.Save(hardState(2, 1, 30), ents(1, 40, 2), nil, true),
				s.SaveConfState(cs),
				func() error { _, err := s.CreateSnapshot(30, cs, []byte("db at 30")); return err }())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		s.rewriteAt = 1
		s.afterStep = func(at string) {
			if at == step {
				os.Exit(crashedAsPlanned)
			}
		}
		fmt.Fprintln(os.Stderr, "no crash: Compact returned", s.Compact(25))
		os.Exit(3)
	}
	tests := []struct {
		step      string
		halfTemp  bool   // the crash came while the temp file was being written
		wantFirst uint64 // 1: the old generation, 26: the new one
	}{
		{step: stepTempSynced, halfTemp: true, wantFirst: 1},
		{step: stepTempSynced, wantFirst: 1},
		{step: stepRenamed, wantFirst: 26},
		{step: stepDirSynced, wantFirst: 26},
		{step: stepOldRemoved, wantFirst: 26},
	}
	for _, tt := range tests {
		name := tt.step
		if tt.halfTemp {
			name = "temp-half-written"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			runCrashHelper(t, "rewrite:"+tt.step, dir, "TestLogStoreSurvivesACrashAtEachStepOfARewrite")
			if tt.halfTemp {
				tmp := filepath.Join(dir, walName(2)+walTempExt)
				b := mustRead(t, tmp)
				if err := os.WriteFile(tmp, b[:len(b)/2], 0o644); err != nil {
					t.Fatal(err)
				}
			}
			left := walFiles(t, dir)
			s := openLog(t, dir)
			want := fmt.Sprintf("%d..40", tt.wantFirst)
			if got := logTerms(t, s); !strings.HasPrefix(got, want+" ") {
				t.Errorf("log after a crash at %s (files %v) = %s, want %s", name, left, got, want)
			}
			hs, cs, _ := s.InitialState()
			snap, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("hs=%d/%d/%d voters=%v snap=%d %q", hs.GetTerm(), hs.GetVote(), hs.GetCommit(), cs.GetVoters(),
				snap.GetMetadata().GetIndex(), snap.GetData()); got != `hs=2/1/30 voters=[1 2 3] snap=30 "db at 30"` {
				t.Errorf("state after a crash at %s: %s", name, got)
			}
			if files := walFiles(t, dir); len(files) != 1 {
				t.Errorf("WAL files after open = %v (before: %v), want one generation", files, left)
			}
			mustSave(t, s, hardState(2, 1, 41), ents(41, 41, 2), nil)
			s.Close()
			if last, _ := openLog(t, dir).LastIndex(); last != 41 {
				t.Errorf("LastIndex after a write and a reopen = %d, want 41", last)
			}
		})
	}
}

// Whatever bytes a WAL file holds, open either refuses it with an error or
// opens a store whose log answers consistently; it never panics.
func FuzzLogStoreOpen(f *testing.F) {
	dir := f.TempDir()
	s, err := OpenLogStore(dir)
	if err != nil {
		f.Fatal(err)
	}
	snap := &raftpb.Snapshot{Data: []byte("db"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(12)), Term: new(uint64(3))}}
	err = errors.Join(
		s.Save(hardState(1, 1, 2), ents(1, 5, 1), nil, true),
		s.Save(hardState(2, 1, 4), ents(4, 8, 2), nil, true),
		s.SaveConfState(&raftpb.ConfState{Voters: []uint64{1, 2}}),
		func() error { _, err := s.CreateSnapshot(6, nil, []byte("x")); return err }(),
		s.Compact(5),
		s.Save(hardState(3, 1, 12), ents(13, 14, 3), snap, true),
		s.Close())
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, walName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.TrimRight(b, "\x00"))
	f.Fuzz(func(t *testing.T, wal []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, walName(1)), wal, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := OpenLogStore(dir)
		if err != nil {
			return
		}
		defer s.Close()
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if last+1 < first {
			t.Fatalf("log %d..%d", first, last)
		}
		if _, err := s.Term(first - 1); err != nil {
			t.Fatalf("Term of the dummy entry %d: %v", first-1, err)
		}
		if last >= first {
			es, err := s.Entries(first, last+1, 1<<62)
			if err != nil || uint64(len(es)) != last-first+1 {
				t.Fatalf("Entries(%d, %d) = %d entries, %v", first, last+1, len(es), err)
			}
			for k, e := range es {
				if e.GetIndex() != first+uint64(k) {
					t.Fatalf("entry %d has index %d", first+uint64(k), e.GetIndex())
				}
			}
		}
	})
}

// One 300-byte write and its fdatasync, into space fallocate reserved
// ahead (what walFile does) and past the end of the file (what it falls
// back to where fallocate is not supported).
func BenchmarkWALWriteSync(b *testing.B) {
	for _, prealloc := range []bool{true, false} {
		b.Run(fmt.Sprintf("preallocated=%v", prealloc), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), walName(1))
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			w := newWALFile(f, path, 1, 0, 0)
			w.noPrealloc = !prealloc
			p := bytes.Repeat([]byte("w"), 300)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.write(p); err != nil {
					b.Fatal(err)
				}
				if err := w.sync(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An entry larger than a WAL record holds is refused before anything is
// written; the store goes on.
func TestLogStoreRefusesAnEntryLargerThanARecord(t *testing.T) {
	s := openLog(t, t.TempDir())
	mustSave(t, s, hardState(1, 1, 1), ents(1, 2, 1), nil)
	huge := ent(5, 1)
	huge.Data = make([]byte, maxWALRecord+1)
	err := s.Save(hardState(1, 1, 2), []*raftpb.Entry{ent(3, 1), ent(4, 1), huge}, nil, true)
	if err == nil || !strings.Contains(err.Error(), "larger than a WAL record holds") {
		t.Fatalf("Save of a %d-byte entry = %v, want a refusal", len(huge.Data), err)
	}
	mustSave(t, s, hardState(1, 1, 3), ents(3, 3, 1), nil)
	if got := logTerms(t, s); got != "1..3 [1 1 1]" {
		t.Errorf("log after the refusal and one more Save = %s, want 1..3 [1 1 1]", got)
	}
}
