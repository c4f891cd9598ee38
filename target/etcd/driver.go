package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// Every key chaoscheck writes lives under prefix/<workload>/, so a run on
// an attached cluster touches nothing else (and Setup may clear it).
const prefix = "chaoscheck/"

func keyPrefix(w string) string { return prefix + w + "/" }

// driver is the workload's setup and clients on one etcd cluster. Process
// p's client sends everything to one member, the worker's: worker
// p mod concurrency, member worker mod N, as Jepsen binds each worker
// thread to a node. After an info the worker continues as process
// p + concurrency on the same member. (Binding p mod N instead let workers
// drift: each info moved a worker to another member, and a member that
// never failed ops gathered every worker, so a member cut off later had
// no client to show its stale serializable reads.)
type driver struct {
	s    *system
	w    string
	opts workload.Options
}

func newDriver(s *system, w string, opts workload.Options) (*driver, error) {
	switch w {
	case "", Register, Set, ListAppend:
	default:
		return nil, fmt.Errorf("etcd target: no driver for workload %q", w)
	}
	if w == "" {
		w = Register
	}
	return &driver{s: s, w: w, opts: opts.WithDefaults()}, nil
}

// Setup clears the workload's prefix and, for register, writes 0 to every
// key; it retries until a member answers or ctx ends.
func (d *driver) Setup(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for i := 0; ; i++ {
		m := d.s.members[i%len(d.s.members)]
		err := d.setupOnce(ctx, m.client)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd setup %s: %w (last: %v)", d.w, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func (d *driver) setupOnce(ctx context.Context, c *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// etcd refuses a Txn whose delete range overlaps its puts, so
	// register overwrites its keys and the others clear their prefix.
	ops := []clientv3.Op{clientv3.OpDelete(keyPrefix(d.w), clientv3.WithPrefix())}
	if d.w == Register {
		ops = ops[:0]
		for i := range d.opts.Keys {
			ops = append(ops, clientv3.OpPut(keyPrefix(d.w)+fmt.Sprintf("k%d", i), "0"))
		}
	}
	_, err := c.Txn(clientv3.WithRequireLeader(ctx)).Then(ops...).Commit()
	return err
}

func (d *driver) NewClient(process int64) (workload.Client, error) {
	return &client{d: d, m: d.s.members[memberOf(process, d.opts.Concurrency, len(d.s.members))]}, nil
}

// memberOf is the index of the member process's worker is bound to.
func memberOf(process int64, concurrency, members int) int {
	worker := process % int64(max(concurrency, 1))
	return int(worker % int64(members))
}

// client is one process's view of the cluster. The etcd clients are the
// system's (one connection per member, shared by the processes bound to
// it); Close has nothing of its own to release.
type client struct {
	d *driver
	m *member
}

func (c *client) Close() error { return nil }

func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	done := op
	done.Node = c.m.name
	if op.F == FinalHash {
		return c.d.s.finalHash(ctx, done)
	}
	switch c.d.w {
	case Register:
		return c.register(ctx, done)
	case Set:
		return c.set(ctx, done)
	case ListAppend:
		return c.listAppend(ctx, done)
	}
	return failed(done, "etcd: no driver for workload "+c.d.w)
}

// failed marks op fail with msg: the client refused it before sending.
func failed(op history.Op, msg string) history.Op {
	op.Type, op.Error = history.Fail, msg
	return op
}
