package nemesis

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// fakeNemesis records what it was asked to do; it touches no process.
type fakeNemesis struct {
	name    string
	mu      sync.Mutex
	invoked []history.Op
	healed  bool
}

func (f *fakeNemesis) Name() string                               { return f.name }
func (f *fakeNemesis) Setup(context.Context, target.System) error { return nil }
func (f *fakeNemesis) Close() error                               { return nil }
func (f *fakeNemesis) Op(rng *rand.Rand) history.Op {
	return history.Op{F: f.name, Value: fmt.Sprintf("n%d", rng.Intn(5))}
}
func (f *fakeNemesis) Invoke(_ context.Context, _ target.System, op history.Op) history.Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invoked = append(f.invoked, op)
	op.Type, op.Node = history.OK, "n9" // RunSchedule must make it info
	return op
}
func (f *fakeNemesis) Heal(context.Context, target.System) error { f.healed = true; return nil }

type memRecorder struct {
	mu sync.Mutex
	h  history.History
}

func (r *memRecorder) Record(op history.Op) history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.h))
	r.h = append(r.h, op)
	return op
}

func TestRunScheduleRecordsInvokeAndInfoPerAction(t *testing.T) {
	f := &fakeNemesis{name: "zap"}
	rec := &memRecorder{}
	err := RunSchedule(context.Background(), f, noSystem{}, rec, Options{Interval: time.Millisecond, Rounds: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.h) != 6 || len(f.invoked) != 3 {
		t.Fatalf("3 rounds recorded %d ops and invoked %d actions, want 6 and 3: %+v", len(rec.h), len(f.invoked), rec.h)
	}
	for i := 0; i < len(rec.h); i += 2 {
		inv, done := rec.h[i], rec.h[i+1]
		if inv.Type != history.Invoke || done.Type != history.Info || inv.Process != -1 || done.Process != -1 ||
			inv.F != "zap" || done.F != "zap" || done.Node != "n9" || done.Value != inv.Value {
			t.Fatalf("action %d recorded as %+v then %+v, want invoke then info on process -1", i/2, inv, done)
		}
	}
}

func TestRunScheduleStopsWhenCtxEnds(t *testing.T) {
	f := &fakeNemesis{name: "zap"}
	rec := &memRecorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := RunSchedule(ctx, f, noSystem{}, rec, Options{Interval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("RunSchedule returned %v after ctx ended", d)
	}
	if len(rec.h) == 0 || len(rec.h)%2 != 0 {
		t.Fatalf("recorded %d ops: want whole invoke/info pairs", len(rec.h))
	}
}

func TestScheduleIsDeterministic(t *testing.T) {
	ops := func(seed int64) []history.Op {
		c := newComposite([]Nemesis{&fakeNemesis{name: "a"}, &fakeNemesis{name: "b"}, &fakeNemesis{name: "c"}})
		rng := rand.New(rand.NewSource(seed))
		var out []history.Op
		for range 30 {
			out = append(out, c.Op(rng))
		}
		return out
	}
	a, b := ops(4), ops(4)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("seed 4 gave two schedules:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a, ops(5)) {
		t.Fatalf("seeds 4 and 5 gave the same schedule")
	}
	// Every cycle of 3 actions gives each part one turn.
	for i := 0; i < len(a); i += 3 {
		seen := map[string]bool{}
		for _, op := range a[i : i+3] {
			seen[op.F] = true
		}
		if len(seen) != 3 {
			t.Fatalf("cycle at %d: %v, want a, b and c once each", i, a[i:i+3])
		}
	}
}

func TestCompositeRoutesEachActionToItsPart(t *testing.T) {
	a, b := &fakeNemesis{name: "a"}, &fakeNemesis{name: "b"}
	c := newComposite([]Nemesis{a, b})
	rng := rand.New(rand.NewSource(1))
	for range 4 {
		c.Invoke(context.Background(), noSystem{}, c.Op(rng))
	}
	for _, f := range []*fakeNemesis{a, b} {
		if len(f.invoked) != 2 {
			t.Fatalf("%s performed %d actions, want 2", f.name, len(f.invoked))
		}
		for _, op := range f.invoked {
			if op.F != f.name {
				t.Fatalf("%s performed %+v", f.name, op)
			}
		}
	}
	if err := c.Heal(context.Background(), noSystem{}); err != nil || !a.healed || !b.healed {
		t.Fatalf("Heal: %v; healed a=%v b=%v", err, a.healed, b.healed)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		spec, name, err string
	}{
		{spec: "none", name: "none"},
		{spec: "kill", name: "kill"},
		{spec: "restart-leader, pause", name: "restart-leader,pause"},
		{spec: "none,duplicate-retry", name: "duplicate-retry"},
		{spec: "alternate-kill", name: "alternate-kill"},
		{spec: "partition-everything", err: `unknown nemesis "partition-everything"`},
		{spec: "kill,kill", err: "named twice"},
		{spec: "", err: "unknown nemesis"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			n, err := Parse(tc.spec, Options{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tc.spec, n, err, tc.err)
				}
				return
			}
			if err != nil || n.Name() != tc.name {
				t.Fatalf("Parse(%q) = %v, %v; want %s", tc.spec, n, err, tc.name)
			}
		})
	}
}

// noSystem is a target.System with no nodes and no abilities: what the
// fault-free tests act on, and what a nemesis must refuse in Setup when it
// needs more.
type noSystem struct{}

func (noSystem) Nodes() []string                                  { return nil }
func (noSystem) Running(string) bool                              { return false }
func (noSystem) Kill(string) error                                { return target.ErrNoProcessControl }
func (noSystem) Start(context.Context, string) error              { return target.ErrNoProcessControl }
func (noSystem) Pause(string) error                               { return target.ErrNoProcessControl }
func (noSystem) Resume(string) error                              { return target.ErrNoProcessControl }
func (noSystem) WaitHealthy(context.Context, time.Duration) error { return nil }
func (noSystem) Driver() workload.Driver                          { return nil }
func (noSystem) Stop(bool) error                                  { return nil }

// slowNemesis takes 300ms per action unless its ctx ends first; started
// is closed when the first action begins.
type slowNemesis struct {
	fakeNemesis
	started chan struct{}
	once    sync.Once
}

func (s *slowNemesis) Invoke(ctx context.Context, _ target.System, op history.Op) history.Op {
	s.once.Do(func() { close(s.started) })
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		op.Error = ctx.Err().Error()
	}
	return op
}

func TestRunScheduleStopLetsTheActionUnderWayFinish(t *testing.T) {
	s := &slowNemesis{fakeNemesis: fakeNemesis{name: "slow"}, started: make(chan struct{})}
	rec := &memRecorder{}
	stop := make(chan struct{})
	go func() { <-s.started; close(stop) }() // during the first action
	if err := RunSchedule(context.Background(), s, noSystem{}, rec, Options{Interval: 10 * time.Millisecond, Stop: stop}); err != nil {
		t.Fatal(err)
	}
	if len(rec.h) != 2 || rec.h[1].Error != "" {
		t.Fatalf("recorded %+v: want one action, completed without a cancellation", rec.h)
	}
}
