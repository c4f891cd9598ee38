package nemesis

import (
	"context"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// Nemesis is one kind of fault.
type Nemesis interface {
	// Name is the nemesis's name on the command line ("restart-leader").
	Name() string
	// Setup prepares what the faults need before the workload creates its
	// clients, e.g. a fault proxy on the client path (target.ClientRouter).
	Setup(ctx context.Context, sys target.System) error
	// Op returns the next fault action as an invocation (F and, where
	// known in advance, Value); every random choice comes from rng.
	Op(rng *rand.Rand) history.Op
	// Invoke performs op and returns its completion, type info (Jepsen:
	// a fault's effect is never certain) with Value saying what was done
	// (which node) and Error what went wrong.
	Invoke(ctx context.Context, sys target.System, op history.Op) history.Op
	// Heal undoes every lasting fault: resumes paused nodes, starts
	// killed ones, disables failpoints, turns proxy faults off. It waits
	// until the system is healthy again or ctx ends.
	Heal(ctx context.Context, sys target.System) error
	// Close releases what Setup made (proxy listeners); call it after the
	// final reads.
	Close() error
}

// Pacer is a nemesis whose actions do not all follow each other at the
// schedule's interval: Next, asked after each action, says how long to
// wait before the next one (0: the interval). A composite passes on the
// pace of the part that acted last.
type Pacer interface {
	Next() time.Duration
}

// Cycler is a nemesis whose actions form cycles that mean something only
// whole (deposed-leader: cut, pause, resume, heal). InCycle reports whether
// a cycle has begun and not ended; a composite keeps the turn with such a
// part until it ends, so no other fault lands inside the cycle.
type Cycler interface {
	InCycle() bool
}

// Options configure the nemeses and their schedule.
type Options struct {
	Interval time.Duration // between fault actions; default 5s
	Rounds   int           // actions to perform; 0: until ctx ends
	// PauseBeforeCommit is how long alternate-kill holds the coordinator
	// in its commit window (coordinatorBeforeCommit=sleep); default 4s.
	PauseBeforeCommit time.Duration
	Seed              int64 // fixes targets and the op sequence
	// Net is the network layer every node-to-node link of the target goes
	// through (the partition nemeses cut it); nil when the run has none.
	Net *faultnet.Net `json:"-"`
	// Stop, when closed, ends RunSchedule once the action in progress
	// has completed (the load is over); ctx ending cancels that action
	// too (the run is interrupted). nil: only ctx ends the schedule.
	Stop <-chan struct{} `json:"-"`
}

// WithDefaults fills the zero fields of o with their defaults.
func (o Options) WithDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.PauseBeforeCommit <= 0 {
		o.PauseBeforeCommit = 4 * time.Second
	}
	return o
}

// entry is a registered nemesis: its constructor and the target features
// it cannot work without.
type entry struct {
	new   func(Options) Nemesis
	needs []target.Feature
}

// constructors maps each nemesis name to its entry.
var constructors = map[string]entry{
	"none": {new: func(Options) Nemesis { return none{} }},
}

// Register adds a nemesis under name, for a nemesis of the user's own
// (from another module) as for the built-in ones. needs are the target
// features it cannot work without: a run whose target lacks one is
// refused before anything boots. Registering a name twice panics.
func Register(name string, needs []target.Feature, constructor func(Options) Nemesis) {
	if _, dup := constructors[name]; dup {
		panic("nemesis: " + name + " registered twice")
	}
	constructors[name] = entry{new: constructor, needs: needs}
}

// Names lists the nemeses Parse knows, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(constructors))
}

// Needs lists the target features the nemeses of spec (a name or a comma
// list) need, without duplicates.
func Needs(spec string) ([]target.Feature, error) {
	var fs []target.Feature
	for _, name := range strings.Split(spec, ",") {
		e, ok := constructors[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown nemesis %q in %q (want one of %s, or a comma list)", strings.TrimSpace(name), spec, strings.Join(Names(), ", "))
		}
		for _, f := range e.needs {
			if !slices.Contains(fs, f) {
				fs = append(fs, f)
			}
		}
	}
	return fs, nil
}

// Parse builds the nemesis a spec names: one name ("kill") or a comma
// list ("restart-leader,pause") whose actions are interleaved at random.
func Parse(spec string, opts Options) (Nemesis, error) {
	opts = opts.WithDefaults()
	var parts []Nemesis
	seen := map[string]bool{}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		c, ok := constructors[name]
		if !ok {
			return nil, fmt.Errorf("unknown nemesis %q in %q (want one of %s, or a comma list)", name, spec, strings.Join(Names(), ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("nemesis %q named twice in %q", name, spec)
		}
		seen[name] = true
		if name != "none" {
			parts = append(parts, c.new(opts))
		}
	}
	switch len(parts) {
	case 0:
		return none{}, nil
	case 1:
		return parts[0], nil
	}
	return newComposite(parts), nil
}

// RunSchedule performs n's actions every opts.Interval, the first one
// Interval after the start, until opts.Rounds actions are done, opts.Stop
// is closed or ctx ends. Every action is recorded as process -1: its
// invocation, then its completion. An action in progress when Stop closes
// runs to its end (a fault left half-done would be the heal's to guess
// at); one in progress when ctx ends completes with what it managed.
// RunSchedule returns nil when it stopped normally.
func RunSchedule(ctx context.Context, n Nemesis, sys target.System, rec workload.Recorder, opts Options) error {
	opts = opts.WithDefaults()
	if _, ok := n.(none); ok {
		return nil
	}
	rng := rand.New(rand.NewSource(opts.Seed))
	tick := time.NewTimer(opts.Interval)
	defer tick.Stop()
	for round := 0; opts.Rounds <= 0 || round < opts.Rounds; round++ {
		select {
		case <-ctx.Done():
			return nil
		case <-opts.Stop:
			return nil
		case <-tick.C:
		}
		op := n.Op(rng)
		op.Type, op.Process, op.Index, op.Time = history.Invoke, history.NemesisProcess, 0, 0
		inv := rec.Record(op)
		c := n.Invoke(ctx, sys, inv)
		c.Type, c.Process, c.F, c.Index, c.Time = history.Info, history.NemesisProcess, inv.F, 0, 0
		rec.Record(c)
		wait := opts.Interval
		if p, ok := n.(Pacer); ok {
			if d := p.Next(); d > 0 {
				wait = d
			}
		}
		tick.Reset(wait)
	}
	return nil
}

// none injects no faults.
type none struct{}

func (none) Name() string                                                        { return "none" }
func (none) Setup(context.Context, target.System) error                          { return nil }
func (none) Op(*rand.Rand) history.Op                                            { return history.Op{F: "none"} }
func (none) Heal(context.Context, target.System) error                           { return nil }
func (none) Close() error                                                        { return nil }
func (none) Invoke(_ context.Context, _ target.System, op history.Op) history.Op { return op }
