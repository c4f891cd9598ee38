package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

func init() {
	Register("deposed-leader", []target.Feature{target.Partition, target.Pause, target.LeaderFeature},
		func(o Options) Nemesis { return &deposedLeader{opts: o} })
}

// deposedLeader makes a leader that still believes it leads while the
// majority has elected another: a GC pause or VM stall that begins just as
// the leader is cut off. Each cycle is four actions, each recorded:
//
//	start-partition  the leader isolated (Jepsen's grudge)
//	pause            the same node SIGSTOPped at once, before its own
//	                 failure detector (Raft's CheckQuorum, a lease) can
//	                 notice the cut; the action completes once the other
//	                 nodes agree on a new leader
//	resume           one interval later, the node thawed, still cut off:
//	                 its clock starts again where it stopped, so for up
//	                 to one or two election timeouts it acts as leader
//	stop-partition   one interval later
//
// partition-leader alone shows the same state only when the majority
// elects and commits before the old leader's CheckQuorum fires, a race a
// cut wins about half the time; here every cycle shows it. The order
// matters: a node paused before the cut would find the new leader's
// messages in its socket buffers when it resumes, and step down at once.
type deposedLeader struct {
	opts Options

	mu    sync.Mutex
	nodes []string
	step  int    // the next action: 0 start-partition, 1 pause, 2 resume, 3 stop-partition
	node  string // the isolated node, from start-partition on
}

// deposedElection bounds how long the pause action waits for the rest
// of the cluster to agree on a new leader.
const deposedElection = 20 * time.Second

var deposedFs = [...]string{"start-partition", "pause", "resume", "stop-partition"}

func (*deposedLeader) Name() string { return "deposed-leader" }
func (*deposedLeader) Close() error { return nil }

func (d *deposedLeader) Setup(_ context.Context, sys target.System) error {
	if d.opts.Net == nil {
		return errors.New("deposed-leader: no network layer: the runner did not route the target's links through faultnet")
	}
	d.nodes = sys.Nodes()
	if len(d.nodes) < 3 {
		return fmt.Errorf("deposed-leader: %d nodes leave no majority to elect another leader", len(d.nodes))
	}
	return nil
}

func (d *deposedLeader) Op(*rand.Rand) history.Op {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.step {
	case 0:
		return history.Op{F: "start-partition", Value: partitionLeader}
	case 3:
		return history.Op{F: "stop-partition"}
	}
	return history.Op{F: deposedFs[d.step], Value: d.node}
}

// InCycle is true from start-partition until stop-partition: a composite
// must not put another fault inside the cycle.
func (d *deposedLeader) InCycle() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.step != 0
}

// Next is 0 (the schedule's interval) except after start-partition: the
// pause must follow the cut within a fraction of an election timeout.
func (d *deposedLeader) Next() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.step == 1 {
		return time.Millisecond
	}
	return 0
}

func (d *deposedLeader) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	d.mu.Lock()
	step, node := d.step, d.node
	d.mu.Unlock()
	if op.F != deposedFs[step] {
		op.Error = fmt.Sprintf("deposed-leader: %s out of turn (next is %s)", op.F, deposedFs[step])
		return op
	}
	var err error
	switch step {
	case 0:
		if node, err = leaderOf(ctx, sys); err == nil {
			var g faultnet.Grudge
			if g, err = faultnet.Shape(faultnet.ShapeNode, d.nodes, node, nil); err == nil {
				d.opts.Net.Partition(g)
				op.Value, op.Node = g.Value(), node
			}
		}
	case 1:
		op.Value, op.Node = node, node
		if err = sys.Pause(node); err == nil {
			err = awaitOtherLeader(ctx, sys, node)
		}
	case 2:
		op.Value, op.Node = node, node
		err = sys.Resume(node)
	case 3:
		d.opts.Net.Partition(nil)
	}
	if err != nil {
		// A failed pause leaves the node cut off but running: go on to
		// resume (a no-op) and heal, so the cycle always closes.
		op.Error = err.Error()
		if step == 0 {
			return op
		}
	}
	d.mu.Lock()
	d.step, d.node = (step+1)%len(deposedFs), node
	d.mu.Unlock()
	return op
}

// awaitOtherLeader waits until the nodes other than old agree on a leader
// that is not old.
func awaitOtherLeader(ctx context.Context, sys target.System, old string) error {
	ctx, cancel := context.WithTimeout(ctx, deposedElection)
	defer cancel()
	for {
		l, err := leaderOf(ctx, sys)
		if err == nil && l != old {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no leader but %s within %s (last: %v, %v)", old, deposedElection, l, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Heal thaws the node and lifts the partition.
func (d *deposedLeader) Heal(_ context.Context, sys target.System) error {
	d.mu.Lock()
	step, node := d.step, d.node
	d.step, d.node = 0, ""
	d.mu.Unlock()
	var err error
	if step == 2 { // paused, not yet resumed
		err = sys.Resume(node)
	}
	if d.opts.Net != nil {
		d.opts.Net.Partition(nil)
	}
	return err
}
