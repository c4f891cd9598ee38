package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

func init() { constructors["register"] = newRegister }

// register is Jepsen's linearizable register workload, one register per
// key of the Raft store's table kv(k TEXT PRIMARY KEY, v INTEGER): reads
// (linearizable /query), writes of unique values and compare-and-set.
// Every key starts at 0.
type register struct {
	opts  Options
	procs processes
}

func newRegister(opts Options) (Workload, error) { return &register{opts: opts}, nil }

func (*register) Name() string     { return "register" }
func (w *register) Boot() BootSpec { return BootSpec{RaftNodes: w.opts.RaftNodes} }

func (w *register) Setup(ctx context.Context, t *cluster.Target) error {
	stmts := []raftsql.Stmt{{SQL: "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v INTEGER)"}}
	for i := range w.opts.Keys {
		stmts = append(stmts, raftsql.Stmt{SQL: "INSERT OR IGNORE INTO kv (k, v) VALUES (?, 0)", Args: []any{registerKey(i)}})
	}
	return setupRaft(ctx, t, "setup-register", stmts...)
}

func (w *register) Generator(seed int64) Generator { return newRegisterGen(seed, w.opts.Keys) }

func (w *register) NewClient(t *cluster.Target, process int64) (Client, error) {
	c, err := newRaftClient(t, w.opts.OpTimeout)
	if err != nil {
		return nil, err
	}
	w.procs.saw(process)
	return &registerClient{c: c, ids: requestIDs{prefix: fmt.Sprintf("register-p%d", process)}}, nil
}

// FinalReads records nothing: the linearizable checker judges the reads
// made during the run.
func (*register) FinalReads(context.Context, *cluster.Target, Recorder) error { return nil }

func (w *register) Checkers(outDir string) []checker.Checker {
	lin, err := checker.NewLinearizable(checker.LinearizableOptions{
		Model: "kv", Init: json.Number("0"), Timeout: 2 * time.Minute, OutDir: outDir,
	})
	if err != nil {
		lin = errChecker{"linearizable", err}
	}
	return []checker.Checker{lin, checker.NewStats()}
}

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

func (c *registerClient) Close() error { return nil }
