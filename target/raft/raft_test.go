package raft

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// --snapshot-interval reaches the replicas: with 5, forty writes make every
// replica snapshot and log it; with the default (1000) none does.
func TestSnapshotIntervalFlagMakesSnapshots(t *testing.T) {
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
	for _, tc := range []struct {
		name     string
		opts     target.Options
		wantSnap bool
	}{
		{"interval 5", target.Options{FlagSnapshotInterval: "5"}, true},
		{"default", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			booted, err := Target{}.Boot(ctx, target.Env{Dir: dir, Workload: "register", Options: tc.opts,
				WorkloadOptions: workload.Options{Keys: 2, OpTimeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { booted.Stop(true) })
			sys := booted.(*System)
			d := &driver{s: sys, workload: "register", opts: workload.Options{Keys: 2}.WithDefaults()}
			if err := d.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			c := d.client(nil, 5*time.Second)
			var last uint64
			for i := range 40 {
				res, _, err := c.Exec(ctx, fmt.Sprint("w", i), raftsql.Stmt{SQL: "UPDATE kv SET v = ? WHERE k = ?", Args: []any{i, workload.RegisterKey(0)}})
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				last = res.Index
			}
			for _, id := range sys.rc.IDs() {
				var st raftsql.Status
				err := cluster.WaitFor(ctx, 20*time.Second, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
					st, err = sys.rc.Status(ctx, id)
					return err == nil && st.Applied >= last, err
				})
				if err != nil {
					t.Fatalf("n%d did not apply index %d: %v (status %+v)", id, last, err, st)
				}
				logged := nodeLogSays(t, filepath.Join(sys.rc.DataDir(id), "node.log"), "msg=snapshot ")
				if got := st.SnapshotIndex > 0; got != tc.wantSnap || logged != tc.wantSnap {
					t.Errorf("n%d after applying %d: snapshot index %d, snapshot in node.log %v; want snapshots %v",
						id, st.Applied, st.SnapshotIndex, logged, tc.wantSnap)
				}
			}
		})
	}
}

func nodeLogSays(t *testing.T, path, s string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}

// A bad --snapshot-interval is refused before any node starts, as a
// *target.ConfigError (the CLI's exit 254).
func TestSnapshotIntervalFlagRefusesBadValues(t *testing.T) {
	for _, v := range []string{"often", "-1", "2.5", "1e3", "99999999999999999999"} {
		sys, err := Target{}.Boot(context.Background(), target.Env{Dir: t.TempDir(), Workload: "register",
			Options: target.Options{FlagSnapshotInterval: v}})
		if err == nil {
			sys.Stop(true)
			t.Fatalf("--snapshot-interval %q booted a cluster; want an error", v)
		}
		var ce *target.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--snapshot-interval") {
			t.Errorf("--snapshot-interval %q: error %v, want a *target.ConfigError naming the flag", v, err)
		}
	}
}
