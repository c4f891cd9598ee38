package etcd

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/history"
)

// set is Jepsen's set workload: add v puts the key <prefix>/set/v (so an
// element is a key, unique by construction); read-all is one range read
// of the prefix, keys only.
//
// With --guarded-adds, an add is a Txn whose guard compares every key of
// the set ("no element modified at revision math.MaxInt64 or later",
// always true) and whose success branch is the put. etcd evaluates a
// Txn's compares after it has set the entry's consistent index and before
// it takes the backend's write lock, and a range compare reads every key
// in the range: the apply loop then spends most of its time in the window
// where etcd #13766 (v3.5.0–v3.5.2) loses an entry to a kill -9, instead of
// microseconds per entry.
func (c *client) set(ctx context.Context, op history.Op) history.Op {
	kv := c.m.client
	switch op.F {
	case "add":
		v, err := history.Int(op.Value)
		if err != nil {
			return failed(op, "add: "+err.Error())
		}
		k := keyPrefix(Set) + strconv.FormatInt(v, 10)
		if !c.d.s.set.guardedAdds {
			_, err = kv.Put(clientv3.WithRequireLeader(ctx), k, "")
			return complete(op, err, true)
		}
		resp, err := kv.Txn(clientv3.WithRequireLeader(ctx)).
			If(clientv3.Compare(clientv3.ModRevision(keyPrefix(Set)), "<", math.MaxInt64).WithPrefix()).
			Then(clientv3.OpPut(k, "")).Commit()
		if err == nil && !resp.Succeeded {
			return failed(op, "add: guard failed")
		}
		return complete(op, err, true)
	case "read-all":
		resp, err := kv.Get(clientv3.WithRequireLeader(ctx), keyPrefix(Set), clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return complete(op, err, false)
		}
		vals := make([]any, 0, len(resp.Kvs))
		for _, e := range resp.Kvs {
			v, err := strconv.ParseInt(strings.TrimPrefix(string(e.Key), keyPrefix(Set)), 10, 64)
			if err != nil {
				return failed(op, fmt.Sprintf("read-all: key %q is not a set element", e.Key))
			}
			vals = append(vals, v)
		}
		op.Type, op.Value = history.OK, vals
		return op
	}
	return failed(op, "set: unknown f "+op.F)
}
