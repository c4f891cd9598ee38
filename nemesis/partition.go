package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

// This file holds the network faults: partitions of the node-to-node links
// (Jepsen's grudges, applied by the runner's faultnet.Net, which the
// target routed every peer link through) and a slow network. Client links
// are never cut: as in Jepsen, clients reach every node.

func init() {
	needs := []target.Feature{target.Partition}
	for _, shape := range []string{faultnet.ShapeHalves, faultnet.ShapeOne, faultnet.ShapeRing, faultnet.ShapeBridge, faultnet.ShapeOneWay} {
		Register("partition-"+shape, needs, func(o Options) Nemesis { return &partitioner{opts: o, shapes: []string{shape}} })
	}
	Register("partition", needs, func(o Options) Nemesis { return &partitioner{opts: o} })
	Register("partition-leader", []target.Feature{target.Partition, target.LeaderFeature},
		func(o Options) Nemesis {
			return &partitioner{opts: o, shapes: []string{faultnet.ShapeNode}, leader: true}
		})
	Register("slow-network", needs, func(o Options) Nemesis { return &slowNetwork{opts: o} })
}

// partitioner alternates: start a partition (a grudge of one of its
// shapes, drawn from the schedule's seed), then stop it at the next
// action. "partition" draws the shape too, from every shape that fits the
// cluster; "partition-leader" isolates whichever node leads at the time.
type partitioner struct {
	opts   Options
	shapes []string // nil: every shape that fits
	leader bool

	mu    sync.Mutex
	nodes []string // from Setup
	on    bool
}

func (p *partitioner) Name() string {
	switch {
	case p.leader:
		return "partition-leader"
	case len(p.shapes) == 1:
		return "partition-" + p.shapes[0]
	}
	return "partition"
}

func (p *partitioner) Setup(_ context.Context, sys target.System) error {
	if p.opts.Net == nil {
		return fmt.Errorf("%s: no network layer: the runner did not route the target's links through faultnet", p.Name())
	}
	p.nodes = sys.Nodes()
	if p.shapes == nil {
		p.shapes = faultnet.ShapesFor(len(p.nodes))
	}
	for _, s := range p.shapes {
		if s != faultnet.ShapeNode && !slices.Contains(faultnet.ShapesFor(len(p.nodes)), s) {
			return fmt.Errorf("%s: a %s partition needs more than %d nodes", p.Name(), s, len(p.nodes))
		}
	}
	if len(p.shapes) == 0 || len(p.nodes) < 2 {
		return fmt.Errorf("%s: %d nodes cannot be partitioned", p.Name(), len(p.nodes))
	}
	return nil
}

func (*partitioner) Close() error { return nil }

// The value of a start-partition aimed at the leader until Invoke knows
// who leads.
const partitionLeader = "leader"

func (p *partitioner) Op(rng *rand.Rand) history.Op {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on {
		return history.Op{F: "stop-partition"}
	}
	if p.leader {
		return history.Op{F: "start-partition", Value: partitionLeader}
	}
	shape := p.shapes[rng.Intn(len(p.shapes))]
	g, err := faultnet.Shape(shape, p.nodes, "", rng)
	if err != nil {
		return history.Op{F: "start-partition", Value: map[string]any{"shape": shape, "error": err.Error()}}
	}
	return history.Op{F: "start-partition", Value: g.Value()}
}

func (p *partitioner) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	switch op.F {
	case "start-partition":
		g, err := p.grudge(ctx, sys, op.Value)
		if err != nil {
			op.Error = err.Error()
			return op
		}
		p.opts.Net.Partition(g)
		op.Value = g.Value()
		p.mu.Lock()
		p.on = true
		p.mu.Unlock()
	case "stop-partition":
		p.opts.Net.Partition(nil)
		p.mu.Lock()
		p.on = false
		p.mu.Unlock()
	default:
		op.Error = fmt.Sprintf("%s: unknown f %q", p.Name(), op.F)
	}
	return op
}

// grudge is the grudge a start-partition's value names: the leader's
// isolation, resolved now, or the grudge Op drew.
func (p *partitioner) grudge(ctx context.Context, sys target.System, v any) (faultnet.Grudge, error) {
	if v == partitionLeader {
		l, err := leaderOf(ctx, sys)
		if err != nil {
			return nil, err
		}
		return faultnet.Shape(faultnet.ShapeNode, p.nodes, l, nil)
	}
	if m, ok := v.(map[string]any); ok && m["error"] != nil {
		return nil, fmt.Errorf("%v", m["error"])
	}
	return faultnet.ParseGrudge(v)
}

// Heal lifts the partition.
func (p *partitioner) Heal(context.Context, target.System) error {
	p.mu.Lock()
	p.on = false
	p.mu.Unlock()
	if p.opts.Net != nil {
		p.opts.Net.Partition(nil)
	}
	return nil
}

// slowNetwork alternates: delay every node-to-node chunk by slowDelay ±
// slowJitter, then back to normal at the next action. Timeouts tuned for
// loopback (elections, leases, 2PC resolution) meet a real network's
// latency.
type slowNetwork struct {
	opts Options
	mu   sync.Mutex
	on   bool
}

const (
	slowDelay  = 100 * time.Millisecond
	slowJitter = 50 * time.Millisecond
)

func (*slowNetwork) Name() string { return "slow-network" }
func (*slowNetwork) Close() error { return nil }

func (s *slowNetwork) Setup(context.Context, target.System) error {
	if s.opts.Net == nil {
		return errors.New("slow-network: no network layer: the runner did not route the target's links through faultnet")
	}
	return nil
}

func (s *slowNetwork) Op(*rand.Rand) history.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.on {
		return history.Op{F: "stop-slow-network"}
	}
	return history.Op{F: "start-slow-network", Value: map[string]any{
		"delay_ms": slowDelay.Milliseconds(), "jitter_ms": slowJitter.Milliseconds()}}
}

func (s *slowNetwork) Invoke(_ context.Context, _ target.System, op history.Op) history.Op {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op.F {
	case "start-slow-network":
		s.opts.Net.Slow(slowDelay, slowJitter)
		s.on = true
	case "stop-slow-network":
		s.opts.Net.Slow(0, 0)
		s.on = false
	default:
		op.Error = "slow-network: unknown f " + op.F
	}
	return op
}

func (s *slowNetwork) Heal(context.Context, target.System) error {
	s.mu.Lock()
	s.on = false
	s.mu.Unlock()
	if s.opts.Net != nil {
		s.opts.Net.Slow(0, 0)
	}
	return nil
}
