package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

// This file holds the process faults: restart-leader, kill and pause.

func init() {
	Register("restart-leader", []target.Feature{target.Kill, target.LeaderFeature}, func(Options) Nemesis { return &restartLeader{} })
	Register("kill", []target.Feature{target.Kill}, func(Options) Nemesis { return &killer{} })
	Register("pause", []target.Feature{target.Pause}, func(Options) Nemesis { return &pauser{} })
}

// restartLeader SIGKILLs the current leader and restarts it on the same
// data dir at once: whatever the leader had acknowledged must survive,
// and the cluster must elect a leader and go on.
type restartLeader struct{}

func (*restartLeader) Name() string                               { return "restart-leader" }
func (*restartLeader) Setup(context.Context, target.System) error { return nil }
func (*restartLeader) Close() error                               { return nil }
func (*restartLeader) Op(*rand.Rand) history.Op                   { return history.Op{F: "restart-leader"} }

func (*restartLeader) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	n, err := leaderOf(ctx, sys)
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Value, op.Node = n, n
	if err := restart(ctx, sys, n); err != nil {
		op.Error = err.Error()
		return op
	}
	// Healthy again: a leader agreed by a majority. (Not WaitHealthy,
	// which needs every node to answer: another nemesis may hold one
	// paused.)
	if _, err := leaderOf(ctx, sys); err != nil {
		op.Error = err.Error()
	}
	return op
}

// Heal starts the leader a failed restart left down.
func (*restartLeader) Heal(ctx context.Context, sys target.System) error {
	return startAll(ctx, sys)
}

// killer alternates: SIGKILL a random node, then start it again at the
// next action, so at most one node is down at a time (a majority of a
// 3-node cluster stays up).
type killer struct {
	mu    sync.Mutex
	names []string // from Setup, in the system's order
	down  string   // the node killed last, until started
}

func (*killer) Name() string { return "kill" }
func (*killer) Close() error { return nil }

func (k *killer) Setup(_ context.Context, sys target.System) error {
	k.names = sys.Nodes()
	if len(k.names) == 0 {
		return errors.New("kill: no nodes to kill")
	}
	return nil
}

func (k *killer) Op(rng *rand.Rand) history.Op {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.down != "" {
		return history.Op{F: "start", Value: k.down}
	}
	return history.Op{F: "kill", Value: k.names[rng.Intn(len(k.names))]}
}

func (k *killer) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	name, _ := op.Value.(string)
	if err := hasNode(sys, name); err != nil {
		op.Error = err.Error()
		return op
	}
	op.Node = name
	var err error
	switch op.F {
	case "kill":
		err = sys.Kill(name)
		if err == nil {
			k.mu.Lock()
			k.down = name
			k.mu.Unlock()
		}
	case "start":
		err = sys.Start(ctx, name)
		if sys.Running(name) {
			k.mu.Lock()
			k.down = ""
			k.mu.Unlock()
		}
	default:
		err = fmt.Errorf("kill: unknown f %q", op.F)
	}
	if err != nil {
		op.Error = err.Error()
	}
	return op
}

func (k *killer) Heal(ctx context.Context, sys target.System) error {
	k.mu.Lock()
	k.down = ""
	k.mu.Unlock()
	return startAll(ctx, sys)
}

// pauser alternates: SIGSTOP a node (a random one, or the leader half the
// time on a target that has one), then SIGCONT it at the next action. A
// paused node keeps its sockets: peers and clients see it hang, not
// refuse.
type pauser struct {
	mu     sync.Mutex
	names  []string
	leader bool // the target has a leader
	paused string
}

func (*pauser) Name() string { return "pause" }
func (*pauser) Close() error { return nil }

func (p *pauser) Setup(_ context.Context, sys target.System) error {
	p.names = sys.Nodes()
	_, p.leader = sys.(target.Leader)
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
	if leader && p.leader {
		return history.Op{F: "pause", Value: pauseLeader}
	}
	return history.Op{F: "pause", Value: p.names[i]}
}

func (p *pauser) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	name, _ := op.Value.(string)
	var err error
	if name == pauseLeader && op.F == "pause" {
		name, err = leaderOf(ctx, sys)
	} else {
		err = hasNode(sys, name)
	}
	if err != nil {
		op.Error = err.Error()
		return op
	}
	op.Value, op.Node = name, name
	switch op.F {
	case "pause":
		if err = sys.Pause(name); err == nil {
			p.mu.Lock()
			p.paused = name
			p.mu.Unlock()
		}
	case "resume":
		if err = sys.Resume(name); err == nil {
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

// Heal resumes the paused node.
func (p *pauser) Heal(ctx context.Context, sys target.System) error {
	p.mu.Lock()
	paused := p.paused
	p.paused = ""
	p.mu.Unlock()
	if paused == "" {
		return nil
	}
	return sys.Resume(paused)
}
