package twopc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"
)

// store is a participant's SQLite database. Every write is one local
// transaction, committed with synchronous=FULL in WAL mode: when a method
// returns nil the change survives a kill -9 or a power cut.
//
// Callers serialize writes (the participant's mutex); the single
// connection makes that a property of the store too.
type store struct {
	db *sql.DB
}

// txRow is one row of the txs table: the participant's durable record of a
// transaction, keyed by xid (the tx_id unless a seeded dedup bug named the
// attempt afresh).
type txRow struct {
	XID   string
	TxID  string
	State string
	Ops   []Op
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL);
-- One row per transaction this participant has heard of; the state is
-- prepared, committed or aborted. Prepared rows carry the ops to apply.
CREATE TABLE IF NOT EXISTS txs (
	xid TEXT PRIMARY KEY,
	tx_id TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('prepared', 'committed', 'aborted')),
	ops TEXT NOT NULL,
	updated_ns INTEGER NOT NULL
);
-- One row per application of a transaction's ops. No unique key on tx_id
-- on purpose: an observer counts applications here without trusting the
-- dedup in txs.
CREATE TABLE IF NOT EXISTS effects (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	tx_id TEXT NOT NULL,
	xid TEXT NOT NULL,
	ops TEXT NOT NULL,
	applied_ns INTEGER NOT NULL
);
`

// openStore opens (creating when needed) the database in dir.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "participant.db")
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// initAccounts creates the accounts on the first start only; it reports
// whether it did. An existing database keeps its balances.
func (s *store) initAccounts(ctx context.Context, accounts map[string]int64) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var v string
	switch err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'initialized'`).Scan(&v); {
	case err == nil:
		return false, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}
	for name, bal := range accounts {
		if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (name, balance) VALUES (?, ?)`, name, bal); err != nil {
			return false, fmt.Errorf("create account %s: %w", name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('initialized', ?)`, time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return false, err
	}
	return true, tx.Commit()
}

// accounts returns every account and its balance.
func (s *store) balances(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, balance FROM accounts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var name string
		var bal int64
		if err := rows.Scan(&name, &bal); err != nil {
			return nil, err
		}
		m[name] = bal
	}
	return m, rows.Err()
}

// stateCounts counts txs per state.
func (s *store) stateCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM txs GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		m[st] = n
	}
	return m, rows.Err()
}

// prepared returns every tx recorded PREPARED: the in-doubt set.
func (s *store) prepared(ctx context.Context) ([]txRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT xid, tx_id, state, ops FROM txs WHERE state = 'prepared' ORDER BY updated_ns`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []txRow
	for rows.Next() {
		r, err := scanTx(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanTx(sc interface{ Scan(...any) error }) (txRow, error) {
	var r txRow
	var ops string
	if err := sc.Scan(&r.XID, &r.TxID, &r.State, &ops); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(ops), &r.Ops); err != nil {
		return r, fmt.Errorf("tx %s: ops: %w", r.XID, err)
	}
	return r, nil
}

// getTx returns the record of xid; found is false when there is none.
func (s *store) getTx(ctx context.Context, xid string) (r txRow, found bool, err error) {
	r, err = scanTx(s.db.QueryRowContext(ctx, `SELECT xid, tx_id, state, ops FROM txs WHERE xid = ?`, xid))
	if errors.Is(err, sql.ErrNoRows) {
		return txRow{}, false, nil
	}
	return r, err == nil, err
}

// setState records xid in state with its ops, in one forced write.
func (s *store) setState(ctx context.Context, r txRow) error {
	ops, err := json.Marshal(nonNilOps(r.Ops))
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO txs (xid, tx_id, state, ops, updated_ns) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (xid) DO UPDATE SET state = excluded.state, ops = excluded.ops, updated_ns = excluded.updated_ns`,
		r.XID, r.TxID, r.State, string(ops), time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("record tx %s %s: %w", r.XID, r.State, err)
	}
	return nil
}

// apply applies r's ops, inserts one effect row and marks r committed, in
// one local transaction: the ops are applied exactly when the state says
// committed.
func (s *store) apply(ctx context.Context, r txRow) error {
	ops, err := json.Marshal(nonNilOps(r.Ops))
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, op := range r.Ops {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET balance = balance + ? WHERE name = ?`, op.Delta, op.Account)
		if err != nil {
			return fmt.Errorf("apply tx %s to %s: %w", r.XID, op.Account, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("apply tx %s: no account %q", r.XID, op.Account)
		}
	}
	now := time.Now().UnixNano()
	if _, err := tx.ExecContext(ctx, `INSERT INTO effects (tx_id, xid, ops, applied_ns) VALUES (?, ?, ?, ?)`, r.TxID, r.XID, string(ops), now); err != nil {
		return fmt.Errorf("apply tx %s: effect row: %w", r.XID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO txs (xid, tx_id, state, ops, updated_ns) VALUES (?, ?, 'committed', ?, ?)
		ON CONFLICT (xid) DO UPDATE SET state = 'committed', updated_ns = excluded.updated_ns`,
		r.XID, r.TxID, string(ops), now); err != nil {
		return fmt.Errorf("apply tx %s: state: %w", r.XID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apply tx %s: commit: %w", r.XID, err)
	}
	return nil
}

// effects counts effect rows per tx_id.
func (s *store) effects(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT tx_id, count(*) FROM effects GROUP BY tx_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		m[id] = n
	}
	return m, rows.Err()
}

func nonNilOps(ops []Op) []Op {
	if ops == nil {
		return []Op{}
	}
	return ops
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
