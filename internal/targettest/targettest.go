// Package targettest runs a workload against a target's Driver in Go
// tests, without the runner: the real worker loop
// (workload.Run) with the driver's clients, a history kept in memory, and
// final reads recorded as fresh processes. Only tests import it.
package targettest

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// Load is one workload run against a driver.
type Load struct {
	Drv  workload.Driver
	Gen  workload.Generator
	Opts workload.Options
	Rec  *history.Recorder
}

// NewLoad runs the driver's Setup and returns the load, not started.
func NewLoad(t *testing.T, drv workload.Driver, gen workload.Generator, opts workload.Options) *Load {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := drv.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	return &Load{Drv: drv, Gen: gen, Opts: opts.WithDefaults(), Rec: history.NewRecorder(io.Discard, history.Retain(true))}
}

// Run drives the load for Opts.TimeLimit.
func (l *Load) Run(t *testing.T) workload.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), l.Opts.TimeLimit+time.Minute)
	defer cancel()
	st, err := workload.Run(ctx, adapter{l}, l.Drv, l.Rec, l.Opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// RunUntil drives the load until stop is closed (or Opts.TimeLimit
// passes, a bound): the ops in flight then end info, as when a run is
// interrupted. For loads that must last as long as a nemesis needs them.
func (l *Load) RunUntil(t *testing.T, stop <-chan struct{}) workload.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), l.Opts.TimeLimit+time.Minute)
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := workload.Run(ctx, adapter{l}, l.Drv, l.Rec, l.Opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return st
}

// Final records op f as a fresh process, retried until it completes ok.
func (l *Load) Final(t *testing.T, f string) history.Op {
	t.Helper()
	return l.FinalOp(t, history.Op{F: f})
}

// FinalOp records op as a fresh process, retried until it completes ok.
func (l *Load) FinalOp(t *testing.T, op history.Op) history.Op {
	t.Helper()
	const process = 1 << 20
	c, err := l.Drv.NewClient(process)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var last history.Op
	err = cluster.WaitFor(context.Background(), time.Minute, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		op.Type, op.Process = history.Invoke, process
		inv := l.Rec.Record(op)
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		last = l.Rec.Record(c.Invoke(octx, inv))
		return last.Type == history.OK, nil
	})
	if err != nil {
		t.Fatalf("final %s: %v (last: %s %s)", op.F, err, last.Type, last.Error)
	}
	return last
}

// Judge runs the checkers on the history and returns their results.
func (l *Load) Judge(cs []checker.Checker) []checker.Result {
	h := l.Rec.History()
	var rs []checker.Result
	for _, c := range cs {
		rs = append(rs, c.Check(context.Background(), h))
	}
	return rs
}

// RequireValid fails the test unless every result is valid.
func RequireValid(t *testing.T, name string, rs []checker.Result) {
	t.Helper()
	for _, r := range rs {
		if r.Valid != checker.Valid {
			t.Errorf("%s: checker %s says %v: %+v", name, r.Checker, r.Valid, r.Anomalies)
		}
	}
}

// adapter is the workload.Workload that workload.Run needs, made of the
// load's generator; Run calls nothing else of it.
type adapter struct{ l *Load }

func (a adapter) Name() string                       { return "target-test" }
func (a adapter) Generator(int64) workload.Generator { return a.l.Gen }
func (a adapter) FinalOps() []history.Op             { return nil }
func (a adapter) Checkers(string) []checker.Checker  { return nil }

// Boot boots tg with env (Dir: a fresh temporary directory) and stops it
// on cleanup (skipped under -short, like every integration test), failing the test if Stop fails or leftovers, called after
// Stop, names any process still running.
func Boot(t *testing.T, tg target.Target, env target.Env, leftovers func(target.System) []string) target.System {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no real servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env.Dir = t.TempDir()
	sys, err := tg.Boot(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(false); err != nil {
			t.Error(err)
		}
		if left := leftovers(sys); len(left) > 0 {
			t.Errorf("left running after Stop: %v", left)
		}
	})
	return sys
}
