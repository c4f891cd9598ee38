package etcd

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/history"
)

// set is Jepsen's set workload: add v puts the key <prefix>/set/v (so an
// element is a key, unique by construction); read-all is one range read
// of the prefix, keys only.
func (c *client) set(ctx context.Context, op history.Op) history.Op {
	kv := c.m.client
	switch op.F {
	case "add":
		v, err := toInt(op.Value)
		if err != nil {
			return failed(op, "add: "+err.Error())
		}
		_, err = kv.Put(clientv3.WithRequireLeader(ctx), keyPrefix(Set)+strconv.FormatInt(v, 10), "")
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
