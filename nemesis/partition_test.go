package nemesis

import (
	"context"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/faultnet"
)

// threeNodes is a system of n1, n2, n3 whose leader is n2.
type threeNodes struct{ noSystem }

func (threeNodes) Nodes() []string                        { return []string{"n1", "n2", "n3"} }
func (threeNodes) Leader(context.Context) (string, error) { return "n2", nil }

func TestPartitionNemesesNeedTheNetworkLayer(t *testing.T) {
	for _, name := range []string{"partition", "partition-halves", "partition-leader", "slow-network", "partition-coordinator", "deposed-leader"} {
		n, err := Parse(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Setup(context.Background(), threeNodes{}); err == nil || !strings.Contains(err.Error(), "network layer") {
			t.Errorf("%s.Setup without a Net = %v, want a refusal naming the network layer", name, err)
		}
	}
}

func TestPartitionAlternatesStartAndStopAndAppliesTheGrudge(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	n, _ := Parse("partition", Options{Net: fn})
	sys := threeNodes{}
	if err := n.Setup(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	shapes := map[string]bool{}
	for i := range 10 {
		op := n.Op(rng)
		want := "start-partition"
		if i%2 == 1 {
			want = "stop-partition"
		}
		if op.F != want {
			t.Fatalf("action %d: %s, want %s", i, op.F, want)
		}
		done := n.Invoke(context.Background(), sys, op)
		if done.Error != "" {
			t.Fatalf("action %d: %+v", i, done)
		}
		if want == "stop-partition" {
			if g := fn.Grudge(); len(g) != 0 {
				t.Fatalf("after stop-partition the grudge is %v", g)
			}
			continue
		}
		g, err := faultnet.ParseGrudge(done.Value)
		if err != nil || len(g) == 0 {
			t.Fatalf("start-partition value %v: %v", done.Value, err)
		}
		if !reflect.DeepEqual(fn.Grudge(), g.Normalize()) {
			t.Fatalf("recorded grudge %v, in force %v", g, fn.Grudge())
		}
		shapes[g.String()] = true
	}
	if len(shapes) < 2 {
		t.Errorf("5 partitions drew %d distinct grudges, want several shapes", len(shapes))
	}
	if err := n.Heal(context.Background(), sys); err != nil || len(fn.Grudge()) != 0 {
		t.Errorf("heal: %v, grudge %v", err, fn.Grudge())
	}
}

func TestPartitionLeaderIsolatesWhoeverLeads(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	n, _ := Parse("partition-leader", Options{Net: fn})
	sys := threeNodes{}
	if err := n.Setup(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	done := n.Invoke(context.Background(), sys, n.Op(rand.New(rand.NewSource(1))))
	want := faultnet.Isolate(sys.Nodes(), "n2").Normalize()
	if done.Error != "" || !reflect.DeepEqual(fn.Grudge(), want) {
		t.Fatalf("partition-leader: %+v, grudge %v, want %v", done, fn.Grudge(), want)
	}
	if g, _ := faultnet.ParseGrudge(done.Value); !reflect.DeepEqual(g.Normalize(), want) {
		t.Errorf("recorded value %v, want the grudge %v", done.Value, want)
	}
}

func TestSlowNetworkDelaysEveryLinkUntilStopped(t *testing.T) {
	fn := faultnet.New(nil)
	defer fn.Close()
	n, _ := Parse("slow-network", Options{Net: fn})
	sys := threeNodes{}
	if err := n.Setup(context.Background(), sys); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"start-slow-network", "stop-slow-network"} {
		op := n.Op(nil)
		if op.F != want {
			t.Fatalf("op %s, want %s", op.F, want)
		}
		n.Invoke(context.Background(), sys, op)
		f := fn.Fault("n1", "n2")
		if slow := f.Delay > 0; slow != (want == "start-slow-network") {
			t.Fatalf("after %s the n1→n2 fault is %+v", want, f)
		}
	}
}
