package etcd

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/history"
)

// register is Jepsen's linearizable register, one per key: read is a Get
// (linearizable unless --serializable-reads), write a Put, cas a Txn that
// puts only if the value compares equal. Values are decimal text.
func (c *client) register(ctx context.Context, op history.Op) history.Op {
	key := keyPrefix(Register) + op.Key
	kv := c.m.client
	switch op.F {
	case "read":
		var opts []clientv3.OpOption
		if c.d.s.set.serializable {
			opts = append(opts, clientv3.WithSerializable())
		} else {
			ctx = clientv3.WithRequireLeader(ctx)
		}
		resp, err := kv.Get(ctx, key, opts...)
		if err != nil {
			return complete(op, err, false)
		}
		op.Type, op.Value = history.OK, nil // a missing key constrains nothing
		if len(resp.Kvs) > 0 {
			v, err := strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64)
			if err != nil {
				return failed(op, fmt.Sprintf("read %s: value %q is not an integer", op.Key, resp.Kvs[0].Value))
			}
			op.Value = v
		}
		return op
	case "write":
		v, err := history.Int(op.Value)
		if err != nil {
			return failed(op, "write: "+err.Error())
		}
		_, err = kv.Put(clientv3.WithRequireLeader(ctx), key, strconv.FormatInt(v, 10))
		return complete(op, err, true)
	case "cas":
		fromTo, ok := op.Value.([]any)
		if !ok || len(fromTo) != 2 {
			return failed(op, fmt.Sprintf("cas value %v is not [from, to]", op.Value))
		}
		from, err1 := history.Int(fromTo[0])
		to, err2 := history.Int(fromTo[1])
		if err1 != nil || err2 != nil {
			return failed(op, fmt.Sprintf("cas value %v is not two integers", op.Value))
		}
		resp, err := kv.Txn(clientv3.WithRequireLeader(ctx)).
			If(clientv3.Compare(clientv3.Value(key), "=", strconv.FormatInt(from, 10))).
			Then(clientv3.OpPut(key, strconv.FormatInt(to, 10))).
			Commit()
		if err != nil {
			return complete(op, err, true)
		}
		if !resp.Succeeded {
			// etcd's Txn is atomic: a false compare ran the empty else
			// branch and changed nothing.
			return failed(op, "cas: value differs")
		}
		op.Type = history.OK
		return op
	}
	return failed(op, "register: unknown f "+op.F)
}
