package nemesis

import (
	"context"
	"math/rand"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
)

// electingNodes is three nodes whose leader n2, once paused, is replaced
// by n1, as a majority would elect one; it records pauses and resumes.
type electingNodes struct {
	threeNodes
	mu     sync.Mutex
	paused map[string]bool
	log    []string
}

func (e *electingNodes) Leader(context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.paused["n2"] {
		return "n1", nil
	}
	return "n2", nil
}

func (e *electingNodes) Pause(n string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.paused[n] = true
	e.log = append(e.log, "pause "+n)
	return nil
}

func (e *electingNodes) Resume(n string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.paused, n)
	e.log = append(e.log, "resume "+n)
	return nil
}

func TestDeposedLeaderCutsFreezesThawsAndHeals(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	n, _ := Parse("deposed-leader", Options{Net: fn})
	sys := &electingNodes{paused: map[string]bool{}}
	if err := n.Setup(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	isolated := faultnet.Isolate(sys.Nodes(), "n2").Normalize()
	rng := rand.New(rand.NewSource(1))
	type step struct {
		f      string
		grudge faultnet.Grudge // in force after the action
		next   time.Duration   // the pace asked for after it
	}
	for cycle := range 2 {
		for _, want := range []step{
			{"start-partition", isolated, time.Millisecond},
			{"pause", isolated, 0},
			{"resume", isolated, 0},
			{"stop-partition", nil, 0},
		} {
			done := n.Invoke(context.Background(), sys, n.Op(rng))
			if done.F != want.f || done.Error != "" {
				t.Fatalf("cycle %d: did %s (%q), want %s", cycle, done.F, done.Error, want.f)
			}
			if got := fn.Grudge(); len(got) != len(want.grudge) || len(want.grudge) > 0 && !reflect.DeepEqual(got, want.grudge) {
				t.Fatalf("cycle %d, after %s: grudge %v, want %v", cycle, done.F, got, want.grudge)
			}
			if got := n.(Pacer).Next(); got != want.next {
				t.Errorf("cycle %d, after %s: next action in %v, want %v", cycle, done.F, got, want.next)
			}
			if done.F == "start-partition" {
				if g, _ := faultnet.ParseGrudge(done.Value); !reflect.DeepEqual(g.Normalize(), isolated) {
					t.Errorf("recorded %v, want the grudge isolating the leader", done.Value)
				}
			} else if done.F != "stop-partition" && done.Value != "n2" {
				t.Errorf("%s recorded value %v, want n2", done.F, done.Value)
			}
		}
	}
	if want := []string{"pause n2", "resume n2", "pause n2", "resume n2"}; !reflect.DeepEqual(sys.log, want) {
		t.Errorf("process faults %v, want %v", sys.log, want)
	}

	// A heal in the middle of a cycle thaws the node and lifts the cut.
	n.Invoke(context.Background(), sys, n.Op(rng))
	n.Invoke(context.Background(), sys, n.Op(rng))
	if err := n.Heal(context.Background(), sys); err != nil || len(fn.Grudge()) != 0 || len(sys.paused) != 0 {
		t.Fatalf("heal while frozen: %v, grudge %v, paused %v", err, fn.Grudge(), sys.paused)
	}
	if op := n.Op(rng); op.F != "start-partition" {
		t.Errorf("after a heal the next action is %s, want a new cycle", op.F)
	}
}

func TestDeposedLeaderNeedsAMajorityBesideTheLeader(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	n, _ := Parse("deposed-leader", Options{Net: fn})
	if err := n.Setup(context.Background(), twoNodes{}); err == nil {
		t.Fatal("deposed-leader on 2 nodes: no refusal")
	}
}

type twoNodes struct{ noSystem }

func (twoNodes) Nodes() []string { return []string{"n1", "n2"} }

// In a composite, deposed-leader's cycle is never split by another part's
// action, and the composite passes on its pace (the pause 1 ms after the
// cut).
func TestCompositeKeepsDeposedLeaderCycleWhole(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	d, _ := Parse("deposed-leader", Options{Net: fn})
	other := &fakeNemesis{name: "zap"}
	c := newComposite([]Nemesis{other, d})
	sys := &electingNodes{paused: map[string]bool{}}
	if err := c.Setup(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	var fs []string
	for range 15 {
		done := c.Invoke(context.Background(), sys, c.Op(rng))
		if done.Error != "" {
			t.Fatalf("%s: %s", done.F, done.Error)
		}
		fs = append(fs, done.F)
		if want := map[bool]time.Duration{true: time.Millisecond}[done.F == "start-partition"]; c.Next() != want {
			t.Fatalf("after %s the composite asks for %v, want %v", done.F, c.Next(), want)
		}
	}
	cycles := 0
	for i, f := range fs {
		if f != "start-partition" {
			continue
		}
		if i+4 > len(fs) {
			break
		}
		if got := fs[i : i+4]; !reflect.DeepEqual(got, deposedFs[:]) {
			t.Fatalf("actions %v: a deposed-leader cycle split as %v", fs, got)
		}
		cycles++
	}
	if cycles < 2 || len(other.invoked) < 2 {
		t.Fatalf("actions %v: %d whole cycles and %d other actions, want both parts to act", fs, cycles, len(other.invoked))
	}
}
