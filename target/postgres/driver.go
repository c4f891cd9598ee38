package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// sqlWorkload is one workload's schema and ops in SQL.
type sqlWorkload struct {
	// tables are dropped and created again by Setup, in this order.
	tables []string
	ddl    []string
	// seed fills the tables once they exist (register's keys, bank's
	// accounts); nil: nothing to fill.
	seed func(ctx context.Context, tx pgx.Tx, o workload.Options) error
	// invoke performs op (not a read-only final op) through c.
	invoke func(ctx context.Context, c *Client, op history.Op) history.Op
}

// workloads maps each supported workload to its SQL.
var workloads = map[string]sqlWorkload{
	"list-append": listAppend,
	"rw-register": rwRegister,
	"bank":        bank,
	"register":    register,
	"set":         set,
}

// Driver is the workload's setup and clients on one PostgreSQL database.
type Driver struct {
	dsn  string
	iso  pgx.TxIsoLevel
	node string // the node name in completions
	w    sqlWorkload
	opts workload.Options
}

// NewDriver returns the driver of workload name on the database at dsn,
// every op a transaction at iso.
func NewDriver(name, dsn string, iso pgx.TxIsoLevel, node string, opts workload.Options) (*Driver, error) {
	w, ok := workloads[name]
	if !ok {
		return nil, fmt.Errorf("postgres: no workload %q", name)
	}
	return &Driver{dsn: dsn, iso: iso, node: node, w: w, opts: opts.WithDefaults()}, nil
}

// Setup drops and creates the workload's tables and fills them, retrying
// until the server answers or ctx ends.
func (d *Driver) Setup(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for {
		err := d.setupOnce(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres setup: %w (last: %v)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (d *Driver) setupOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, t := range d.w.tables {
			if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return err
			}
		}
		for _, q := range d.w.ddl {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if d.w.seed != nil {
			return d.w.seed(ctx, tx, d.opts)
		}
		return nil
	})
}

// NewClient returns a client acting as process; it connects at its first
// op.
func (d *Driver) NewClient(int64) (workload.Client, error) { return &Client{d: d}, nil }

// Client performs ops on one connection, each op one transaction.
type Client struct {
	d    *Driver
	conn *pgx.Conn
}

// Invoke performs op and returns its completion.
func (c *Client) Invoke(ctx context.Context, op history.Op) history.Op {
	op.Node = c.d.node
	if c.conn == nil || c.conn.IsClosed() {
		conn, err := pgx.Connect(ctx, c.d.dsn)
		if err != nil {
			// Nothing was sent: the op did not happen.
			op.Type, op.Error = history.Fail, "connect: "+err.Error()
			return op
		}
		c.conn = conn
	}
	return c.d.w.invoke(ctx, c, op)
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.conn.Close(ctx)
}

// txn runs body as one transaction at the driver's isolation level and
// completes op: ok with body's value, or fail/info as classify decides.
func (c *Client) txn(ctx context.Context, op history.Op, body func(tx pgx.Tx) (any, error)) history.Op {
	v, ph, err := c.run(ctx, body)
	if err == nil {
		op.Type, op.Value = history.OK, v
		return op
	}
	op.Type, op.Error = classify(err, ph), fmt.Sprintf("%s: %v", ph, err)
	var df definiteFailure
	if errors.As(err, &df) {
		op.Error = df.reason
	}
	if op.Type == history.Info {
		// The connection's state is unknown; the next op reconnects.
		c.closeConn()
	}
	return op
}

func (c *Client) run(ctx context.Context, body func(tx pgx.Tx) (any, error)) (any, phase, error) {
	tx, err := c.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: c.d.iso})
	if err != nil {
		return nil, beforeCommit, err
	}
	v, err := body(tx)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if rerr := tx.Rollback(rctx); rerr != nil {
			c.closeConn()
		}
		cancel()
		return nil, beforeCommit, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, atCommit, err
	}
	return v, 0, nil
}

func (c *Client) closeConn() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		c.conn.Close(ctx)
		cancel()
	}
}

// unsupported completes an op whose f the workload does not know: fail,
// nothing was sent.
func unsupported(op history.Op) history.Op {
	op.Type, op.Error = history.Fail, fmt.Sprintf("postgres: unsupported op f=%q", op.F)
	return op
}
