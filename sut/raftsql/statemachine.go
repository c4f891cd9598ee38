package raftsql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	gofail "go.etcd.io/gofail/runtime"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options switches on deliberate bugs, so a test run can show that the
// checkers catch them. The zero value is the correct state machine. Each
// option is one `if` on the real code path.
type Options struct {
	// ForgetAppliedIndex does not store the applied index with the data:
	// after a restart AppliedIndex is 0 and the node re-applies entries it
	// already applied. The request table does not save it: a request id
	// recorded at the same index is that same entry, not a client retry.
	ForgetAppliedIndex bool
	// NoDedup neither checks nor records request ids: a client retry that
	// reaches the log twice is applied twice.
	NoDedup bool
	// MemoryDedup keeps request ids in process memory only: dedup works
	// until the node restarts (and never reaches a replica that installs a
	// snapshot). NoDedup wins if both are set.
	MemoryDedup bool
}

// StateMachine is the replicated SQLite database of one replica.
//
// Invariant (exactly once): the effects of the entry at index i, the applied
// index i and the result of i's request id are committed in ONE SQLite
// transaction, so after any crash the database holds either all of them or
// none; AppliedIndex never claims an entry whose effects are missing, and an
// entry whose effects are present is never applied again.
//
// The database runs in WAL mode with synchronous=FULL: every commit is
// fsynced, so an applied index survives power loss as well as kill -9.
// Writes go through one connection (raft applies entries in order, one at
// a time); reads (Query, ContentHash) use a pool of read-only connections
// (query_only) that see the last committed transaction.
type StateMachine struct {
	path string
	opts Options

	writeMu sync.Mutex   // serializes Apply, ApplyNoop, Snapshot, Restore
	poolMu  sync.RWMutex // Restore and Close swap or close the pools
	w       *sql.DB      // the one write connection
	r       *sql.DB      // read-only connections
	closed  bool

	applied atomic.Uint64
	dedup   dedupTable

	// beforeCommit, if set, runs inside Apply's transaction just before
	// COMMIT (tests crash the process there).
	beforeCommit func()
}

// QueryResult is the answer to a read-only query.
type QueryResult struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// fpApplyBeforeCommit holds an applied command's transaction open after its
// statements ran and before COMMIT: `panic` there is a crash with the
// effects written but not committed; a `return` value fails the apply as a
// disk error would.
var fpApplyBeforeCommit = gofail.NewFailpoint("sqlApplyBeforeCommit")

var errStateMachineClosed = errors.New("state machine is closed")

const schema = `
CREATE TABLE IF NOT EXISTS _chaoscheck_applied (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	idx INTEGER NOT NULL
);
INSERT OR IGNORE INTO _chaoscheck_applied (id, idx) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS _chaoscheck_requests (
	request_id TEXT PRIMARY KEY,
	idx        INTEGER NOT NULL,
	result     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS _chaoscheck_requests_idx ON _chaoscheck_requests (idx);
`

// OpenStateMachine opens (or creates) the database at path.
func OpenStateMachine(path string) (*StateMachine, error) {
	return OpenStateMachineWithOptions(path, Options{})
}

// OpenStateMachineWithOptions opens the database at path with the given
// deliberate bugs switched on.
func OpenStateMachineWithOptions(path string, opts Options) (*StateMachine, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open state machine: path %q must not contain ? or #", path)
	}
	m := &StateMachine{path: path, opts: opts}
	switch {
	case opts.NoDedup:
		m.dedup = noDedup{}
	case opts.MemoryDedup:
		m.dedup = newMemDedup()
	default:
		m.dedup = sqlDedup{}
	}
	if err := m.open(); err != nil {
		return nil, fmt.Errorf("open state machine %s: %w", path, err)
	}
	return m, nil
}

// open opens both pools, creates the bookkeeping tables and loads the
// applied index.
func (m *StateMachine) open() error {
	const common = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"
	w, err := sql.Open("sqlite", m.path+common+"&_txlock=immediate")
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if _, err := w.Exec(schema); err != nil {
		w.Close()
		return fmt.Errorf("create bookkeeping tables: %w", err)
	}
	r, err := sql.Open("sqlite", m.path+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return err
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(2)
	var idx uint64
	if !m.opts.ForgetAppliedIndex {
		if err := w.QueryRow(`SELECT idx FROM _chaoscheck_applied WHERE id = 1`).Scan(&idx); err != nil {
			w.Close()
			r.Close()
			return fmt.Errorf("read applied index: %w", err)
		}
	}
	m.w, m.r = w, r
	m.applied.Store(idx)
	return nil
}

// AppliedIndex is the index of the last entry applied; entries up to it
// must not be applied again.
func (m *StateMachine) AppliedIndex() uint64 { return m.applied.Load() }

// Apply applies the command in the committed entry at index; see the
// StateMachine invariant. index ≤ AppliedIndex is a no-op that returns the
// stored result when the entry had a request id. A request id first recorded
// at an earlier index returns that first result with Duplicate set and
// applies nothing. A statement that fails, or a command that does not decode
// or is not deterministic, rolls back the command's statements and is
// recorded as an ExecResult with Error: every replica reaches the same
// outcome. A Go error means the disk cannot be trusted and the node must
// stop.
func (m *StateMachine) Apply(index uint64, data []byte) (ExecResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return ExecResult{}, errStateMachineClosed
	}
	ctx := context.Background()

	if index <= m.applied.Load() {
		res, ok, err := m.dedup.byIndex(ctx, m.w, index)
		if err != nil {
			return ExecResult{}, fmt.Errorf("apply %d: %w", index, err)
		}
		if !ok {
			res = ExecResult{Index: index}
		}
		return res, nil
	}

	cmd, decodeErr := DecodeCommand(data)
	res, err := m.applyTx(ctx, index, cmd, decodeErr)
	if err != nil {
		m.dedup.discard()
		return ExecResult{}, fmt.Errorf("apply %d: %w", index, err)
	}
	m.dedup.committed()
	m.applied.Store(index)
	return res, nil
}

// applyTx runs one command's transaction and commits it.
func (m *StateMachine) applyTx(ctx context.Context, index uint64, cmd Command, decodeErr error) (ExecResult, error) {
	tx, err := m.beginApplied(ctx, index)
	if err != nil {
		return ExecResult{}, err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit

	res := ExecResult{Index: index}
	dup := false
	switch {
	case decodeErr != nil:
		res.Error = decodeErr.Error()
	case cmd.RequestID != "":
		first, ok, err := m.dedup.lookup(ctx, tx, cmd.RequestID)
		if err != nil {
			return ExecResult{}, err
		}
		// A first application at an earlier index means this entry is a
		// client retry. The same index can only be this entry itself,
		// re-delivered past a lost applied index (ForgetAppliedIndex).
		if ok && first.Index < index {
			first.Duplicate = true
			res, dup = first, true
		}
	}
	if decodeErr == nil && !dup {
		var txGone bool
		res, txGone, err = m.runStmts(ctx, tx, index, cmd.Stmts)
		if err != nil {
			return ExecResult{}, err
		}
		if txGone {
			// SQLite rolled the whole transaction back itself (INSERT OR
			// ROLLBACK, RAISE(ROLLBACK)); the bookkeeping needs a new one.
			_ = tx.Rollback()
			if tx, err = m.beginApplied(ctx, index); err != nil {
				return ExecResult{}, err
			}
		}
		if cmd.RequestID != "" {
			if err := m.dedup.record(ctx, tx, cmd.RequestID, res); err != nil {
				return ExecResult{}, err
			}
		}
	}

	if m.beforeCommit != nil {
		m.beforeCommit()
	}
	if v, err := fpApplyBeforeCommit.Acquire(); err == nil {
		return ExecResult{}, fmt.Errorf("failpoint sqlApplyBeforeCommit: %v", v)
	}
	if err := tx.Commit(); err != nil {
		return ExecResult{}, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// beginApplied opens the write transaction of the entry at index and, first
// thing, stores index as the applied index. Doing it first also resets the
// connection's last_insert_rowid and changes() to the same values on every
// replica (the REPLACE sets both to 1), whatever ran on the connection
// before a restart.
func (m *StateMachine) beginApplied(ctx context.Context, index uint64) (*sql.Tx, error) {
	tx, err := m.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if !m.opts.ForgetAppliedIndex {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO _chaoscheck_applied (id, idx) VALUES (1, ?)`, int64(index)); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("store applied index: %w", err)
		}
	}
	return tx, nil
}

// runStmts runs a command's statements inside a savepoint so that a failing
// statement undoes the earlier ones but not the bookkeeping. txGone reports
// that SQLite ended the whole transaction.
func (m *StateMachine) runStmts(ctx context.Context, tx *sql.Tx, index uint64, stmts []Stmt) (res ExecResult, txGone bool, err error) {
	res = ExecResult{Index: index}
	for i, s := range stmts {
		if err := CheckStmt(s); err != nil {
			res.Error = fmt.Sprintf("stmt %d: %v", i, err)
			return res, false, nil
		}
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT chaoscheck_cmd"); err != nil {
		return res, false, fmt.Errorf("savepoint: %w", err)
	}
	res.Results = make([]StmtResult, 0, len(stmts))
	for i, s := range stmts {
		r, err := tx.ExecContext(ctx, s.SQL, s.Args...)
		if err == nil {
			res.Results = append(res.Results, stmtResult(s.SQL, r))
			continue
		}
		if isFatal(err) {
			return res, false, fmt.Errorf("stmt %d: %w", i, err)
		}
		res.Results, res.Error = nil, fmt.Sprintf("stmt %d: %v", i, err)
		if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO chaoscheck_cmd"); rbErr != nil {
			return res, true, nil
		}
		if _, err := tx.ExecContext(ctx, "RELEASE chaoscheck_cmd"); err != nil {
			return res, false, fmt.Errorf("release savepoint: %w", err)
		}
		return res, false, nil
	}
	if _, err := tx.ExecContext(ctx, "RELEASE chaoscheck_cmd"); err != nil {
		return res, false, fmt.Errorf("release savepoint: %w", err)
	}
	return res, false, nil
}

// stmtResult reads what SQLite reports for a statement. SQLite's counters
// are per connection and keep their value across statements that do not
// change them, so only the kinds of statement that set them report them.
func stmtResult(sqlText string, r sql.Result) StmtResult {
	var out StmtResult
	toks, _ := tokenize(sqlText)
	kind := ""
	if len(toks) > 0 {
		kind = toks[0].lower()
	}
	switch kind {
	case "insert", "replace", "update", "delete", "with":
		out.RowsAffected, _ = r.RowsAffected()
	}
	if (kind == "insert" || kind == "replace") && out.RowsAffected > 0 {
		out.LastInsertID, _ = r.LastInsertId()
	}
	return out
}

// isFatal tells a broken disk or connection (the node must stop) from a
// statement's own failure (a deterministic outcome every replica reaches).
func isFatal(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, sql.ErrTxDone) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false // argument binding and the like: deterministic
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
		sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_PERM, sqlite3.SQLITE_INTERRUPT,
		sqlite3.SQLITE_SCHEMA, sqlite3.SQLITE_INTERNAL, sqlite3.SQLITE_MISUSE:
		return true
	}
	return false
}

// ApplyNoop records the index of a committed entry that carries no command
// (the empty entry of a new leader, a conf change).
func (m *StateMachine) ApplyNoop(index uint64) error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return errStateMachineClosed
	}
	if index <= m.applied.Load() {
		return nil
	}
	ctx := context.Background()
	tx, err := m.beginApplied(ctx, index)
	if err != nil {
		return fmt.Errorf("apply no-op %d: %w", index, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply no-op %d: commit: %w", index, err)
	}
	m.applied.Store(index)
	return nil
}

// Query runs a read-only statement on a read-only connection; it sees every
// entry applied before it started.
func (m *StateMachine) Query(ctx context.Context, query string, args ...any) (QueryResult, error) {
	if !IsReadOnly(query) {
		return QueryResult{}, errors.New("query: only a single read-only statement (SELECT, VALUES, WITH … SELECT, EXPLAIN) is allowed")
	}
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return QueryResult{}, errStateMachineClosed
	}
	rows, err := m.r.QueryContext(ctx, query, args...)
	if err != nil {
		return QueryResult{}, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return QueryResult{}, fmt.Errorf("query: %w", err)
	}
	out := QueryResult{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return QueryResult{}, fmt.Errorf("query: %w", err)
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return QueryResult{}, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// Snapshot returns a consistent copy of the whole database file and the
// applied index it reflects. The copy is SQLite's serialization (page for
// page, read in one read transaction), not VACUUM INTO: VACUUM may renumber
// rowids, and a replica restored from such a copy would assign different
// rowids from then on.
func (m *StateMachine) Snapshot() ([]byte, uint64, error) {
	m.writeMu.Lock() // no Apply in between: the copy and the index agree
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return nil, 0, errStateMachineClosed
	}
	ctx := context.Background()
	conn, err := m.w.Conn(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	defer conn.Close()
	var data []byte
	err = conn.Raw(func(dc any) error {
		s, ok := dc.(interface{ Serialize() ([]byte, error) })
		if !ok {
			return fmt.Errorf("sqlite driver connection %T cannot serialize", dc)
		}
		var err error
		data, err = s.Serialize()
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	return data, m.applied.Load(), nil
}

// Restore replaces the database with a snapshot's data. The data is
// written to a temp file, fsynced and checked (a SQLite database with the
// bookkeeping tables) before it replaces the live file by rename; a crash
// leaves either the old database or the new one.
func (m *StateMachine) Restore(data []byte) error {
	tmp := m.path + ".restore"
	if err := writeSynced(tmp, data); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer removeDBFiles(tmp)
	if err := checkSnapshotDB(tmp); err != nil {
		return fmt.Errorf("restore: snapshot data: %w", err)
	}

	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if m.closed {
		return errStateMachineClosed
	}
	if err := m.r.Close(); err != nil {
		return m.broken(fmt.Errorf("restore: close readers: %w", err))
	}
	// A complete checkpoint leaves the WAL empty, so dropping it below loses
	// nothing; a partial one would leave a database file that needs it.
	var busy, logFrames, ckpt int
	if err := m.w.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &ckpt); err != nil || busy != 0 {
		return m.broken(fmt.Errorf("restore: checkpoint (busy=%d): %v", busy, err))
	}
	if err := m.w.Close(); err != nil {
		return m.broken(fmt.Errorf("restore: close writer: %w", err))
	}
	// A WAL left beside the new file would be replayed into it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(m.path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m.broken(fmt.Errorf("restore: %w", err))
		}
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return m.broken(fmt.Errorf("restore: %w", err))
	}
	if err := syncDir(filepath.Dir(m.path)); err != nil {
		return m.broken(fmt.Errorf("restore: %w", err))
	}
	if err := m.open(); err != nil {
		return m.broken(fmt.Errorf("restore: reopen: %w", err))
	}
	return nil
}

// broken marks the state machine unusable after a failure halfway through
// swapping files; the node must restart, which reopens whichever file is in
// place.
func (m *StateMachine) broken(err error) error {
	m.closed = true
	if m.w != nil {
		m.w.Close()
	}
	if m.r != nil {
		m.r.Close()
	}
	return err
}

func writeSynced(path string, data []byte) error {
	removeDBFiles(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func removeDBFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix)
	}
}

// checkSnapshotDB opens a candidate database and checks that it is intact
// and carries the state machine's bookkeeping.
func checkSnapshotDB(path string) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var check string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&check); err != nil {
		return err
	}
	if check != "ok" {
		return fmt.Errorf("quick_check: %s", check)
	}
	var idx int64
	if err := db.QueryRow(`SELECT idx FROM _chaoscheck_applied WHERE id = 1`).Scan(&idx); err != nil {
		return fmt.Errorf("no applied index: %w", err)
	}
	return nil
}

// Close closes the database. Further calls return an error.
func (m *StateMachine) Close() error {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := errors.Join(m.r.Close(), m.w.Close())
	if err != nil {
		return fmt.Errorf("close state machine: %w", err)
	}
	return nil
}

// ContentHash hashes the schema and content of the user's tables (the
// _chaoscheck_ bookkeeping excluded), read in one transaction, so `verify`
// can compare replicas: equal content gives equal hashes. Rows are hashed in
// rowid (or primary key) order with their rowids, since rowids decide future
// inserts; values are hashed with their SQLite type, so 1 and 1.0 and '1'
// differ.
func (m *StateMachine) ContentHash(ctx context.Context) (string, error) {
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return "", errStateMachineClosed
	}
	tx, err := m.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	h := sha256.New()
	if err := hashSchema(ctx, tx, h); err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	tables, err := userTables(ctx, tx)
	if err != nil {
		return "", fmt.Errorf("content hash: %w", err)
	}
	for _, t := range tables {
		if err := hashTable(ctx, tx, h, t); err != nil {
			return "", fmt.Errorf("content hash: table %s: %w", t.name, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func isBookkeeping(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "_chaoscheck_")
}

func hashSchema(ctx context.Context, tx *sql.Tx, h hash.Hash) error {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var typ, name, tbl, text string
		if err := rows.Scan(&typ, &name, &tbl, &text); err != nil {
			return err
		}
		if isBookkeeping(name) || isBookkeeping(tbl) {
			continue
		}
		for _, s := range []string{"schema", typ, name, tbl, text} {
			hashValue(h, s)
		}
	}
	return rows.Err()
}

type userTable struct {
	name     string
	noRowid  bool
	cols, pk []string
}

func userTables(ctx context.Context, tx *sql.Tx) ([]userTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, wr FROM pragma_table_list
		WHERE schema = 'main' AND type IN ('table', 'shadow') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	var tables []userTable
	for rows.Next() {
		var t userTable
		if err := rows.Scan(&t.name, &t.noRowid); err != nil {
			rows.Close()
			return nil, err
		}
		if isBookkeeping(t.name) || t.name == "sqlite_schema" || t.name == "sqlite_master" {
			continue
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range tables {
		cr, err := tx.QueryContext(ctx, `SELECT name, pk FROM pragma_table_info(?) ORDER BY cid`, tables[i].name)
		if err != nil {
			return nil, err
		}
		type pkCol struct {
			name string
			pos  int
		}
		var pks []pkCol
		for cr.Next() {
			var name string
			var pk int
			if err := cr.Scan(&name, &pk); err != nil {
				cr.Close()
				return nil, err
			}
			tables[i].cols = append(tables[i].cols, name)
			if pk > 0 {
				pks = append(pks, pkCol{name, pk})
			}
		}
		cr.Close()
		if err := cr.Err(); err != nil {
			return nil, err
		}
		for pos := 1; pos <= len(pks); pos++ {
			for _, p := range pks {
				if p.pos == pos {
					tables[i].pk = append(tables[i].pk, p.name)
				}
			}
		}
	}
	return tables, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func hashTable(ctx context.Context, tx *sql.Tx, h hash.Hash, t userTable) error {
	// Unary + keeps each value and its type but drops the column's declared
	// type, so the driver does not turn DATETIME text into time.Time.
	var sel []string
	order := "_rowid_"
	if !t.noRowid {
		sel = append(sel, "_rowid_")
	} else {
		var pk []string
		for _, c := range t.pk {
			pk = append(pk, quoteIdent(c))
		}
		order = strings.Join(pk, ", ")
	}
	for _, c := range t.cols {
		sel = append(sel, "+"+quoteIdent(c))
	}
	q := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", strings.Join(sel, ", "), quoteIdent(t.name), order)
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	hashValue(h, "table")
	hashValue(h, t.name)
	vals := make([]any, len(sel))
	ptrs := make([]any, len(sel))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		h.Write([]byte{'r'})
		for _, v := range vals {
			hashValue(h, v)
		}
	}
	return rows.Err()
}

// hashValue writes v with a type tag and a length, so no two different
// sequences of values hash the same stream.
func hashValue(h hash.Hash, v any) {
	var n [8]byte
	writeBytes := func(tag byte, b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write([]byte{tag})
		h.Write(n[:])
		h.Write(b)
	}
	switch v := v.(type) {
	case nil:
		h.Write([]byte{'n'})
	case int64:
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write([]byte{'i'})
		h.Write(n[:])
	case float64:
		binary.BigEndian.PutUint64(n[:], math.Float64bits(v))
		h.Write([]byte{'f'})
		h.Write(n[:])
	case string:
		writeBytes('s', []byte(v))
	case []byte:
		writeBytes('b', v)
	default:
		writeBytes('x', fmt.Appendf(nil, "%T %v", v, v))
	}
}

// dedupTable remembers each request id's first result. The real one lives
// in SQLite, written in the same transaction as the command's effects.
type dedupTable interface {
	lookup(ctx context.Context, tx *sql.Tx, id string) (ExecResult, bool, error)
	byIndex(ctx context.Context, db *sql.DB, index uint64) (ExecResult, bool, error)
	record(ctx context.Context, tx *sql.Tx, id string, res ExecResult) error
	committed() // the transaction that called record committed
	discard()   // it did not
}

type sqlDedup struct{}

func (sqlDedup) lookup(ctx context.Context, tx *sql.Tx, id string) (ExecResult, bool, error) {
	return scanResult(tx.QueryRowContext(ctx, `SELECT result FROM _chaoscheck_requests WHERE request_id = ?`, id))
}

func (sqlDedup) byIndex(ctx context.Context, db *sql.DB, index uint64) (ExecResult, bool, error) {
	return scanResult(db.QueryRowContext(ctx, `SELECT result FROM _chaoscheck_requests WHERE idx = ?`, int64(index)))
}

func scanResult(row *sql.Row) (ExecResult, bool, error) {
	var text string
	if err := row.Scan(&text); errors.Is(err, sql.ErrNoRows) {
		return ExecResult{}, false, nil
	} else if err != nil {
		return ExecResult{}, false, fmt.Errorf("read request table: %w", err)
	}
	var res ExecResult
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		return ExecResult{}, false, fmt.Errorf("decode stored result: %w", err)
	}
	return res, true, nil
}

func (sqlDedup) record(ctx context.Context, tx *sql.Tx, id string, res ExecResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO _chaoscheck_requests (request_id, idx, result) VALUES (?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET idx = excluded.idx, result = excluded.result`,
		id, int64(res.Index), string(b))
	if err != nil {
		return fmt.Errorf("record request %q: %w", id, err)
	}
	return nil
}

func (sqlDedup) committed() {}
func (sqlDedup) discard()   {}

// noDedup is the NoDedup bug: nothing is remembered.
type noDedup struct{}

func (noDedup) lookup(context.Context, *sql.Tx, string) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}
func (noDedup) byIndex(context.Context, *sql.DB, uint64) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}
func (noDedup) record(context.Context, *sql.Tx, string, ExecResult) error { return nil }
func (noDedup) committed()                                                {}
func (noDedup) discard()                                                  {}

// memDedup is the MemoryDedup bug: the table lives in process memory, so a
// restart forgets it. Guarded by StateMachine.writeMu.
type memDedup struct {
	byID    map[string]ExecResult
	byIdx   map[uint64]string
	pending map[string]ExecResult
}

func newMemDedup() *memDedup {
	return &memDedup{byID: map[string]ExecResult{}, byIdx: map[uint64]string{}, pending: map[string]ExecResult{}}
}

func (d *memDedup) lookup(_ context.Context, _ *sql.Tx, id string) (ExecResult, bool, error) {
	res, ok := d.byID[id]
	return res, ok, nil
}

func (d *memDedup) byIndex(_ context.Context, _ *sql.DB, index uint64) (ExecResult, bool, error) {
	id, ok := d.byIdx[index]
	if !ok {
		return ExecResult{}, false, nil
	}
	return d.byID[id], true, nil
}

func (d *memDedup) record(_ context.Context, _ *sql.Tx, id string, res ExecResult) error {
	d.pending[id] = res
	return nil
}

func (d *memDedup) committed() {
	for id, res := range d.pending {
		d.byID[id] = res
		d.byIdx[res.Index] = id
	}
	clear(d.pending)
}

func (d *memDedup) discard() { clear(d.pending) }
