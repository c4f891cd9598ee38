package twopc

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/chaoscheck/chaoscheck/internal/sqliteread"
)

// ParticipantDB is the participant's database file inside its data dir.
const ParticipantDB = "participant.db"

// ParticipantState is a participant's database as `chaoscheck verify` sees
// it: read in one read transaction, so balances, effect rows and tx
// records belong to one committed state.
type ParticipantState struct {
	Balances map[string]int64 `json:"balances"`
	// Effects counts effect rows per tx_id: how many times each tx was
	// applied here, whatever the dedup records say.
	Effects map[string]int `json:"effects"`
	Txs     []TxRecord     `json:"txs"` // every tx record, by xid
}

// TxRecord is one row of a participant's txs table.
type TxRecord struct {
	TxID  string `json:"tx_id"`
	XID   string `json:"xid"`
	State string `json:"state"` // prepared (in doubt), committed or aborted
}

// InspectParticipant reads the participant database in dir without
// writing to it; it is safe while the participant runs.
func InspectParticipant(ctx context.Context, dir string) (ParticipantState, error) {
	path := filepath.Join(dir, ParticipantDB)
	dsn, err := sqliteread.DSN(path, 5000)
	if err != nil {
		return ParticipantState{}, fmt.Errorf("inspect participant: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return ParticipantState{}, fmt.Errorf("inspect participant %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ParticipantState{}, fmt.Errorf("inspect participant %s: %w", path, err)
	}
	defer func() { _ = tx.Rollback() }()
	st := ParticipantState{Balances: map[string]int64{}, Effects: map[string]int{}}
	queries := []struct {
		sql  string
		scan func(*sql.Rows) error
	}{
		{`SELECT name, balance FROM accounts`, func(r *sql.Rows) error {
			var name string
			var bal int64
			err := r.Scan(&name, &bal)
			st.Balances[name] = bal
			return err
		}},
		{`SELECT tx_id, count(*) FROM effects GROUP BY tx_id`, func(r *sql.Rows) error {
			var id string
			var n int
			err := r.Scan(&id, &n)
			st.Effects[id] = n
			return err
		}},
		{`SELECT tx_id, xid, state FROM txs ORDER BY tx_id, xid`, func(r *sql.Rows) error {
			var t TxRecord
			err := r.Scan(&t.TxID, &t.XID, &t.State)
			st.Txs = append(st.Txs, t)
			return err
		}},
	}
	for _, q := range queries {
		if err := eachRow(ctx, tx, q.sql, q.scan); err != nil {
			return ParticipantState{}, fmt.Errorf("inspect participant %s: %s: %w", path, q.sql, err)
		}
	}
	return st, nil
}

func eachRow(ctx context.Context, tx *sql.Tx, q string, fn func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// DecisionRecord is one record of the coordinator's decision log.
type DecisionRecord struct {
	TxID         string   `json:"tx_id"`
	XID          string   `json:"xid"`
	State        string   `json:"state"`        // started, committed or aborted
	Participants []string `json:"participants"` // those the tx has ops on, sorted
	Done         bool     `json:"done"`         // every participant acknowledged the commit
}

// ReadDecisionLog reads every record of the decision log in dir. It opens
// badger read-write, because read-only badger refuses the unfinished
// write-ahead log a kill -9 leaves and replaying it truncates files: pass
// a copy of a stopped coordinator's data dir, never the live one.
func ReadDecisionLog(dir string) ([]DecisionRecord, error) {
	l, err := openDecisionLog(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	var out []DecisionRecord
	err = l.each(func(r record) error {
		d := DecisionRecord{TxID: r.TxID, XID: r.XID, State: r.State, Done: r.Done}
		for p := range r.Ops {
			d.Participants = append(d.Participants, p)
		}
		sort.Strings(d.Participants)
		out = append(out, d)
		return nil
	})
	if cerr := l.close(); err == nil && cerr != nil {
		err = fmt.Errorf("close decision log: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
