// dedup.go: the request table that makes a client's retry return the first
// result instead of applying again, and the two seeded bugs that weaken it.

package raftsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// dedupTable remembers each request id's first result. The real one lives
// in SQLite, written in the same transaction as the command's effects.
type dedupTable interface {
	lookup(ctx context.Context, q execer, id string) (ExecResult, bool, error)
	byIndex(ctx context.Context, q execer, index uint64) (ExecResult, bool, error)
	record(ctx context.Context, q execer, id string, res ExecResult) error
	committed() // the transaction that called record committed
	discard()   // it did not
}

type sqlDedup struct{}

func (sqlDedup) lookup(ctx context.Context, q execer, id string) (ExecResult, bool, error) {
	return scanResult(q.QueryRowContext(ctx, `SELECT result FROM _chaoscheck_requests WHERE request_id = ?`, id))
}

func (sqlDedup) byIndex(ctx context.Context, q execer, index uint64) (ExecResult, bool, error) {
	return scanResult(q.QueryRowContext(ctx, `SELECT result FROM _chaoscheck_requests WHERE idx = ?`, int64(index)))
}

func scanResult(row *sql.Row) (ExecResult, bool, error) {
	var text string
	if err := row.Scan(&text); errors.Is(err, sql.ErrNoRows) {
		return ExecResult{}, false, nil
	} else if err != nil {
		return ExecResult{}, false, fmt.Errorf("read request table: %w", err)
	}
	// Numbers stay json.Number, so a duplicate's rows carry the integers
	// the first answer carried.
	var res ExecResult
	if err := decodeJSON([]byte(text), &res); err != nil {
		return ExecResult{}, false, fmt.Errorf("decode stored result: %w", err)
	}
	return res, true, nil
}

func (sqlDedup) record(ctx context.Context, q execer, id string, res ExecResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = q.ExecContext(ctx, `INSERT INTO _chaoscheck_requests (request_id, idx, result) VALUES (?, ?, ?)
		ON CONFLICT (request_id) DO UPDATE SET idx = excluded.idx, result = excluded.result`,
		id, int64(res.Index), string(b))
	if err != nil {
		return fmt.Errorf("record request %q: %w", id, err)
	}
	return nil
}

func (sqlDedup) committed() {}

func (sqlDedup) discard() {}

// noDedup is the NoDedup bug: nothing is remembered.
type noDedup struct{}

func (noDedup) lookup(context.Context, execer, string) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}

func (noDedup) byIndex(context.Context, execer, uint64) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}

func (noDedup) record(context.Context, execer, string, ExecResult) error { return nil }

func (noDedup) committed() {}

func (noDedup) discard() {}

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

// lookup sees the ids recorded by earlier entries of the same batch too.
func (d *memDedup) lookup(_ context.Context, _ execer, id string) (ExecResult, bool, error) {
	if res, ok := d.pending[id]; ok {
		return res, true, nil
	}
	res, ok := d.byID[id]
	return res, ok, nil
}

func (d *memDedup) byIndex(_ context.Context, _ execer, index uint64) (ExecResult, bool, error) {
	id, ok := d.byIdx[index]
	if !ok {
		return ExecResult{}, false, nil
	}
	return d.byID[id], true, nil
}

func (d *memDedup) record(_ context.Context, _ execer, id string, res ExecResult) error {
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
