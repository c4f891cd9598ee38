package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/history"
)

// Elle's transactional workloads: an op is f "txn" whose value is a list
// of micro-ops, performed in order in one SQL transaction; the completion
// fills in what each read saw.

// listAppend keeps each key's list as text "1,2,3" in one row. An append
// is one upsert that concatenates, so the list is the order of the
// appends' commits and every append is visible in every later read of
// the key (Elle's traceability: each element names its writer).
var listAppend = sqlWorkload{
	tables: []string{"cc_lists"},
	ddl:    []string{"CREATE TABLE cc_lists (k bigint PRIMARY KEY, v text NOT NULL)"},
	invoke: func(ctx context.Context, c *Client, op history.Op) history.Op {
		return c.elleTxn(ctx, op, listAppendMops)
	},
}

var listAppendMops = map[string]mopFunc{
	"append": func(ctx context.Context, tx pgx.Tx, k, v int64) (any, error) {
		_, err := tx.Exec(ctx, `INSERT INTO cc_lists AS l (k, v) VALUES ($1, $2)
					ON CONFLICT (k) DO UPDATE SET v = l.v || ',' || excluded.v`, k, strconv.FormatInt(v, 10))
		return v, err
	},
	"r": func(ctx context.Context, tx pgx.Tx, k, _ int64) (any, error) {
		var s string
		err := tx.QueryRow(ctx, "SELECT v FROM cc_lists WHERE k = $1", k).Scan(&s)
		if errors.Is(err, pgx.ErrNoRows) {
			return []any{}, nil
		}
		if err != nil {
			return nil, err
		}
		return parseList(s)
	},
}

// rwRegister keeps one integer per key; a key never written reads nil.
var rwRegister = sqlWorkload{
	tables: []string{"cc_registers"},
	ddl:    []string{"CREATE TABLE cc_registers (k bigint PRIMARY KEY, v bigint NOT NULL)"},
	invoke: func(ctx context.Context, c *Client, op history.Op) history.Op {
		return c.elleTxn(ctx, op, rwRegisterMops)
	},
}

var rwRegisterMops = map[string]mopFunc{
	"w": func(ctx context.Context, tx pgx.Tx, k, v int64) (any, error) {
		_, err := tx.Exec(ctx, `INSERT INTO cc_registers (k, v) VALUES ($1, $2)
					ON CONFLICT (k) DO UPDATE SET v = excluded.v`, k, v)
		return v, err
	},
	"r": func(ctx context.Context, tx pgx.Tx, k, _ int64) (any, error) {
		var v int64
		err := tx.QueryRow(ctx, "SELECT v FROM cc_registers WHERE k = $1", k).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return v, nil
	},
}

// mopFunc performs one micro-op on key k (v is the value to write; 0 for
// a read) and returns the value to record in the completion.
type mopFunc func(ctx context.Context, tx pgx.Tx, k, v int64) (any, error)

// elleTxn performs a txn op with the given micro-op kinds.
func (c *Client) elleTxn(ctx context.Context, op history.Op, kinds map[string]mopFunc) history.Op {
	if op.F != "txn" {
		return unsupported(op)
	}
	mops, err := parseMops(op.Value, kinds)
	if err != nil {
		op.Type, op.Error = history.Fail, err.Error()
		return op
	}
	return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
		out := make([]any, len(mops))
		for i, m := range mops {
			v, err := kinds[m.f](ctx, tx, m.k, m.v)
			if err != nil {
				return nil, fmt.Errorf("micro-op %d %s %d: %w", i, m.f, m.k, err)
			}
			out[i] = []any{m.f, m.k, v}
		}
		return out, nil
	})
}

type mop struct {
	f    string
	k, v int64
}

// parseMops reads a txn value: a list of [f, key, value] with integer keys
// and, for writes, integer values.
func parseMops(v any, kinds map[string]mopFunc) ([]mop, error) {
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("txn value %v is not a list of micro-ops", v)
	}
	mops := make([]mop, len(l))
	for i, e := range l {
		t, ok := e.([]any)
		if !ok || len(t) != 3 {
			return nil, fmt.Errorf("micro-op %d (%v) is not [f, key, value]", i, e)
		}
		f, _ := t[0].(string)
		if kinds[f] == nil {
			return nil, fmt.Errorf("micro-op %d: unknown f %v", i, t[0])
		}
		k, ok := asInt(t[1])
		if !ok {
			return nil, fmt.Errorf("micro-op %d: key %v is not an integer", i, t[1])
		}
		m := mop{f: f, k: k}
		if f != "r" {
			if m.v, ok = asInt(t[2]); !ok {
				return nil, fmt.Errorf("micro-op %d: value %v is not an integer", i, t[2])
			}
		}
		mops[i] = m
	}
	return mops, nil
}

// parseList reads a list-append row "1,2,3".
func parseList(s string) ([]any, error) {
	out := []any{}
	if s == "" {
		return out, nil
	}
	for _, e := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", s, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// asInt reads an integer operand by the one value rule (history.Int): a
// string is refused, not converted, so what is stored is what was asked.
func asInt(v any) (int64, bool) {
	n, err := history.Int(v)
	return n, err == nil
}
