package raft

import (
	"context"
	"fmt"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/workload"
)

// This file holds the clients of the Raft store's workloads and the
// mapping of raftsql's answers to op completions.

// registerClient: one register per key of kv(k TEXT PRIMARY KEY, v
// INTEGER); reads are linearizable /query (ReadIndex).
type registerClient struct {
	c   *raftsql.Client
	ids requestIDs
}

func (c *registerClient) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case "read":
		res, node, err := c.c.Query(ctx, "SELECT v FROM kv WHERE k = ?", op.Key)
		done := queryCompletion(op, node, err)
		if err != nil {
			return done
		}
		done.Value = nil // no row reads as nil, which constrains nothing
		if len(res.Rows) > 0 && len(res.Rows[0]) > 0 {
			v, err := cellInt(res.Rows[0][0])
			if err != nil {
				done.Type, done.Error = history.Fail, err.Error()
				return done
			}
			done.Value = v
		}
		return done
	case "write":
		_, node, err := c.c.Exec(ctx, c.ids.next(), raftsql.Stmt{
			SQL:  "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
			Args: []any{op.Key, op.Value},
		})
		return execCompletion(op, node, err)
	case "cas":
		fromTo, ok := op.Value.([]any)
		if !ok || len(fromTo) != 2 {
			op.Type, op.Error = history.Fail, fmt.Sprintf("cas value %v is not [from, to]", op.Value)
			return op
		}
		res, node, err := c.c.Exec(ctx, c.ids.next(), raftsql.Stmt{
			SQL:  "UPDATE kv SET v = ? WHERE k = ? AND v = ?",
			Args: []any{fromTo[1], op.Key, fromTo[0]},
		})
		done := execCompletion(op, node, err)
		if err == nil && (len(res.Results) == 0 || res.Results[0].RowsAffected == 0) {
			// The committed UPDATE matched no row: the register did not
			// hold from, and nothing changed.
			done.Type, done.Error = history.Fail, "cas: value differs"
		}
		return done
	}
	op.Type, op.Error = history.Fail, "register: unknown f "+op.F
	return op
}

func (c *registerClient) Close() error { c.c.Close(); return nil }

// setClient: unique adds into s(v), which has no key, so an add applied
// twice shows as a duplicate element; read-all reads every row.
type setClient struct {
	c   *raftsql.Client
	ids requestIDs
}

func (c *setClient) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case "add":
		_, node, err := c.c.Exec(ctx, c.ids.next(), raftsql.Stmt{SQL: "INSERT INTO s (v) VALUES (?)", Args: []any{op.Value}})
		return execCompletion(op, node, err)
	case "read-all":
		res, node, err := c.c.Query(ctx, "SELECT v FROM s ORDER BY rowid")
		done := queryCompletion(op, node, err)
		if err != nil {
			return done
		}
		vals := make([]any, 0, len(res.Rows))
		for _, row := range res.Rows {
			if len(row) == 0 {
				continue
			}
			v, err := cellInt(row[0])
			if err != nil {
				done.Type, done.Error = history.Fail, err.Error()
				return done
			}
			vals = append(vals, v)
		}
		done.Value = vals
		return done
	}
	op.Type, op.Error = history.Fail, "set: unknown f "+op.F
	return op
}

func (c *setClient) Close() error { c.c.Close(); return nil }

// txnClient performs the retry workload's txn and final-read ops: a txn
// inserts one row holding its tx_id into txs, proposed with the tx_id as
// raftsql's request id, which raftsql must apply once — the property
// under test.
type txnClient struct{ c *raftsql.Client }

func (c *txnClient) Invoke(ctx context.Context, op history.Op) history.Op {
	switch op.F {
	case "txn":
		v, _ := op.Value.(map[string]any)
		_, node, err := c.c.Exec(ctx, op.TxID, raftsql.Stmt{SQL: "INSERT INTO txs (tx_id, v) VALUES (?, ?)", Args: []any{op.TxID, v["insert"]}})
		return execCompletion(op, node, err)
	case "final-read":
		res, node, err := c.c.Query(ctx, "SELECT tx_id, COUNT(*) FROM txs GROUP BY tx_id")
		done := queryCompletion(op, node, err)
		if err != nil {
			return done
		}
		counts := make(map[string]any, len(res.Rows))
		for _, row := range res.Rows {
			if len(row) != 2 {
				done.Type, done.Error = history.Fail, fmt.Sprintf("final-read: bad row %v", row)
				return done
			}
			id, ok := row[0].(string)
			n, err := cellInt(row[1])
			if !ok || err != nil {
				done.Type, done.Error = history.Fail, fmt.Sprintf("final-read: bad row %v", row)
				return done
			}
			counts[id] = n
		}
		done.Value = map[string]any{workload.RaftRetryParticipant: counts}
		return done
	}
	op.Type, op.Error = history.Fail, "retry: unknown f "+op.F
	return op
}

func (c *txnClient) Close() error { c.c.Close(); return nil }

// nodeName is how a raftsql node id appears in a history's node field.
func nodeName(id uint64) string {
	if id == 0 {
		return ""
	}
	return cluster.RaftNodeName(id)
}

// execCompletion maps an Exec's answer to a completion of inv: ok, fail
// when the node says it certainly was not applied, info otherwise.
func execCompletion(inv history.Op, node uint64, err error) history.Op {
	c := inv
	c.Node = nodeName(node)
	switch {
	case err == nil:
		c.Type = history.OK
	case raftsql.IsIndeterminate(err):
		c.Type, c.Error = history.Info, err.Error()
	default:
		c.Type, c.Error = history.Fail, err.Error()
	}
	return c
}

// queryCompletion maps a Query's error: a read changes nothing, so a read
// that got no answer did not happen, and is a fail.
func queryCompletion(inv history.Op, node uint64, err error) history.Op {
	c := inv
	c.Node = nodeName(node)
	if err != nil {
		c.Type, c.Error = history.Fail, err.Error()
	} else {
		c.Type = history.OK
	}
	return c
}

// cellInt reads an INTEGER cell as JSON delivered it, by the one value
// rule (history.Int); nil stays nil.
func cellInt(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	n, err := history.Int(v)
	if err != nil {
		return nil, fmt.Errorf("cell: %w", err)
	}
	return n, nil
}

// requestIDs names the raftsql requests of one client: unique per process,
// and processes are unique per run.
type requestIDs struct {
	prefix string
	n      int64
}

func (r *requestIDs) next() string {
	r.n++
	return fmt.Sprintf("%s-%d", r.prefix, r.n)
}
