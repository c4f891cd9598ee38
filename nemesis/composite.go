package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

// composite interleaves several nemeses in seeded random order, like
// Jepsen's composed nemesis, but in cycles: each cycle of len(parts)
// actions gives every part one turn, so even a short run sees every kind
// of fault. A part in the middle of its own cycle (Cycler) keeps the turn
// until that cycle ends, at the pace it asks for (Pacer).
type composite struct {
	parts []Nemesis
	cycle []int              // the parts whose turn is still to come in this cycle
	byF   map[string]Nemesis // which part made an action with this f
	last  Nemesis            // the part whose action came last
}

func newComposite(parts []Nemesis) *composite {
	return &composite{parts: parts, byF: map[string]Nemesis{}}
}

func (c *composite) Name() string {
	names := make([]string, len(c.parts))
	for i, p := range c.parts {
		names[i] = p.Name()
	}
	return strings.Join(names, ",")
}

func (c *composite) Setup(ctx context.Context, sys target.System) error {
	for _, p := range c.parts {
		if err := p.Setup(ctx, sys); err != nil {
			return err
		}
	}
	return nil
}

func (c *composite) Op(rng *rand.Rand) history.Op {
	p := c.last
	if cy, ok := p.(Cycler); !ok || !cy.InCycle() {
		if len(c.cycle) == 0 {
			c.cycle = rng.Perm(len(c.parts))
		}
		p = c.parts[c.cycle[0]]
		c.cycle = c.cycle[1:]
	}
	c.last = p
	op := p.Op(rng)
	c.byF[op.F] = p
	return op
}

// Next is the pace the part that acted last asks for (0: the interval).
func (c *composite) Next() time.Duration {
	if p, ok := c.last.(Pacer); ok {
		return p.Next()
	}
	return 0
}

func (c *composite) Invoke(ctx context.Context, sys target.System, op history.Op) history.Op {
	p, ok := c.byF[op.F]
	if !ok {
		op.Type = history.Info
		op.Error = fmt.Sprintf("no nemesis in %s performs %q", c.Name(), op.F)
		return op
	}
	return p.Invoke(ctx, sys, op)
}

// Heal heals every part, in reverse order of Setup, and reports every
// failure.
func (c *composite) Heal(ctx context.Context, sys target.System) error {
	var errs []error
	for i := len(c.parts) - 1; i >= 0; i-- {
		if err := c.parts[i].Heal(ctx, sys); err != nil {
			errs = append(errs, fmt.Errorf("heal %s: %w", c.parts[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

func (c *composite) Close() error {
	var errs []error
	for _, p := range c.parts {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}
