package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
)

// This file holds the process faults: restart-leader, kill and pause.

func init() {
	constructors["restart-leader"] = func(Options) Nemesis { return &restartLeader{} }
	constructors["kill"] = func(Options) Nemesis { return &killer{} }
	constructors["pause"] = func(Options) Nemesis { return &pauser{} }
}

// restartLeader SIGKILLs the current Raft leader and restarts it on the
// same data dir at once: whatever the leader had acknowledged must
// survive, and the cluster must elect a leader and go on.
type restartLeader struct{}

func (*restartLeader) Name() string                                 { return "restart-leader" }
func (*restartLeader) Setup(context.Context, *cluster.Target) error { return nil }
func (*restartLeader) Close() error                                 { return nil }
func (*restartLeader) Op(*rand.Rand) history.Op                     { return history.Op{F: "restart-leader"} }

func (*restartLeader) Invoke(ctx context.Context, t *cluster.Target, op history.Op) history.Op {
	n, err := raftLeader(ctx, t)
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Value, op.Node = n.name, n.name
	if err := n.proc.Restart(); err != nil {
		op.Error = err.Error()
		return op
	}
	if err := n.up(ctx); err != nil {
		op.Error = err.Error()
		return op
	}
	// Healthy again: a leader agreed by a majority. (Not WaitHealthy,
	// which needs every replica to answer: another nemesis may hold one
	// paused.)
	if _, err := raftLeader(ctx, t); err != nil {
		op.Error = err.Error()
	}
	return op
}

// Heal starts the leader a failed restart left down.
func (*restartLeader) Heal(ctx context.Context, t *cluster.Target) error {
	return startAll(ctx, t)
}

// startAll starts every node that is not running and waits until it
// serves.
func startAll(ctx context.Context, t *cluster.Target) error {
	var errs []error
	for _, n := range nodesOf(t) {
		if n.proc.Running() {
			continue
		}
		if err := n.proc.Start(); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.up(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killer alternates: SIGKILL a random node, then start it again at the
// next action, so at most one node is down at a time (a majority of a
// 3-node cluster stays up).
type killer struct {
	mu    sync.Mutex
	names []string // from Setup, in nodesOf order
	down  string   // the node killed last, until started
}

func (*killer) Name() string { return "kill" }
func (*killer) Close() error { return nil }

func (k *killer) Setup(_ context.Context, t *cluster.Target) error {
	k.names = nodeNames(t)
	if len(k.names) == 0 {
		return errors.New("kill: no nodes to kill")
	}
	return nil
}

func nodeNames(t *cluster.Target) []string {
	var names []string
	for _, n := range nodesOf(t) {
		names = append(names, n.name)
	}
	return names
}

func (k *killer) Op(rng *rand.Rand) history.Op {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down != "" {
		return history.Op{F: "start", Value: k.down}
	}
	return history.Op{F: "kill", Value: k.names[rng.Intn(len(k.names))]}
}

func (k *killer) Invoke(ctx context.Context, t *cluster.Target, op history.Op) history.Op {
	name, _ := op.Value.(string)
	n, err := nodeNamed(t, name)
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Node = name
	switch op.F {
	case "kill":
		err = n.proc.Kill()
		if err == nil {
			k.mu.Lock()
			k.down = name
			k.mu.Unlock()
		}
	case "start":
		if err = n.proc.Start(); err == nil {
			k.mu.Lock()
			k.down = ""
			k.mu.Unlock()
			err = n.up(ctx)
		}
	default:
		err = fmt.Errorf("kill: unknown f %q", op.F)
	}
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (k *killer) Heal(ctx context.Context, t *cluster.Target) error {
	k.mu.Lock()
	k.down = ""
	k.mu.Unlock()
	return startAll(ctx, t)
}

// pauser alternates: SIGSTOP a node (a random one, or the Raft leader
// half the time), then SIGCONT it at the next action. A paused node keeps
// its sockets: peers and clients see it hang, not refuse.
type pauser struct {
	mu     sync.Mutex
	names  []string
	raft   bool
	paused string
}

func (*pauser) Name() string { return "pause" }
func (*pauser) Close() error { return nil }

func (p *pauser) Setup(_ context.Context, t *cluster.Target) error {
	p.names, p.raft = nodeNames(t), t.Raft != nil
	if len(p.names) == 0 {
		return errors.New("pause: no nodes to pause")
	}
	return nil
}

// pauseLeader is the Value of a pause aimed at whichever node leads.
const pauseLeader = "leader"

func (p *pauser) Op(rng *rand.Rand) history.Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused != "" {
		return history.Op{F: "resume", Value: p.paused}
	}
	// Draw both choices every time so the sequence does not depend on
	// the target.
	leader, i := rng.Intn(2) == 0, rng.Intn(len(p.names))
	if leader && p.raft {
		return history.Op{F: "pause", Value: pauseLeader}
	}
	return history.Op{F: "pause", Value: p.names[i]}
}

func (p *pauser) Invoke(ctx context.Context, t *cluster.Target, op history.Op) history.Op {
	name, _ := op.Value.(string)
	var n node
	var err error
	if name == pauseLeader && op.F == "pause" {
		n, err = raftLeader(ctx, t)
	} else {
		n, err = nodeNamed(t, name)
	}
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Value, op.Node = n.name, n.name
	switch op.F {
	case "pause":
		if err = n.proc.Pause(); err == nil {
			p.mu.Lock()
			p.paused = n.name
			p.mu.Unlock()
		}
	case "resume":
		if err = n.proc.Resume(); err == nil {
			p.mu.Lock()
			p.paused = ""
			p.mu.Unlock()
		}
	default:
		err = fmt.Errorf("pause: unknown f %q", op.F)
	}
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

// Heal resumes every paused node.
func (p *pauser) Heal(ctx context.Context, t *cluster.Target) error {
	p.mu.Lock()
	p.paused = ""
	p.mu.Unlock()
	var errs []error
	for _, n := range nodesOf(t) {
		if n.proc.Paused() {
			errs = append(errs, n.proc.Resume())
		}
	}
	return errors.Join(errs...)
}
