package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
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
