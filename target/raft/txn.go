package raft

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/workload"
)

// Elle's transactional workloads on the Raft store. One txn op is one
// raftsql request:
//   - a txn with a write is one /exec: its statements are one command,
//     applied atomically at one point of the Raft log on every replica,
//     reads included (their rows come back in the command's result);
//   - a read-only txn is one /query with several statements: ReadIndex,
//     then one SQLite read transaction, so every read sees the same
//     committed state without going through the log.
//
// list-append keeps each key's list as comma-separated text in
// la(k INTEGER PRIMARY KEY, v TEXT); rw-register keeps registers in
// rw(k INTEGER PRIMARY KEY, v INTEGER).
var txnSQL = map[string]struct{ table, read, write string }{
	"list-append": {
		table: "CREATE TABLE IF NOT EXISTS la (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
		read:  "SELECT v FROM la WHERE k = ?",
		write: "INSERT INTO la (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v",
	},
	"rw-register": {
		table: "CREATE TABLE IF NOT EXISTS rw (k INTEGER PRIMARY KEY, v INTEGER)",
		read:  "SELECT v FROM rw WHERE k = ?",
		write: "INSERT INTO rw (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
	},
}

// elleClient runs list-append or rw-register txns.
type elleClient struct {
	c        *raftsql.Client
	ids      requestIDs
	workload string
}

func (c *elleClient) Invoke(ctx context.Context, op history.Op) history.Op {
	fail := func(msg string) history.Op {
		op.Type, op.Error = history.Fail, msg
		return op
	}
	if op.F != "txn" {
		return fail(c.workload + ": unknown f " + op.F)
	}
	mops, err := workload.ParseTxn(op.Value)
	if err != nil {
		return fail(err.Error())
	}
	q := txnSQL[c.workload]
	write := "append"
	if c.workload == "rw-register" {
		write = "w"
	}
	stmts := make([]raftsql.Stmt, len(mops))
	readOnly := true
	for i, m := range mops {
		switch m.F {
		case "r":
			stmts[i] = raftsql.Stmt{SQL: q.read, Args: []any{m.Key}}
		case write:
			stmts[i] = raftsql.Stmt{SQL: q.write, Args: []any{m.Key, m.Value}}
			readOnly = false
		default:
			return fail(fmt.Sprintf("%s: micro-op %q", c.workload, m.F))
		}
	}

	var rows [][][]any // per statement
	var done history.Op
	if readOnly {
		res, node, err := c.c.QueryTxn(ctx, stmts...)
		if done = queryCompletion(op, node, err); err != nil {
			return done
		}
		for _, r := range res {
			rows = append(rows, r.Rows)
		}
	} else {
		res, node, err := c.c.Exec(ctx, c.ids.next(), stmts...)
		if done = execCompletion(op, node, err); err != nil {
			return done
		}
		if len(res.Results) != len(stmts) {
			done.Type, done.Error = history.Info, fmt.Sprintf("txn: %d results for %d statements", len(res.Results), len(stmts))
			return done
		}
		for _, r := range res.Results {
			rows = append(rows, r.Rows)
		}
	}
	for i := range mops {
		if mops[i].F != "r" {
			continue
		}
		v, err := c.readValue(rows[i])
		if err != nil {
			// The txn took effect; only its read cannot be told.
			done.Type, done.Error = history.Info, err.Error()
			return done
		}
		mops[i].Value = v
	}
	done.Value = workload.TxnValue(mops)
	return done
}

// readValue turns a read's rows into the micro-op's value: a list of
// integers (list-append, [] when the key has none) or one integer
// (rw-register, nil when unwritten).
func (c *elleClient) readValue(rows [][]any) (any, error) {
	if c.workload == "rw-register" {
		if len(rows) == 0 || len(rows[0]) == 0 {
			return nil, nil
		}
		return cellInt(rows[0][0])
	}
	list := []any{}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return list, nil
	}
	text, ok := rows[0][0].(string)
	if !ok {
		return nil, fmt.Errorf("list-append: cell %v (%T) is not text", rows[0][0], rows[0][0])
	}
	for _, s := range strings.Split(text, ",") {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list-append: element %q of %q: %w", s, text, err)
		}
		list = append(list, x)
	}
	return list, nil
}

func (c *elleClient) Close() error { c.c.Close(); return nil }
