// dedup.go: the request table that makes a client's retry return the first
// result instead of applying again, and the two seeded bugs that weaken it.

package raftsql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// dedupTable remembers each request id's first result. The real one lives
// in SQLite, written in the same transaction as the command's effects.
type dedupTable interface {
	lookup(ctx context.Context, q execer, id string) (ExecResult, bool, error)
	byIndex(ctx context.Context, q execer, index uint64) (ExecResult, bool, error)
	record(ctx context.Context, q execer, id string, res ExecResult) error
	flush(ctx context.Context, q execer) error // before the transaction that called record commits
	committed()                                // that transaction committed
	discard()                                  // it did not
}

// sqlDedup is the request table in SQLite. record only notes the result;
// flush writes every result noted in the transaction with one statement
// per dedupChunk of them, before COMMIT: one statement per entry was a
// sixth of applying an upsert. lookup sees the noted results too, so a
// retry applied later in the same transaction is still a duplicate.
type sqlDedup struct {
	pending []pendingRecord
	byID    map[string]int // request id → its place in pending
}

type pendingRecord struct {
	id     string
	index  uint64
	result string
}

func newSQLDedup() *sqlDedup { return &sqlDedup{byID: map[string]int{}} }

func (d *sqlDedup) lookup(ctx context.Context, q execer, id string) (ExecResult, bool, error) {
	if i, ok := d.byID[id]; ok {
		var res ExecResult
		if err := decodeJSON([]byte(d.pending[i].result), &res); err != nil {
			return ExecResult{}, false, fmt.Errorf("decode noted result: %w", err)
		}
		return res, true, nil
	}
	return scanResult(q.QueryRowContext(ctx, `SELECT result FROM _chaoscheck_requests WHERE request_id = ?`, id))
}

// byIndex scans the table (it has no index on idx; see the schema).
func (*sqlDedup) byIndex(ctx context.Context, q execer, index uint64) (ExecResult, bool, error) {
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

func (d *sqlDedup) record(_ context.Context, _ execer, id string, res ExecResult) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	r := pendingRecord{id: id, index: res.Index, result: string(b)}
	if i, ok := d.byID[id]; ok {
		// The same id twice in one transaction (an entry applied again
		// past a lost applied index): the later write wins, as two
		// upserts in a row would have it.
		d.pending[i] = r
		return nil
	}
	d.byID[id] = len(d.pending)
	d.pending = append(d.pending, r)
	return nil
}

// dedupChunk is how many results one INSERT writes: the statement texts
// for 1..dedupChunk rows are all the request table adds to the prepared
// statement cache.
const dedupChunk = 16

func (d *sqlDedup) flush(ctx context.Context, q execer) error {
	for rest := d.pending; len(rest) > 0; {
		n := min(len(rest), dedupChunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO _chaoscheck_requests (request_id, idx, result) VALUES (?, ?, ?)`)
		b.WriteString(strings.Repeat(`, (?, ?, ?)`, n-1))
		b.WriteString(` ON CONFLICT (request_id) DO UPDATE SET idx = excluded.idx, result = excluded.result`)
		args := make([]any, 0, 3*n)
		for _, r := range rest[:n] {
			args = append(args, r.id, int64(r.index), r.result)
		}
		if _, err := q.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("record %d request results: %w", n, err)
		}
		rest = rest[n:]
	}
	return nil
}

func (d *sqlDedup) committed() { d.discard() }

func (d *sqlDedup) discard() {
	d.pending = d.pending[:0]
	clear(d.byID)
}

// noDedup is the NoDedup bug: nothing is remembered.
type noDedup struct{}

func (noDedup) lookup(context.Context, execer, string) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}

func (noDedup) byIndex(context.Context, execer, uint64) (ExecResult, bool, error) {
	return ExecResult{}, false, nil
}

func (noDedup) record(context.Context, execer, string, ExecResult) error { return nil }

func (noDedup) flush(context.Context, execer) error { return nil }

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

func (*memDedup) flush(context.Context, execer) error { return nil }

func (d *memDedup) committed() {
	for id, res := range d.pending {
		d.byID[id] = res
		d.byIdx[res.Index] = id
	}
	clear(d.pending)
}

func (d *memDedup) discard() { clear(d.pending) }
