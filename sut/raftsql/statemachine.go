package raftsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
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
	// SplitTxn commits between the statements of one entry, so the
	// entry is no longer atomic: a read-only transaction can see it half
	// applied, and a crash between two statements leaves it so.
	SplitTxn bool
}

// StateMachine is the replicated SQLite database of one replica.
//
// Invariant (exactly once): the effects of the entry at index i, the applied
// index i and the result of i's request id are committed in ONE SQLite
// transaction, so after any crash the database holds either all of them or
// none; AppliedIndex never claims an entry whose effects are missing, and an
// entry whose effects are present is never applied again.
//
// The database runs in WAL mode with synchronous=NORMAL: a commit is in
// the WAL, so it survives kill -9, but it is fsynced only at checkpoints,
// so a power cut may take the last transactions back, effects, applied
// index and request results together. That is safe because the node
// applies only entries its raft log already holds durably: the log
// re-delivers whatever the database lost (etcd's bbolt backend, committed
// in batches, relies on its WAL the same way). It keeps an fsync per batch
// off the path of every write. Writes go through one connection (raft
// applies entries in order); reads (Query, ContentHash) use a pool of read-only connections
// (query_only) that see the last committed transaction.
type StateMachine struct {
	path string
	opts Options

	writeMu sync.Mutex   // serializes Apply, ApplyNoop, Snapshot, Restore
	poolMu  sync.RWMutex // Restore and Close swap or close the pools
	w       *sql.DB      // the one write connection's pool
	wc      *stmtCache   // that connection, held, with its prepared statements
	r       *sql.DB      // read-only connections
	closed  bool

	applied atomic.Uint64
	// txOpen: a transaction ApplyBatchOpen left open, holding txEnts
	// (applied, decided, not committed: AppliedIndex does not count
	// them). Guarded by writeMu.
	txOpen bool
	txEnts []Entry
	dedup  dedupTable
	facts  factsCache
	// schemaPartial says whether the schema names FAIL or ROLLBACK (a
	// table's ON CONFLICT FAIL, a trigger's RAISE(ROLLBACK, …)): then any
	// statement may fail half done. schemaKnown is false after DDL.
	schemaPartial, schemaKnown bool

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

// The request table has no rowid and no index on idx: its rows live in the
// request_id B-tree alone, so recording a result writes one B-tree, not
// three (databases made before keep their rowid table and index, which
// work the same). Finding a result by index scans the table, which only
// an entry delivered again at or below the applied index needs (raft
// redelivers none: Config.Applied).
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
) WITHOUT ROWID;
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
		m.dedup = newSQLDedup()
	}
	if err := m.open(); err != nil {
		return nil, fmt.Errorf("open state machine %s: %w", path, err)
	}
	return m, nil
}

// open opens both pools, creates the bookkeeping tables and loads the
// applied index.
func (m *StateMachine) open() error {
	const common = "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
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
	wc, err := w.Conn(context.Background())
	if err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("write connection: %w", err)
	}
	m.w, m.r, m.wc = w, r, &stmtCache{conn: wc, stmts: map[string]*sql.Stmt{}}
	m.schemaKnown = false
	m.applied.Store(idx)
	return nil
}

// stmtCache is the state machine's one write connection, with each
// statement it runs prepared once: preparing every statement anew (6 per
// entry, mostly the same bookkeeping) was a tenth of a replica's CPU.
// Only the applier uses it, under writeMu.
type stmtCache struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache; statements past it run unprepared.
const maxCachedStmts = 256

// prepared returns query's statement, or nil to run query unprepared (the
// cache is full, or it does not prepare: then running it gives the same
// error it always gave).
func (c *stmtCache) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := c.stmts[query]; ok {
		return st
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	st, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.conn.ExecContext(ctx, query, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.conn.QueryContext(ctx, query, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.conn.QueryRowContext(ctx, query, args...)
}

// close closes the statements and gives the connection back to its pool.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	clear(c.stmts)
	return errors.Join(append(errs, c.conn.Close())...)
}

// AppliedIndex is the index of the last entry applied; entries up to it
// must not be applied again.
func (m *StateMachine) AppliedIndex() uint64 { return m.applied.Load() }

// Entry is one committed raft entry as the state machine sees it: its
// index and its command's data, nil for an entry that carries none (a new
// leader's empty entry, a conf change).
type Entry struct {
	Index uint64
	Data  []byte
}

// execer is what applying needs of a SQLite connection (*sql.Conn, *sql.DB,
// *sql.Tx all have it). Apply drives its transactions itself (BEGIN
// IMMEDIATE … COMMIT on one *sql.Conn) rather than through *sql.Tx, so
// that one transaction can hold many entries.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Apply applies the command in the committed entry at index; it is
// ApplyBatch of that one entry.
func (m *StateMachine) Apply(index uint64, data []byte) (ExecResult, error) {
	if data == nil {
		data = []byte{} // not a no-op: an empty command, which does not decode
	}
	res, err := m.ApplyBatch([]Entry{{Index: index, Data: data}})
	if err != nil {
		return ExecResult{}, err
	}
	return res[0], nil
}

// ApplyNoop records the index of a committed entry that carries no command
// (the empty entry of a new leader, a conf change).
func (m *StateMachine) ApplyNoop(index uint64) error {
	_, err := m.ApplyBatch([]Entry{{Index: index}})
	return err
}

// ApplyBatch applies committed entries, in ascending index order, and
// returns one result per entry (an ExecResult with only Index for an entry
// without data); see the StateMachine invariant. All of them commit in ONE
// SQLite transaction, so a batch costs one fsync however many entries it
// holds, and a crash keeps all of it or none.
//
// An entry at or below AppliedIndex is a no-op that returns the stored
// result when the entry had a request id. A request id first recorded at an
// earlier index returns that first result with Duplicate set and applies
// nothing. A statement that fails, or a command that does not decode or is
// not deterministic, rolls back that entry's statements only and is
// recorded as an ExecResult with Error: every replica reaches the same
// outcome, however it happened to batch the entries. A Go error means the
// disk cannot be trusted and the node must stop.
func (m *StateMachine) ApplyBatch(ents []Entry) ([]ExecResult, error) {
	return m.ApplyBatchDecided(ents, nil)
}

// ApplyBatchDecided is ApplyBatch that also hands each transaction's
// results to decided as soon as they are final, just before its COMMIT:
// res[k] is the result of ents[first+k]. A result is decided by the
// committed entry and the state before it, the same on every replica and
// after any crash (the raft log re-delivers an entry whose COMMIT a crash
// took back, and it gives the same result), so the node may answer its
// client without waiting for the COMMIT's writes. AppliedIndex, which
// reads wait for, still moves only after the COMMIT.
func (m *StateMachine) ApplyBatchDecided(ents []Entry, decided func(first int, res []ExecResult)) ([]ExecResult, error) {
	return m.applyBatch(ents, decided, false)
}

// ApplyBatchOpen is ApplyBatchDecided that leaves its last transaction
// open: its entries are applied and decided, but neither committed nor
// counted by AppliedIndex until CommitOpen (or the next ApplyBatch,
// Snapshot, Restore or Close) commits them. A busy leader applies many
// small batches: one COMMIT for several of them saves most of what a
// batch costs (the COMMIT's WAL writes and the request table's INSERT).
// A crash before the COMMIT takes them back, which is safe for the
// reason answering before COMMIT is: the raft log holds them durably and
// re-delivers them, with the same results.
func (m *StateMachine) ApplyBatchOpen(ents []Entry, decided func(first int, res []ExecResult)) ([]ExecResult, error) {
	return m.applyBatch(ents, decided, true)
}

// OpenEntries is how many applied entries wait in the open transaction.
func (m *StateMachine) OpenEntries() int {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	return len(m.txEnts)
}

// CommitOpen commits the transaction ApplyBatchOpen left open, if any,
// and returns the applied index.
func (m *StateMachine) CommitOpen() (uint64, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return 0, errStateMachineClosed
	}
	if err := m.commitOpen(context.Background(), m.wc); err != nil {
		return 0, err
	}
	return m.applied.Load(), nil
}

func (m *StateMachine) applyBatch(ents []Entry, decided func(first int, res []ExecResult), keepOpen bool) ([]ExecResult, error) {
	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return nil, errStateMachineClosed
	}
	ctx := context.Background()
	res := make([]ExecResult, len(ents))
	i := 0
	for ; i < len(ents) && ents[i].Index <= m.applied.Load(); i++ {
		res[i] = ExecResult{Index: ents[i].Index}
		if ents[i].Data == nil {
			continue
		}
		r, ok, err := m.dedup.byIndex(ctx, m.wc, ents[i].Index)
		if err != nil {
			return nil, fmt.Errorf("apply %d: %w", ents[i].Index, err)
		}
		if ok {
			res[i] = r
		}
	}
	for j := i + 1; j < len(ents); j++ {
		if ents[j].Index <= ents[j-1].Index {
			return nil, fmt.Errorf("apply: entry %d after %d, indexes must ascend", ents[j].Index, ents[j-1].Index)
		}
	}
	if n := len(m.txEnts); n > 0 && i < len(ents) && ents[i].Index <= m.txEnts[n-1].Index {
		return nil, fmt.Errorf("apply %d: the open transaction already holds entries up to %d", ents[i].Index, m.txEnts[n-1].Index)
	}
	if i == len(ents) {
		if !keepOpen {
			if err := m.commitOpen(ctx, m.wc); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	for i < len(ents) {
		var early func([]ExecResult)
		if decided != nil {
			first := i
			early = func(r []ExecResult) { decided(first, r) }
		}
		n, err := m.applyRun(ctx, m.wc, ents[i:], res[i:], early, keepOpen)
		if err != nil {
			m.dedup.discard()
			m.schemaKnown = false
			return nil, fmt.Errorf("apply %d..%d: %w", ents[i].Index, ents[len(ents)-1].Index, err)
		}
		i += n
	}
	return res, nil
}

// applyRun applies a prefix of ents in one transaction (the open one, if
// any) and commits it unless keepOpen, filling res; it returns the length
// of the prefix: all of ents unless a statement made SQLite end the
// transaction itself (INSERT OR ROLLBACK, RAISE(ROLLBACK)), which undoes
// the earlier entries of the transaction too. Those are then applied
// again without that entry, to the same state, with the same outcome, and
// committed; the entry starts the next transaction. decided, if set, gets
// the results of the prefix before they are committed.
func (m *StateMachine) applyRun(ctx context.Context, conn execer, ents []Entry, res []ExecResult, decided func([]ExecResult), keepOpen bool) (int, error) {
	if !m.txOpen {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return 0, fmt.Errorf("begin: %w", err)
		}
		m.txOpen = true
	}
	done := false
	defer func() {
		if !done {
			m.rollbackOpen(ctx, conn) // after a Go error; the node stops
		}
	}()
	for j, e := range ents {
		r, gone, err := m.applyEntry(ctx, conn, e, j == 0 && len(m.txEnts) == 0)
		if err != nil {
			return 0, err
		}
		if gone {
			m.dedup.discard()
			m.schemaKnown = false // the rollback may have undone DDL
			m.txOpen = false
			if err := m.reapplyOpen(ctx, conn); err != nil {
				return 0, err
			}
			done = true
			return m.applyRun(ctx, conn, ents[:j], res, decided, false)
		}
		res[j] = r
	}
	m.txEnts = append(m.txEnts, ents...)
	if keepOpen {
		if decided != nil {
			decided(res[:len(ents)])
		}
		done = true
		return len(ents), nil
	}
	if err := m.commitOpen(ctx, conn, decidedHook(decided, res[:len(ents)])); err != nil {
		return 0, err
	}
	done = true
	return len(ents), nil
}

func decidedHook(decided func([]ExecResult), res []ExecResult) func() {
	if decided == nil || len(res) == 0 {
		return nil
	}
	return func() { decided(res) }
}

// commitOpen commits the open transaction, if any: the request results
// noted in it first, then COMMIT, then AppliedIndex moves to its last
// entry. decided, if set, runs just before the COMMIT.
func (m *StateMachine) commitOpen(ctx context.Context, conn execer, decided ...func()) error {
	if !m.txOpen {
		return nil
	}
	if err := m.dedup.flush(ctx, conn); err != nil {
		m.rollbackOpen(ctx, conn)
		return err
	}
	if m.beforeCommit != nil {
		m.beforeCommit()
	}
	if v, err := fpApplyBeforeCommit.Acquire(); err == nil {
		m.rollbackOpen(ctx, conn)
		return fmt.Errorf("failpoint sqlApplyBeforeCommit: %v", v)
	}
	for _, d := range decided {
		if d != nil {
			d()
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		m.rollbackOpen(ctx, conn)
		return fmt.Errorf("commit: %w", err)
	}
	m.dedup.committed()
	if n := len(m.txEnts); n > 0 {
		m.applied.Store(m.txEnts[n-1].Index)
	}
	m.txOpen, m.txEnts = false, m.txEnts[:0]
	return nil
}

// rollbackOpen ends the open transaction without its entries, after a Go
// error (the node stops; the raft log re-delivers them after a restart).
func (m *StateMachine) rollbackOpen(ctx context.Context, conn execer) {
	if m.txOpen {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
	}
	m.dedup.discard()
	m.txOpen, m.txEnts = false, nil
}

// reapplyOpen applies again, in a new transaction, the open transaction's
// entries that a statement's ROLLBACK has just undone: from the same state
// they give the same results, which their clients may already have.
func (m *StateMachine) reapplyOpen(ctx context.Context, conn execer) error {
	redo := m.txEnts
	m.txEnts = nil
	if len(redo) == 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	m.txOpen = true
	for i, e := range redo {
		if _, gone, err := m.applyEntry(ctx, conn, e, i == 0); err != nil {
			return err
		} else if gone {
			return fmt.Errorf("apply %d again: it ended its transaction, which it did not the first time", e.Index)
		}
	}
	m.txEnts = redo
	return nil
}

// applyEntry applies one entry inside the open transaction: the applied
// index first, then the command with its dedup bookkeeping. gone reports
// that SQLite ended the transaction; when the entry is the transaction's
// first, applyEntry itself opens a new one for the bookkeeping and gone
// is false.
func (m *StateMachine) applyEntry(ctx context.Context, q execer, e Entry, first bool) (res ExecResult, gone bool, err error) {
	if err := m.storeApplied(ctx, q, e.Index); err != nil {
		return ExecResult{}, false, err
	}
	res = ExecResult{Index: e.Index}
	if e.Data == nil {
		return res, false, nil
	}
	cmd, err := DecodeCommand(e.Data)
	if err != nil {
		res.Error = err.Error()
		return res, false, nil
	}
	if cmd.RequestID != "" {
		prev, ok, err := m.dedup.lookup(ctx, q, cmd.RequestID)
		if err != nil {
			return ExecResult{}, false, err
		}
		// A first application at an earlier index means this entry is a
		// client retry. The same index can only be this entry itself,
		// re-delivered past a lost applied index (ForgetAppliedIndex).
		if ok && prev.Index < e.Index {
			prev.Duplicate = true
			return prev, false, nil
		}
	}
	res, gone, err = m.runStmts(ctx, q, e.Index, cmd.Stmts)
	if err != nil {
		return ExecResult{}, false, err
	}
	if gone {
		if !first {
			return res, true, nil
		}
		// The entry's statements are undone; its bookkeeping needs a
		// transaction of its own.
		if _, err := q.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return ExecResult{}, false, fmt.Errorf("begin: %w", err)
		}
		if err := m.storeApplied(ctx, q, e.Index); err != nil {
			return ExecResult{}, false, err
		}
	}
	if cmd.RequestID != "" {
		if err := m.dedup.record(ctx, q, cmd.RequestID, res); err != nil {
			return ExecResult{}, false, err
		}
	}
	return res, false, nil
}

// storeApplied stores index as the applied index, first thing in each
// entry. Doing it first also resets the connection's last_insert_rowid and
// changes() to the same values on every replica (the REPLACE sets both to
// 1), whatever ran on the connection before: a restart, or other entries
// of the same batch.
func (m *StateMachine) storeApplied(ctx context.Context, q execer, index uint64) error {
	if m.opts.ForgetAppliedIndex {
		return nil
	}
	if _, err := q.ExecContext(ctx, `INSERT OR REPLACE INTO _chaoscheck_applied (id, idx) VALUES (1, ?)`, int64(index)); err != nil {
		return fmt.Errorf("store applied index: %w", err)
	}
	return nil
}

// runStmts runs a command's statements inside a savepoint so that a failing
// statement undoes the earlier ones but not the bookkeeping (nor the other
// entries of the transaction). A read-only statement (SELECT …) returns its
// rows in its StmtResult: it reads the state every replica has at that
// point of the log, so the rows are the same everywhere. txGone reports
// that SQLite ended the whole transaction.
func (m *StateMachine) runStmts(ctx context.Context, q execer, index uint64, stmts []Stmt) (res ExecResult, txGone bool, err error) {
	res = ExecResult{Index: index}
	for i, s := range stmts {
		if err := m.facts.get(s.SQL).check(s.Args); err != nil {
			res.Error = fmt.Sprintf("stmt %d: %v", i, err)
			return res, false, nil
		}
	}
	if len(stmts) == 1 {
		f := m.facts.get(stmts[0].SQL)
		alone, err := m.atomicAlone(ctx, q, f)
		if err != nil {
			return res, false, err
		}
		if alone {
			r, err := runStmt(ctx, q, stmts[0], f)
			switch {
			case err == nil:
				res.Results = []StmtResult{r}
			case isFatal(err):
				return res, false, fmt.Errorf("stmt 0: %w", err)
			default:
				res.Error = fmt.Sprintf("stmt 0: %v", err)
			}
			return res, false, nil
		}
	}
	if _, err := q.ExecContext(ctx, "SAVEPOINT chaoscheck_cmd"); err != nil {
		return res, false, fmt.Errorf("savepoint: %w", err)
	}
	res.Results = make([]StmtResult, 0, len(stmts))
	for i, s := range stmts {
		f := m.facts.get(s.SQL)
		if isDDL(f.kind) {
			m.schemaKnown = false
		}
		r, err := runStmt(ctx, q, s, f)
		if err == nil {
			res.Results = append(res.Results, r)
			if m.opts.SplitTxn && i < len(stmts)-1 {
				// Seeded bug split-txn: commit between the statements of
				// one entry. Readers see the entry half applied, and a
				// crash here leaves it so for good (its applied index is
				// already stored).
				for _, step := range []string{"RELEASE chaoscheck_cmd", "COMMIT", "BEGIN IMMEDIATE", "SAVEPOINT chaoscheck_cmd"} {
					if _, err := q.ExecContext(ctx, step); err != nil {
						return res, false, fmt.Errorf("split-txn: %s: %w", step, err)
					}
				}
			}
			continue
		}
		if isFatal(err) {
			return res, false, fmt.Errorf("stmt %d: %w", i, err)
		}
		res.Results, res.Error = nil, fmt.Sprintf("stmt %d: %v", i, err)
		if _, rbErr := q.ExecContext(ctx, "ROLLBACK TO chaoscheck_cmd"); rbErr != nil {
			return res, true, nil
		}
		if _, err := q.ExecContext(ctx, "RELEASE chaoscheck_cmd"); err != nil {
			return res, false, fmt.Errorf("release savepoint: %w", err)
		}
		return res, false, nil
	}
	if _, err := q.ExecContext(ctx, "RELEASE chaoscheck_cmd"); err != nil {
		return res, false, fmt.Errorf("release savepoint: %w", err)
	}
	return res, false, nil
}

// atomicAlone reports whether a command of this one statement may run
// without a savepoint: SQLite undoes a failed statement's own changes
// (the ABORT resolution, the default), which is all the savepoint would
// do, unless FAIL (keeps what the statement changed before it failed) or
// ROLLBACK (ends the transaction) is in play, in the statement or
// anywhere in the schema. Two of an entry's five statements were the
// savepoint's.
func (m *StateMachine) atomicAlone(ctx context.Context, q execer, f sqlFacts) (bool, error) {
	if f.partial {
		return false, nil
	}
	if isDDL(f.kind) {
		m.schemaKnown = false
		return false, nil
	}
	if !m.schemaKnown {
		err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE sql LIKE '%fail%' OR sql LIKE '%rollback%')`).Scan(&m.schemaPartial)
		if err != nil {
			return false, fmt.Errorf("read schema: %w", err)
		}
		m.schemaKnown = true
	}
	return !m.schemaPartial, nil
}

func isDDL(kind string) bool { return kind == "create" || kind == "alter" || kind == "drop" }

// runStmt runs one statement of a command: a read-only one returns its
// rows, any other what SQLite reports of its changes.
func runStmt(ctx context.Context, q execer, s Stmt, f sqlFacts) (StmtResult, error) {
	if f.readOnly {
		qr, err := queryRows(ctx, q, s.SQL, s.Args...)
		if err != nil {
			return StmtResult{}, err
		}
		return StmtResult{Columns: qr.Columns, Rows: qr.Rows}, nil
	}
	r, err := q.ExecContext(ctx, s.SQL, s.Args...)
	if err != nil {
		return StmtResult{}, err
	}
	return stmtResult(f.kind, r), nil
}

// stmtResult reads what SQLite reports for a statement. SQLite's counters
// are per connection and keep their value across statements that do not
// change them, so only the kinds of statement that set them report them.
func stmtResult(kind string, r sql.Result) StmtResult {
	var out StmtResult
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

// errNotReadOnly is Query's answer to a statement that could write.
var errNotReadOnly = errors.New("query: only a single read-only statement (SELECT, VALUES, WITH … SELECT, EXPLAIN) is allowed")

// Query runs a read-only statement on a read-only connection; it sees every
// entry applied before it started.
func (m *StateMachine) Query(ctx context.Context, query string, args ...any) (QueryResult, error) {
	res, err := m.QueryTxn(ctx, []Stmt{{SQL: query, Args: args}})
	if err != nil {
		return QueryResult{}, err
	}
	return res[0], nil
}

// QueryTxn runs read-only statements in ONE read transaction on a
// read-only connection: in WAL mode they all see one committed state, the
// newest when the first of them ran, so a multi-key read is a consistent
// snapshot (a read-only transaction that need not go through the log).
func (m *StateMachine) QueryTxn(ctx context.Context, stmts []Stmt) ([]QueryResult, error) {
	for _, s := range stmts {
		if !m.facts.get(s.SQL).readOnly {
			return nil, errNotReadOnly
		}
	}
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return nil, errStateMachineClosed
	}
	var q execer = m.r
	if len(stmts) > 1 {
		tx, err := m.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		defer func() { _ = tx.Rollback() }()
		q = tx
	}
	out := make([]QueryResult, len(stmts))
	for i, s := range stmts {
		r, err := queryRows(ctx, q, s.SQL, s.Args...)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		out[i] = r
	}
	return out, nil
}

// queryRows runs a query and reads every row.
func queryRows(ctx context.Context, q execer, query string, args ...any) (QueryResult, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return QueryResult{}, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return QueryResult{}, err
	}
	out := QueryResult{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return QueryResult{}, err
		}
		out.Rows = append(out.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return QueryResult{}, err
	}
	return out, nil
}

// CheckStmt is CheckStmt, with the statement's text analyzed once.
func (m *StateMachine) CheckStmt(s Stmt) error { return m.facts.get(s.SQL).check(s.Args) }

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
	// A clean stop keeps what the open transaction holds.
	commitErr := m.commitOpen(context.Background(), m.wc)
	err := errors.Join(commitErr, m.wc.close(), m.r.Close(), m.w.Close())
	if err != nil {
		return fmt.Errorf("close state machine: %w", err)
	}
	return nil
}
