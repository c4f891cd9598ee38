package nemesis

import (
	"context"
	"math/rand"
	"strings"
	"testing"
)

func TestParseKnowsTheCrashFaults(t *testing.T) {
	for _, name := range []string{"kill-all", "restart-coordinator", "coordinator-crash", "lag-follower"} {
		n, err := Parse(name, Options{})
		if err != nil || n.Name() != name {
			t.Errorf("Parse(%q) = %v, %v", name, n, err)
		}
	}
}

// The 2PC faults refuse a target without a 2PC cluster, and lag-follower
// one without Raft followers, before any round: their rounds would all
// be errors.
func TestCrashFaultsRefuseATargetWithoutTheirSystem(t *testing.T) {
	for _, name := range []string{"restart-coordinator", "coordinator-crash", "lag-follower"} {
		n, _ := Parse(name, Options{})
		if err := n.Setup(context.Background(), noSystem{}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s.Setup(no cluster) = %v, want an error naming it", name, err)
		}
	}
}

func TestLagFollowerAlternatesLagAndCatchUp(t *testing.T) {
	l := &lagFollower{opts: Options{}.WithDefaults()}
	rng := rand.New(rand.NewSource(1))
	if op := l.Op(rng); op.F != "lag" {
		t.Fatalf("first op %+v, want lag", op)
	}
	l.lagged = "n2" // as a successful lag leaves it
	if op := l.Op(rng); op.F != "catch-up" || op.Value != "n2" {
		t.Fatalf("op after a lag %+v, want catch-up of n2", op)
	}
	if s := l.lagStall(); s <= l.opts.Interval {
		t.Errorf("a stall of %s ends before the next action (interval %s)", s, l.opts.Interval)
	}
}

func TestCoordinatorCrashNumbersItsRounds(t *testing.T) {
	c := &coordinatorCrash{}
	for want := int64(1); want <= 3; want++ {
		op := c.Op(nil)
		v, _ := op.Value.(map[string]any)
		if op.F != "coordinator-crash" || v["round"] != want {
			t.Errorf("op %+v, want round %d", op, want)
		}
	}
}

func TestSameTxMatchesAttemptsOfTheTxID(t *testing.T) {
	for _, tc := range []struct {
		id, tx string
		want   bool
	}{
		{"t7", "t7", true},
		{"t7~0a1b2c", "t7", true},
		{"t70", "t7", false},
		{"t7", "t70", false},
	} {
		if got := sameTx(tc.id, tc.tx); got != tc.want {
			t.Errorf("sameTx(%q, %q) = %v", tc.id, tc.tx, got)
		}
	}
}
