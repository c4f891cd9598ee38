package process

import (
	"context"
	"math/rand"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// These helpers run a workload on a booted process system as the runner
// does (workload.Run, workload.FinalReads, the workload's checkers), with
// a nemesis of the test's own, for the faults the runner has no nemesis
// for yet (partitions through faultnet).

// exampleConfig is the path of a config under examples/.
func exampleConfig(t *testing.T, rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", rel)
}

// bootConfig boots cfg for workload w into a temp dir; Stop runs at
// cleanup.
func bootConfig(t *testing.T, cfg *Config, w string, opts workload.Options, net target.Net) *system {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := boot(ctx, cfg, target.Env{Dir: t.TempDir(), Workload: w, WorkloadOptions: opts, Net: net})
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(true); err != nil {
			t.Errorf("stop: %v", err)
		}
		for _, n := range s.names {
			if s.Running(n) {
				t.Errorf("node %s still running after Stop", n)
			}
		}
	})
	return s
}

// nemesis is a fault schedule: act runs once per period until stop.
type nemesis func(ctx context.Context, rec workload.Recorder, rng *rand.Rand)

// partitionHeal partitions the nodes in a random shape (halves, one
// isolated, ring, bridge, one-way), then heals.
func partitionHeal(s *system, fn *faultnet.Net) nemesis {
	return func(ctx context.Context, rec workload.Recorder, rng *rand.Rand) {
		shapes := faultnet.ShapesFor(len(s.names))
		g, err := faultnet.Shape(shapes[rng.Intn(len(shapes))], s.names, "", rng)
		if err != nil {
			panic(err) // the shapes listed for this many nodes always build
		}
		inv := rec.Record(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: "start-partition", Value: g.Value()})
		fn.Partition(g)
		rec.Record(inv)
		sleepCtx(ctx, time.Second)
		nemesisOp(rec, "stop-partition", "", func() error { fn.Heal(); return nil })
	}
}

// newFaultnet is a partition layer closed at cleanup.
func newFaultnet(t *testing.T) *faultnet.Net {
	fn := faultnet.New(nil)
	t.Cleanup(func() { fn.Close() })
	return fn
}

func nemesisOp(rec workload.Recorder, f, node string, do func() error) {
	inv := rec.Record(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: f, Value: node})
	done := inv
	done.Type = history.Info
	if err := do(); err != nil {
		done.Error = err.Error()
	}
	rec.Record(done)
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// runChecked runs workload name on s for d under nem (nil: none), heals,
// performs the final read and returns the composed verdict and history.
func runChecked(t *testing.T, s *system, name string, opts workload.Options, d time.Duration, nem nemesis, heal func()) (checker.Result, history.History) {
	t.Helper()
	opts = opts.WithDefaults()
	opts.TimeLimit = d
	w, err := workload.ByName(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	dr := s.Driver()
	rec, err := history.CreateRecorder(filepath.Join(t.TempDir(), "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	if err := dr.Setup(ctx); err != nil {
		t.Fatalf("setup: %v", err)
	}
	nctx, stopNemesis := context.WithCancel(ctx)
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		if nem == nil {
			return
		}
		rng := rand.New(rand.NewSource(opts.Seed))
		for nctx.Err() == nil {
			sleepCtx(nctx, time.Second)
			if nctx.Err() == nil {
				nem(nctx, rec, rng)
			}
		}
	}()
	st, err := workload.Run(ctx, w, dr, rec, opts)
	stopNemesis()
	<-nemDone
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if heal != nil {
		heal()
	}
	if err := s.WaitHealthy(ctx, time.Minute); err != nil {
		t.Fatalf("wait healthy after the faults: %v", err)
	}
	if err := workload.FinalReads(ctx, w, dr, rec, st.NextProcess, opts.OpTimeout); err != nil {
		t.Fatalf("final read: %v", err)
	}
	t.Logf("%s: %d ops: %d ok, %d fail, %d info, %d processes", name, st.Invoked, st.OK, st.Fail, st.Info, st.Processes)
	if st.OK == 0 {
		t.Fatalf("no op succeeded: the run proves nothing")
	}
	h := rec.History()
	res := checker.Compose(w.Checkers(t.TempDir())...).Check(ctx, h)
	return res, h
}
