package postgres

import (
	"context"
	"fmt"
	"github.com/chaoscheck/chaoscheck/internal/targettest"
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
	return targettest.Boot(t, Target{}, target.Env{Workload: w, Options: opts, WorkloadOptions: wopts}, func(sys target.System) []string {
		if s := sys.(*system); s.srv != nil {
			return pids("postgres", s.srv.Leftovers())
		}
		return nil
	}).(*system)
}

// pids names the processes of node.
func pids(node string, ps []int) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s pid %d", node, p))
	}
	return out
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
