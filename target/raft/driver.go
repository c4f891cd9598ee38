package raft

import (
	"context"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/workload"
)

// driver runs one workload on the Raft store: its tables and its clients.
type driver struct {
	s        *System
	workload string
	opts     workload.Options
}

// Setup creates the workload's table (and the register's keys at 0) as one
// request, retried under the same request id until the cluster answers:
// raftsql applies a request id once.
func (d *driver) Setup(ctx context.Context) error {
	var stmts []raftsql.Stmt
	switch d.workload {
	case "register", "register-per-node":
		stmts = append(stmts, raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)"})
		for i := range d.opts.Keys {
			stmts = append(stmts, raftsql.Stmt{SQL: "INSERT OR IGNORE INTO kv (k, v) VALUES (?, 0)", Args: []any{workload.RegisterKey(i)}})
		}
	case "set":
		stmts = append(stmts, raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS s (v INTEGER)"})
	case "retry":
		stmts = append(stmts, raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS txs (tx_id TEXT NOT NULL, v INTEGER)"})
	case "list-append", "rw-register":
		stmts = append(stmts, raftsql.Stmt{SQL: txnSQL[d.workload].table})
	default:
		return fmt.Errorf("target raft: no driver for workload %q", d.workload)
	}
	// In requests of at most raftsql.MaxStmts statements (the register's
	// keys can be many more), each under its own request id so a retry of
	// one applies it once.
	c := d.client(nil, 5*time.Second)
	for part := 0; len(stmts) > 0; part++ {
		n := min(len(stmts), raftsql.MaxStmts)
		batch := stmts[:n]
		stmts = stmts[n:]
		err := workload.RetryUntil(ctx, "setup "+d.workload, func(ctx context.Context) error {
			_, _, err := c.Exec(ctx, fmt.Sprintf("setup-%s-%d", d.workload, part), batch...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// client is a raftsql client of the replicas ids (nil: all), whose
// addresses go through the system's client routes.
func (d *driver) client(ids []uint64, timeout time.Duration) *raftsql.Client {
	if ids == nil {
		ids = d.s.rc.IDs()
	}
	apis := map[uint64]string{}
	for _, id := range ids {
		apis[id] = d.s.ClientAddr(d.s.rc.APIAddr(id))
	}
	return raftsql.NewClient(apis, raftsql.ClientOptions{Timeout: timeout})
}

func (d *driver) NewClient(process int64) (workload.Client, error) {
	ids := requestIDs{prefix: fmt.Sprintf("%s-p%d", d.workload, process)}
	switch d.workload {
	case "register":
		return &registerClient{c: d.client(nil, d.opts.OpTimeout), ids: ids}, nil
	case "register-per-node":
		// One replica only: the client cannot wander off to another node,
		// and its reads are served (or forwarded) by its own replica.
		all := d.s.rc.IDs()
		if len(all) == 0 {
			return nil, fmt.Errorf("register-per-node: the Raft cluster has no nodes")
		}
		id := all[int(process%int64(len(all)))]
		return &registerClient{c: d.client([]uint64{id}, d.opts.OpTimeout), ids: ids}, nil
	case "set":
		return &setClient{c: d.client(nil, d.opts.OpTimeout), ids: ids}, nil
	case "retry":
		return &txnClient{c: d.client(nil, d.opts.OpTimeout)}, nil
	case "list-append", "rw-register":
		return &elleClient{c: d.client(nil, d.opts.OpTimeout), ids: ids, workload: d.workload}, nil
	}
	return nil, fmt.Errorf("target raft: no driver for workload %q", d.workload)
}
