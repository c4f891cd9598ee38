package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// register: read, write and cas on keys k0…k(Keys-1), each starting at 0.
var register = sqlWorkload{
	tables: []string{"cc_register"},
	ddl:    []string{"CREATE TABLE cc_register (k text PRIMARY KEY, v bigint NOT NULL)"},
	seed: func(ctx context.Context, tx pgx.Tx, o workload.Options) error {
		_, err := tx.Exec(ctx, "INSERT INTO cc_register (k, v) SELECT 'k' || i, 0 FROM generate_series(0, $1 - 1) AS i", o.Keys)
		return err
	},
	invoke: func(ctx context.Context, c *Client, op history.Op) history.Op {
		switch op.F {
		case "read":
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				var v int64
				err := tx.QueryRow(ctx, "SELECT v FROM cc_register WHERE k = $1", op.Key).Scan(&v)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil, nil
				}
				return v, err
			})
		case "write":
			v, ok := asInt(op.Value)
			if !ok {
				return badValue(op)
			}
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				_, err := tx.Exec(ctx, `INSERT INTO cc_register (k, v) VALUES ($1, $2)
					ON CONFLICT (k) DO UPDATE SET v = excluded.v`, op.Key, v)
				return op.Value, err
			})
		case "cas":
			l, _ := op.Value.([]any)
			if len(l) != 2 {
				return badValue(op)
			}
			from, ok1 := asInt(l[0])
			to, ok2 := asInt(l[1])
			if !ok1 || !ok2 {
				return badValue(op)
			}
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				tag, err := tx.Exec(ctx, "UPDATE cc_register SET v = $3 WHERE k = $1 AND v = $2", op.Key, from, to)
				if err != nil {
					return nil, err
				}
				if tag.RowsAffected() == 0 {
					return nil, definiteFailure{fmt.Sprintf("cas: %s is not %d", op.Key, from)}
				}
				return op.Value, nil
			})
		}
		return unsupported(op)
	},
}

// set: adds of unique integers, and read-all. No unique constraint: an
// add applied twice shows as a duplicate element.
var set = sqlWorkload{
	tables: []string{"cc_set"},
	ddl:    []string{"CREATE TABLE cc_set (e bigint NOT NULL)"},
	invoke: func(ctx context.Context, c *Client, op history.Op) history.Op {
		switch op.F {
		case "add":
			e, ok := asInt(op.Value)
			if !ok {
				return badValue(op)
			}
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				_, err := tx.Exec(ctx, "INSERT INTO cc_set (e) VALUES ($1)", e)
				return op.Value, err
			})
		case "read-all":
			return c.txn(ctx, op, func(tx pgx.Tx) (any, error) {
				return queryInts(ctx, tx, "SELECT e FROM cc_set ORDER BY e")
			})
		}
		return unsupported(op)
	},
}

// queryInts returns the single bigint column of q's rows.
func queryInts(ctx context.Context, tx pgx.Tx, q string, args ...any) ([]any, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	es, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out, nil
}

// badValue completes an op whose value is not what its f needs: fail,
// nothing was sent.
func badValue(op history.Op) history.Op {
	op.Type, op.Error = history.Fail, fmt.Sprintf("%s: malformed value %v", op.F, op.Value)
	return op
}
