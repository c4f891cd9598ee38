package postgres

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// bootSystem boots the postgres target for workload w into a temporary
// directory. Cleanup stops it and asserts that no PostgreSQL process is
// left.
func bootSystem(t *testing.T, w string, opts target.Options, wopts workload.Options) *system {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sys, err := Target{}.Boot(ctx, target.Env{Dir: t.TempDir(), Workload: w, Options: opts, WorkloadOptions: wopts})
	if err != nil {
		t.Fatal(err)
	}
	s := sys.(*system)
	t.Cleanup(func() {
		if err := s.Stop(false); err != nil {
			t.Error(err)
		}
		if s.srv != nil {
			if left := s.srv.Leftovers(); len(left) > 0 {
				t.Errorf("PostgreSQL processes left after Stop: %v", left)
			}
		}
	})
	return s
}

// load is one workload run against a driver: the real worker loop
// (workload.Run) with the driver's clients and gen's ops.
type load struct {
	drv  workload.Driver
	gen  workload.Generator
	opts workload.Options
	rec  *history.Recorder
}

func newLoad(t *testing.T, drv workload.Driver, gen workload.Generator, opts workload.Options) *load {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := drv.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return &load{drv: drv, gen: gen, opts: opts.WithDefaults(), rec: history.NewRecorder(io.Discard, history.Retain(true))}
}

// run drives the load for opts.TimeLimit.
func (l *load) run(t *testing.T) workload.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.TimeLimit+time.Minute)
	defer cancel()
	st, err := workload.Run(ctx, adapter{l}, nil, l.rec, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// final records op f as a fresh process, retried until it completes ok.
func (l *load) final(t *testing.T, f string) history.Op {
	t.Helper()
	return l.finalOp(t, history.Op{F: f})
}

// finalOp records op as a fresh process, retried until it completes ok.
func (l *load) finalOp(t *testing.T, op history.Op) history.Op {
	t.Helper()
	c, err := l.drv.NewClient(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var last history.Op
	err = cluster.WaitFor(context.Background(), 30*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		op.Type, op.Process = history.Invoke, 1<<20
		inv := l.rec.Record(op)
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		last = l.rec.Record(c.Invoke(octx, inv))
		return last.Type == history.OK, nil
	})
	if err != nil {
		t.Fatalf("final %s: %v (last: %s %s)", op.F, err, last.Type, last.Error)
	}
	return last
}

// adapter is the workload.Workload that workload.Run needs, made of the
// load's driver and generator; Run calls nothing else.
type adapter struct{ l *load }

func (a adapter) Name() string                                 { return "postgres-test" }
func (a adapter) Boot() workload.BootSpec                      { return workload.BootSpec{} }
func (a adapter) Setup(context.Context, *cluster.Target) error { return nil }
func (a adapter) Generator(int64) workload.Generator           { return a.l.gen }
func (a adapter) NewClient(_ *cluster.Target, p int64) (workload.Client, error) {
	return a.l.drv.NewClient(p)
}
func (a adapter) FinalReads(context.Context, *cluster.Target, workload.Recorder) error { return nil }
func (a adapter) Checkers(string) []checker.Checker                                    { return nil }

// nemesis kills (or pauses) the server every interval until ctx ends,
// recording each fault, and leaves it running.
func nemesis(ctx context.Context, t *testing.T, s *system, rec *history.Recorder, f string, every time.Duration) {
	t.Helper()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		inv := rec.Record(history.Op{Type: history.Invoke, Process: -1, F: f, Value: Node})
		var err error
		switch f {
		case "kill":
			if err = s.Kill(Node); err == nil {
				err = s.Start(context.Background(), Node)
			}
		case "pause":
			if err = s.Pause(Node); err == nil {
				time.Sleep(every / 2) // the fault's duration, not a wait for a condition
				err = s.Resume(Node)
			}
		}
		done := inv
		done.Type = history.Info
		if err != nil {
			done.Error = err.Error()
			t.Errorf("nemesis %s: %v", f, err)
		}
		rec.Record(done)
	}
}
