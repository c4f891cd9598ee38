package workload

import (
	"context"
	"fmt"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

func init() { constructors["set"] = newSet }

// set is Jepsen's set workload on the Raft store: unique adds into s(v),
// then, once the faults have healed, one read-all. The table has no key,
// so an add applied twice shows as a duplicate element.
type set struct {
	opts  Options
	procs processes
}

func newSet(opts Options) (Workload, error) { return &set{opts: opts}, nil }

func (*set) Name() string     { return "set" }
func (w *set) Boot() BootSpec { return BootSpec{RaftNodes: w.opts.RaftNodes} }

func (w *set) Setup(ctx context.Context, t *cluster.Target) error {
	return setupRaft(ctx, t, "setup-set", raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS s (v INTEGER)"})
}

func (*set) Generator(int64) Generator { return &setGen{} }

func (w *set) NewClient(t *cluster.Target, process int64) (Client, error) {
	c, err := newRaftClient(t, w.opts.OpTimeout)
	if err != nil {
		return nil, err
	}
	w.procs.saw(process)
	return &setClient{c: c, ids: requestIDs{prefix: fmt.Sprintf("set-p%d", process)}}, nil
}

// FinalReads records the read-all the set checker judges.
func (w *set) FinalReads(ctx context.Context, t *cluster.Target, rec Recorder) error {
	c, err := newRaftClient(t, w.opts.OpTimeout)
	if err != nil {
		return err
	}
	sc := &setClient{c: c}
	return observe(ctx, rec, &w.procs, history.Op{F: "read-all"}, w.opts.OpTimeout, sc.Invoke)
}

func (*set) Checkers(string) []checker.Checker {
	return []checker.Checker{checker.NewSet(), checker.NewStats()}
}

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

func (c *setClient) Close() error { return nil }
