package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// This file holds what the Raft workloads (register, set, retry on raft)
// share: a client per process that goes through Target.ClientAddr, and
// the mapping of raftsql's answers to op completions.

// newRaftClient returns a raftsql client of t's Raft cluster whose node
// addresses go through t.ClientAddr (a nemesis's proxy, if any).
func newRaftClient(t *cluster.Target, timeout time.Duration) (*raftsql.Client, error) {
	rc, err := raftOf(t)
	if err != nil {
		return nil, err
	}
	apis := map[uint64]string{}
	for id, addr := range rc.APIs() {
		apis[id] = t.ClientAddr(addr)
	}
	return raftsql.NewClient(apis, raftsql.ClientOptions{Timeout: timeout}), nil
}

func raftOf(t *cluster.Target) (*cluster.RaftCluster, error) {
	if t == nil || t.Raft == nil {
		return nil, errors.New("no Raft cluster booted")
	}
	return t.Raft, nil
}

// nodeName is how a raftsql node id appears in a history's node field.
func nodeName(id uint64) string {
	if id == 0 {
		return ""
	}
	return "n" + strconv.FormatUint(id, 10)
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

// cellInt reads an INTEGER cell as JSON delivered it; nil stays nil.
func cellInt(v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case int64:
		return x, nil
	case json.Number:
		return x.Int64()
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return nil, fmt.Errorf("cell %v is not an integer", x)
		}
		return int64(x), nil
	}
	return nil, fmt.Errorf("cell %v (%T) is not an integer", v, v)
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

// setupRaft runs stmts once, as request id, retrying until the cluster
// answers (a fresh cluster may still be electing its leader). Retrying
// with the same request id is safe: raftsql applies an id once.
func setupRaft(ctx context.Context, t *cluster.Target, id string, stmts ...raftsql.Stmt) error {
	c, err := newRaftClient(t, 5*time.Second)
	if err != nil {
		return err
	}
	return retryUntil(ctx, "setup "+id, func(ctx context.Context) error {
		_, _, err := c.Exec(ctx, id, stmts...)
		return err
	})
}

// errChecker stands in for a checker that could not be built: it judges
// nothing, so its verdict is unknown.
type errChecker struct {
	name string
	err  error
}

func (e errChecker) Name() string { return e.name }
func (e errChecker) Check(context.Context, history.History) checker.Result {
	return checker.Result{Checker: e.name, Valid: checker.Unknown, Notes: []string{e.err.Error()}}
}
