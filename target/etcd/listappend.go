package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/history"
)

// listAppend is Elle's list-append over etcd transactions. A txn op's
// value is a list of micro-ops, ["append", k, v] and ["r", k, nil]; each
// key holds a JSON list of integers.
//
// An attempt reads every key the op touches in one read-only Txn (one
// linearizable snapshot at one revision), computes the reads and the
// appended lists locally (a read after an append in the same op sees it),
// then commits with a Txn whose guard compares each touched key's mod
// revision with the one read (0: the key did not exist) and whose success
// branch puts the appended lists. etcd's Txn is atomic, so a false guard
// changed nothing: the attempt is retried, up to listAppendAttempts, and
// the op fails if none commits. Guarding the read keys too makes the
// committed txn strict-serializable, not only its writes.
const listAppendAttempts = 5

type microOp struct {
	f   string
	key any    // as the op gave it, echoed in the completion
	k   string // the etcd key
	v   int64  // append's element
}

func parseTxn(value any) ([]microOp, error) {
	raw, ok := value.([]any)
	if !ok {
		return nil, fmt.Errorf("txn value %v is not a list of micro-ops", value)
	}
	mops := make([]microOp, 0, len(raw))
	for _, r := range raw {
		m, ok := r.([]any)
		if !ok || len(m) != 3 {
			return nil, fmt.Errorf("micro-op %v is not [f, key, value]", r)
		}
		f, _ := m[0].(string)
		k, err := history.Int(m[1])
		if err != nil {
			return nil, fmt.Errorf("micro-op %v: key %v", r, err)
		}
		mop := microOp{f: f, key: m[1], k: keyPrefix(ListAppend) + strconv.FormatInt(k, 10)}
		switch f {
		case "r":
		case "append":
			if mop.v, err = history.Int(m[2]); err != nil {
				return nil, fmt.Errorf("micro-op %v: value %v", r, err)
			}
		default:
			return nil, fmt.Errorf("micro-op %v: f %q is neither append nor r", r, f)
		}
		mops = append(mops, mop)
	}
	return mops, nil
}

func (c *client) listAppend(ctx context.Context, op history.Op) history.Op {
	if op.F != "txn" {
		return failed(op, "list-append: unknown f "+op.F)
	}
	mops, err := parseTxn(op.Value)
	if err != nil {
		return failed(op, err.Error())
	}
	ctx = clientv3.WithRequireLeader(ctx)
	for range listAppendAttempts {
		done, committed := c.appendAttempt(ctx, op, mops)
		if committed || done.Type != history.Fail || done.Error != errGuard {
			return done
		}
	}
	return failed(op, fmt.Sprintf("txn: guard failed %d times (concurrent txns on the same keys)", listAppendAttempts))
}

const errGuard = "txn: a key changed since it was read"

// appendAttempt is one read-then-commit; committed says the commit Txn
// succeeded (or the op was read-only).
func (c *client) appendAttempt(ctx context.Context, op history.Op, mops []microOp) (history.Op, bool) {
	var keys []string
	seen := map[string]bool{}
	for _, m := range mops {
		if !seen[m.k] {
			seen[m.k] = true
			keys = append(keys, m.k)
		}
	}
	gets := make([]clientv3.Op, len(keys))
	for i, k := range keys {
		gets[i] = clientv3.OpGet(k)
	}
	rresp, err := c.m.client.Txn(ctx).Then(gets...).Commit()
	if err != nil {
		return complete(op, err, false), false
	}
	lists := map[string][]int64{}
	modRev := map[string]int64{}
	for i, r := range rresp.Responses {
		kvs := r.GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			continue
		}
		var l []int64
		if err := json.Unmarshal(kvs[0].Value, &l); err != nil {
			return failed(op, fmt.Sprintf("read %s: %q is not a list of integers", keys[i], kvs[0].Value)), false
		}
		lists[keys[i]], modRev[keys[i]] = l, kvs[0].ModRevision
	}

	out := make([]any, len(mops))
	written := map[string]bool{}
	for i, m := range mops {
		if m.f == "append" {
			lists[m.k] = append(lists[m.k], m.v)
			written[m.k] = true
			out[i] = []any{"append", m.key, m.v}
			continue
		}
		var read []any
		if l, ok := lists[m.k]; ok {
			read = make([]any, len(l))
			for j, v := range l {
				read[j] = v
			}
		}
		out[i] = []any{"r", m.key, read} // nil: the key does not exist yet
	}
	done := op
	done.Value = out
	if len(written) == 0 {
		done.Type = history.OK
		return done, true
	}

	guards := make([]clientv3.Cmp, len(keys))
	var puts []clientv3.Op
	for i, k := range keys {
		guards[i] = clientv3.Compare(clientv3.ModRevision(k), "=", modRev[k])
		if written[k] {
			b, _ := json.Marshal(lists[k])
			puts = append(puts, clientv3.OpPut(k, string(b)))
		}
	}
	wresp, err := c.m.client.Txn(ctx).If(guards...).Then(puts...).Commit()
	if err != nil {
		done.Value = op.Value // what was read is not what the txn will have read if it commits
		return complete(done, err, true), false
	}
	if !wresp.Succeeded {
		return failed(op, errGuard), false
	}
	done.Type = history.OK
	return done, true
}
