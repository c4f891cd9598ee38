package raftsql

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func openSM(t testing.TB, path string, opts Options) *StateMachine {
	t.Helper()
	m, err := OpenStateMachineWithOptions(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func command(t testing.TB, requestID string, stmts ...Stmt) []byte {
	t.Helper()
	b, err := EncodeCommand(Command{RequestID: requestID, Stmts: stmts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sqlStmt(sql string, args ...any) Stmt { return Stmt{SQL: sql, Args: args} }

func mustApply(t testing.TB, m *StateMachine, index uint64, data []byte) ExecResult {
	t.Helper()
	res, err := m.Apply(index, data)
	if err != nil {
		t.Fatalf("Apply(%d): %v", index, err)
	}
	return res
}

func queryInt(t testing.TB, m *StateMachine, q string, args ...any) int64 {
	t.Helper()
	r, err := m.Query(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
		t.Fatalf("%s: got %v, want one value", q, r.Rows)
	}
	v, ok := r.Rows[0][0].(int64)
	if !ok {
		t.Fatalf("%s: got %T %v, want an integer", q, r.Rows[0][0], r.Rows[0][0])
	}
	return v
}

const createAcks = `CREATE TABLE acks (id INTEGER PRIMARY KEY, tx_id TEXT NOT NULL)`

// Entry 1 creates the table; entries 2..n+1 each insert one row carrying
// its request id, the way a workload tags effect rows with tx_id.
func applyInserts(t testing.TB, m *StateMachine, n int, withRequestIDs bool) {
	t.Helper()
	mustApply(t, m, 1, command(t, "", sqlStmt(createAcks)))
	for i := 2; i <= n+1; i++ {
		id := ""
		if withRequestIDs {
			id = fmt.Sprintf("t%d", i)
		}
		res := mustApply(t, m, uint64(i), command(t, id, sqlStmt(`INSERT INTO acks (tx_id) VALUES (?)`, fmt.Sprintf("t%d", i))))
		if res.Error != "" {
			t.Fatalf("entry %d: %s", i, res.Error)
		}
	}
}

// The first mission scenario at the storage level: a replica restarts and
// raft re-delivers entries from its log. With the applied index stored in the
// same transaction as the data nothing is applied twice; with
// ForgetAppliedIndex every re-delivered entry is applied again, request ids
// or not (the request table catches client retries, not re-delivery).
func TestStateMachineReopenReappliesOnlyWithForgetAppliedIndex(t *testing.T) {
	tests := []struct {
		name           string
		opts           Options
		withRequestIDs bool
		wantApplied    uint64 // AppliedIndex after reopen
		wantRows       int64  // rows after raft re-delivers entries 1..6
	}{
		{"correct, with request ids", Options{}, true, 6, 5},
		{"correct, without request ids", Options{}, false, 6, 5},
		{"forget-applied-index, with request ids", Options{ForgetAppliedIndex: true}, true, 0, 10},
		{"forget-applied-index, without request ids", Options{ForgetAppliedIndex: true}, false, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sm.db")
			m := openSM(t, path, tt.opts)
			applyInserts(t, m, 5, tt.withRequestIDs)
			if got := m.AppliedIndex(); got != 6 {
				t.Fatalf("AppliedIndex before restart = %d, want 6", got)
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}

			m = openSM(t, path, tt.opts)
			if got := m.AppliedIndex(); got != tt.wantApplied {
				t.Errorf("AppliedIndex after reopen = %d, want %d", got, tt.wantApplied)
			}
			// raft re-delivers the committed entries after AppliedIndex.
			for i := 2; i <= 6; i++ {
				id := ""
				if tt.withRequestIDs {
					id = fmt.Sprintf("t%d", i)
				}
				mustApply(t, m, uint64(i), command(t, id, sqlStmt(`INSERT INTO acks (tx_id) VALUES (?)`, fmt.Sprintf("t%d", i))))
			}
			if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != tt.wantRows {
				t.Errorf("rows after re-delivery = %d, want %d", got, tt.wantRows)
			}
			if got := m.AppliedIndex(); got != 6 {
				t.Errorf("AppliedIndex after re-delivery = %d, want 6", got)
			}
		})
	}
}

func TestStateMachineReturnsStoredResultForAnAlreadyAppliedIndex(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	applyInserts(t, m, 3, true)
	res := mustApply(t, m, 3, command(t, "t3", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t3')`)))
	want := ExecResult{Index: 3, Results: []StmtResult{{RowsAffected: 1, LastInsertID: 2}}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("re-applying index 3 = %+v, want the stored %+v", res, want)
	}
	if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != 3 {
		t.Errorf("rows = %d, want 3", got)
	}
}

// A client retry is a new entry with a request id already applied.
func TestStateMachineDeduplicatesRequestIDs(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		restart      bool // between the first application and the retry
		wantRows     int64
		wantDup      bool
		wantFirstIdx uint64
	}{
		{"durable dedup", Options{}, false, 1, true, 2},
		{"durable dedup across restart", Options{}, true, 1, true, 2},
		{"no-dedup applies the retry", Options{NoDedup: true}, false, 2, false, 3},
		{"memory-dedup within a process", Options{MemoryDedup: true}, false, 1, true, 2},
		{"memory-dedup forgets across restart", Options{MemoryDedup: true}, true, 2, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sm.db")
			m := openSM(t, path, tt.opts)
			mustApply(t, m, 1, command(t, "", sqlStmt(createAcks)))
			insert := command(t, "t-7", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t-7')`))
			first := mustApply(t, m, 2, insert)
			if tt.restart {
				m.Close()
				m = openSM(t, path, tt.opts)
			}
			retry := mustApply(t, m, 3, insert)
			if retry.Duplicate != tt.wantDup || retry.Index != tt.wantFirstIdx {
				t.Errorf("retry = %+v, want Duplicate=%v Index=%d", retry, tt.wantDup, tt.wantFirstIdx)
			}
			if tt.wantDup && !reflect.DeepEqual(retry.Results, first.Results) {
				t.Errorf("retry results %+v, want the first results %+v", retry.Results, first.Results)
			}
			if got := queryInt(t, m, `SELECT count(*) FROM acks WHERE tx_id = 't-7'`); got != tt.wantRows {
				t.Errorf("effect rows of t-7 = %d, want %d", got, tt.wantRows)
			}
			if m.AppliedIndex() != 3 {
				t.Errorf("AppliedIndex = %d, want 3: a duplicate still advances it", m.AppliedIndex())
			}
		})
	}
}

func TestStateMachineRecordsAFailedCommandAsAnOutcome(t *testing.T) {
	tests := []struct {
		name      string
		data      func(t *testing.T) []byte
		wantError string
	}{
		{"constraint violation in the second statement", func(t *testing.T) []byte {
			return command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (10, 'a')`),
				sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'dup')`))
		}, "stmt 1: constraint failed: UNIQUE constraint failed: acks.id"},
		{"INSERT OR ROLLBACK ends SQLite's whole transaction", func(t *testing.T) []byte {
			return command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (10, 'a')`),
				sqlStmt(`INSERT OR ROLLBACK INTO acks (id, tx_id) VALUES (1, 'dup')`))
		}, "stmt 1: constraint failed: UNIQUE constraint failed: acks.id"},
		{"syntax error", func(t *testing.T) []byte {
			return command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (10, 'a')`), sqlStmt(`INSRT INTO acks`))
		}, `stmt 1: SQL logic error: near "INSRT": syntax error`},
		{"non-deterministic function", func(t *testing.T) []byte {
			return command(t, "r1", sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (10, 'a')`),
				sqlStmt(`INSERT INTO acks (tx_id) VALUES (hex(randomblob(4)))`))
		}, "stmt 1: non-deterministic function randomblob()"},
		{"undecodable entry", func(t *testing.T) []byte { return []byte(`{"stmts": "not a list"`) }, "decode command"},
		{"bookkeeping table", func(t *testing.T) []byte {
			return command(t, "r1", sqlStmt(`UPDATE _chaoscheck_applied SET idx = 0`))
		}, "stmt 0: _chaoscheck_applied is reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sm.db")
			m := openSM(t, path, Options{})
			mustApply(t, m, 1, command(t, "", sqlStmt(createAcks), sqlStmt(`INSERT INTO acks (id, tx_id) VALUES (1, 'x')`)))
			res := mustApply(t, m, 2, tt.data(t))
			if !strings.HasPrefix(res.Error, tt.wantError) || res.Results != nil || res.Index != 2 {
				t.Errorf("result = %+v, want Error starting %q and no results", res, tt.wantError)
			}
			if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != 1 {
				t.Errorf("rows = %d, want 1: the failed command must leave nothing", got)
			}
			if m.AppliedIndex() != 2 {
				t.Errorf("AppliedIndex = %d, want 2: a failed command is still applied", m.AppliedIndex())
			}
			m.Close()
			m = openSM(t, path, Options{})
			if m.AppliedIndex() != 2 {
				t.Errorf("AppliedIndex after reopen = %d, want 2", m.AppliedIndex())
			}
			if tt.name != "undecodable entry" {
				retry := mustApply(t, m, 3, tt.data(t))
				if !retry.Duplicate || retry.Error != res.Error {
					t.Errorf("retry of the failed request = %+v, want the recorded failure as a duplicate", retry)
				}
			}
		})
	}
}

// A crash inside Apply, after the statements ran and before COMMIT, must
// leave neither the effects nor the applied index: the child process dies
// there, the parent reopens the files it left.
func TestStateMachineCrashBeforeCommitLeavesNeitherEffectsNorAppliedIndex(t *testing.T) {
	if os.Getenv(crashHelperEnv) == "statemachine" {
		m, err := OpenStateMachine(filepath.Join(os.Getenv("RAFTSQL_DIR"), "sm.db"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		applyInserts(t, m, 2, true) // entries 1..3
		m.beforeCommit = func() { os.Exit(crashedAsPlanned) }
		m.Apply(4, command(t, "t4", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t4')`),
			sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t4')`)))
		fmt.Fprintln(os.Stderr, "Apply returned: the crash hook did not run")
		os.Exit(3)
	}
	dir := t.TempDir()
	runCrashHelper(t, "statemachine", dir, "TestStateMachineCrashBeforeCommitLeavesNeitherEffectsNorAppliedIndex")

	m := openSM(t, filepath.Join(dir, "sm.db"), Options{})
	if got := m.AppliedIndex(); got != 3 {
		t.Errorf("AppliedIndex after the crash = %d, want 3", got)
	}
	if got := queryInt(t, m, `SELECT count(*) FROM acks WHERE tx_id = 't4'`); got != 0 {
		t.Errorf("rows of the uncommitted entry = %d, want 0", got)
	}
	res := mustApply(t, m, 4, command(t, "t4", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t4')`),
		sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t4')`)))
	if res.Duplicate || res.Error != "" {
		t.Errorf("re-applying entry 4 after the crash = %+v, want a first application", res)
	}
	if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != 4 {
		t.Errorf("rows = %d, want 4", got)
	}
}

func TestStateMachineAppliesATriggerAsOneStatement(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	res := mustApply(t, m, 1, command(t, "",
		sqlStmt(createAcks),
		sqlStmt(`CREATE TABLE counts (n INTEGER)`),
		sqlStmt(`INSERT INTO counts VALUES (0)`),
		sqlStmt(`CREATE TRIGGER count_acks AFTER INSERT ON acks BEGIN
			UPDATE counts SET n = n + 1;
			UPDATE counts SET n = n + CASE WHEN new.tx_id = 'double' THEN 1 ELSE 0 END;
		END;`),
		sqlStmt(`INSERT INTO acks (tx_id) VALUES ('single'), ('double')`)))
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	if got := queryInt(t, m, `SELECT n FROM counts`); got != 3 {
		t.Errorf("trigger counted %d, want 3", got)
	}
}

func TestStateMachineApplyNoopAdvancesAppliedIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sm.db")
	m := openSM(t, path, Options{})
	for _, idx := range []uint64{1, 2, 2, 1} {
		if err := m.ApplyNoop(idx); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	if got := openSM(t, path, Options{}).AppliedIndex(); got != 2 {
		t.Errorf("AppliedIndex after reopen = %d, want 2", got)
	}
}

// Results must not depend on what ran on the connection before: a replica
// that restarted between two entries reports what one that did not reports.
func TestStateMachineResultsDoNotDependOnRestarts(t *testing.T) {
	entries := [][]byte{
		command(t, "", sqlStmt(createAcks)),
		command(t, "", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('a')`), sqlStmt(`INSERT INTO acks (tx_id) VALUES ('b')`)),
		command(t, "", sqlStmt(`CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID`)),
		command(t, "", sqlStmt(`INSERT INTO kv VALUES ('x', 1)`), sqlStmt(`UPDATE acks SET tx_id = 'c'`)),
		command(t, "", sqlStmt(`INSERT OR IGNORE INTO acks (id, tx_id) VALUES (1, 'z')`), sqlStmt(`CREATE INDEX kv_v ON kv (v)`)),
	}
	run := func(restartAt int) []ExecResult {
		path := filepath.Join(t.TempDir(), "sm.db")
		m := openSM(t, path, Options{})
		var out []ExecResult
		for i, e := range entries {
			if i == restartAt {
				m.Close()
				m = openSM(t, path, Options{})
			}
			out = append(out, mustApply(t, m, uint64(i+1), e))
		}
		return out
	}
	want := run(-1)
	for at := 1; at < len(entries); at++ {
		if got := run(at); !reflect.DeepEqual(got, want) {
			t.Errorf("restart before entry %d: results %+v\nwithout restart %+v", at+1, got, want)
		}
	}
	if !reflect.DeepEqual(want[4].Results, []StmtResult{{}, {}}) {
		t.Errorf("ignored insert and CREATE INDEX report %+v, want zeros", want[4].Results)
	}
}

func TestStateMachineSnapshotRestoreRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := openSM(t, filepath.Join(dir, "src.db"), Options{})
	applyInserts(t, src, 5, true)
	// Holes in the rowids: a copy that renumbered rows would show.
	mustApply(t, src, 7, command(t, "", sqlStmt(`DELETE FROM acks WHERE id IN (1, 3)`)))
	data, idx, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if idx != 7 {
		t.Errorf("snapshot index = %d, want 7", idx)
	}

	dstPath := filepath.Join(dir, "dst.db")
	dst := openSM(t, dstPath, Options{})
	mustApply(t, dst, 1, command(t, "", sqlStmt(`CREATE TABLE stale (x)`)))
	if err := dst.Restore(data); err != nil {
		t.Fatal(err)
	}
	if dst.AppliedIndex() != 7 {
		t.Errorf("AppliedIndex after Restore = %d, want 7", dst.AppliedIndex())
	}
	assertSameContent(t, src, dst)

	// The replicas go on identically: same rowids, same dedup.
	next := command(t, "t8", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t8')`))
	a, b := mustApply(t, src, 8, next), mustApply(t, dst, 8, next)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("entry 8 on the source %+v, on the restored replica %+v", a, b)
	}
	retry := command(t, "t4", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('t4')`))
	if r := mustApply(t, dst, 9, retry); !r.Duplicate {
		t.Errorf("retry of t4 on the restored replica = %+v, want a duplicate", r)
	}
	mustApply(t, src, 9, retry)
	assertSameContent(t, src, dst)

	dst.Close()
	dst = openSM(t, dstPath, Options{})
	if dst.AppliedIndex() != 9 {
		t.Errorf("AppliedIndex after reopening the restored replica = %d, want 9", dst.AppliedIndex())
	}
	assertSameContent(t, src, dst)
}

func assertSameContent(t *testing.T, a, b *StateMachine) {
	t.Helper()
	ha, err := a.ContentHash(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hb, err := b.ContentHash(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Errorf("content hashes differ: %s vs %s", ha, hb)
	}
}

func TestStateMachineRestoreRefusesDataThatIsNotASnapshot(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.db")
	other, err := OpenStateMachine(plain)
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	tests := []struct {
		name string
		data func() []byte
	}{
		{"garbage", func() []byte { return []byte("definitely not sqlite") }},
		{"empty", func() []byte { return nil }},
		{"truncated database", func() []byte {
			b, _ := os.ReadFile(plain)
			return b[:len(b)/2]
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
			applyInserts(t, m, 2, false)
			if err := m.Restore(tt.data()); err == nil {
				t.Fatal("Restore succeeded")
			}
			if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != 2 || m.AppliedIndex() != 3 {
				t.Errorf("after a refused Restore: %d rows, applied %d; want the old 2 rows, applied 3", got, m.AppliedIndex())
			}
		})
	}
}

// Reads come from other goroutines (HTTP handlers) while the Ready loop
// applies and restores; each sees a committed state, never an error.
func TestStateMachineQueriesRunAlongsideApplyAndRestore(t *testing.T) {
	dir := t.TempDir()
	src := openSM(t, filepath.Join(dir, "src.db"), Options{})
	applyInserts(t, src, 30, false)
	data, _, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	m := openSM(t, filepath.Join(dir, "sm.db"), Options{})
	applyInserts(t, m, 10, false)

	stop := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := m.Query(context.Background(), `SELECT count(*) FROM acks`)
			if err == nil {
				_, err = m.ContentHash(context.Background())
			}
			if err != nil {
				errs <- err
				return
			}
			n := r.Rows[0][0].(int64)
			if n < last {
				errs <- fmt.Errorf("count went back from %d to %d", last, n)
				return
			}
			last = n
		}
	}()
	for i := 12; i <= 25; i++ {
		mustApply(t, m, uint64(i), command(t, "", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('more')`)))
	}
	if err := m.Restore(data); err != nil {
		t.Fatal(err)
	}
	for i := 32; i <= 40; i++ {
		mustApply(t, m, uint64(i), command(t, "", sqlStmt(`INSERT INTO acks (tx_id) VALUES ('after')`)))
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Errorf("concurrent read: %v", err)
	}
	if got := queryInt(t, m, `SELECT count(*) FROM acks`); got != 39 {
		t.Errorf("rows = %d, want 39", got)
	}
}

func TestStateMachineContentHash(t *testing.T) {
	tests := []struct {
		name  string
		a, b  []string // statements applied, one entry each
		equal bool
	}{
		{"same statements", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`}, true},
		{"same content in one entry or two (bookkeeping differs)", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x); `, `SELECT 1`, `INSERT INTO t VALUES (1)`}, true},
		{"different value", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (2)`}, false},
		{"integer and real", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1.0)`}, false},
		{"integer and text", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES ('1')`}, false},
		{"datetime text is hashed as text", []string{`CREATE TABLE t (d DATETIME)`, `INSERT INTO t VALUES ('2024-01-01')`},
			[]string{`CREATE TABLE t (d DATETIME)`, `INSERT INTO t VALUES ('2024-01-01 00:00:00')`}, false},
		{"different rowids", []string{`CREATE TABLE t (x)`, `INSERT INTO t (rowid, x) VALUES (1, 'a')`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t (rowid, x) VALUES (2, 'a')`}, false},
		{"extra index", []string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`},
			[]string{`CREATE TABLE t (x)`, `INSERT INTO t VALUES (1)`, `CREATE INDEX tx ON t (x)`}, false},
		{"row order of a WITHOUT ROWID table", []string{`CREATE TABLE kv (k PRIMARY KEY, v) WITHOUT ROWID`, `INSERT INTO kv VALUES ('a', 1), ('b', 2)`},
			[]string{`CREATE TABLE kv (k PRIMARY KEY, v) WITHOUT ROWID`, `INSERT INTO kv VALUES ('b', 2), ('a', 1)`}, true},
		{"AUTOINCREMENT counter", []string{`CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)`, `INSERT INTO t VALUES (5)`, `DELETE FROM t`},
			[]string{`CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)`, `SELECT 1`, `SELECT 1`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash := func(stmts []string) string {
				m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
				for i, s := range stmts {
					if res := mustApply(t, m, uint64(i+1), command(t, fmt.Sprint("r", i), sqlStmt(strings.TrimSuffix(strings.TrimSpace(s), ";")))); res.Error != "" {
						t.Fatalf("%s: %s", s, res.Error)
					}
				}
				h, err := m.ContentHash(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return h
			}
			ha, hb := hash(tt.a), hash(tt.b)
			if (ha == hb) != tt.equal {
				t.Errorf("hashes equal = %v, want %v (%s, %s)", ha == hb, tt.equal, ha, hb)
			}
		})
	}
}

func TestStateMachineQueryIsReadOnly(t *testing.T) {
	m := openSM(t, filepath.Join(t.TempDir(), "sm.db"), Options{})
	applyInserts(t, m, 2, false)
	for _, q := range []string{
		`DELETE FROM acks`,
		`WITH x AS (SELECT 1) DELETE FROM acks`,
		`SELECT 1; DELETE FROM acks`,
		`PRAGMA journal_mode = DELETE`,
		`CREATE TABLE x (y)`,
	} {
		if _, err := m.Query(context.Background(), q); err == nil {
			t.Errorf("Query(%q) succeeded, want a refusal", q)
		}
	}
	r, err := m.Query(context.Background(), `SELECT id, tx_id, NULL, x'00ff', 1.5 FROM acks WHERE id >= ? ORDER BY id`, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := QueryResult{Columns: []string{"id", "tx_id", "NULL", "x'00ff'", "1.5"},
		Rows: [][]any{{int64(1), "t2", nil, []byte{0, 0xff}, 1.5}, {int64(2), "t3", nil, []byte{0, 0xff}, 1.5}}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Query = %#v\nwant %#v", r, want)
	}
	empty, err := m.Query(context.Background(), `SELECT * FROM acks WHERE 0`)
	if err != nil || empty.Rows == nil || len(empty.Rows) != 0 {
		t.Errorf("empty Query = %#v, %v; want non-nil empty rows", empty, err)
	}
}

func BenchmarkStateMachineApplyInsert(b *testing.B) {
	m := openSM(b, filepath.Join(b.TempDir(), "sm.db"), Options{})
	mustApply(b, m, 1, command(b, "", sqlStmt(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)`)))
	cmds := make([][]byte, b.N)
	for i := range cmds {
		cmds[i] = command(b, fmt.Sprint("req-", i), sqlStmt(`INSERT INTO kv (k, v) VALUES (?, ?)`, i, "value"))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := mustApply(b, m, uint64(i+2), cmds[i]); res.Error != "" {
			b.Fatal(res.Error)
		}
	}
}

// The register workload's write as the benchmark drives it: batches of 8
// upserts with request ids, one SQLite transaction per batch.
func BenchmarkStateMachineApplyBatchOf8Upserts(b *testing.B) {
	m := openSM(b, filepath.Join(b.TempDir(), "sm.db"), Options{})
	mustApply(b, m, 1, command(b, "", sqlStmt(`CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER)`)))
	const per = 8
	batches := make([][]Entry, b.N)
	for i := range batches {
		for j := range per {
			idx := uint64(2 + i*per + j)
			batches[i] = append(batches[i], Entry{Index: idx, Data: command(b, fmt.Sprint("register-p", j, "-", i),
				sqlStmt(`INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, fmt.Sprint("k", j), i))})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := m.ApplyBatch(batches[i])
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Error != "" {
			b.Fatal(res[0].Error)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*per), "ns/entry")
}
