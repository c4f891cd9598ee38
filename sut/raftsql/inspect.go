package raftsql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/chaoscheck/chaoscheck/internal/sqliteread"
)

// Inspection is a replica's state machine as `chaoscheck verify` sees it.
type Inspection struct {
	AppliedIndex uint64 `json:"applied_index"`
	ContentHash  string `json:"content_hash"` // StateMachine.ContentHash of the same state
}

// InspectStateMachine reads the applied index and the content hash of the
// database at path without writing to it, so it is safe while the replica
// runs and leaves a stopped replica's files as they were. It reads both
// values in ONE read transaction: in WAL mode that is a snapshot of one
// committed state, so the hash belongs to the index even while entries are
// being applied (two separate reads could pair index i with the content of
// i+1 and fake a divergence).
func InspectStateMachine(ctx context.Context, path string) (Inspection, error) {
	dsn, err := sqliteread.DSN(path, 10000)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect: %w", err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer func() { _ = tx.Rollback() }()
	var idx int64
	if err := tx.QueryRowContext(ctx, `SELECT idx FROM _chaoscheck_applied WHERE id = 1`).Scan(&idx); err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: not a raftsql state machine (no applied index): %w", path, err)
	}
	hash, err := contentHash(ctx, tx)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	return Inspection{AppliedIndex: uint64(idx), ContentHash: hash}, nil
}
