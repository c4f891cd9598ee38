package etcd_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/target/etcd"
)

// The etcd target through the runner, as `chaoscheck run --target etcd
// --etcd-bin … --workload W --nemesis N` runs it: boot, setup, load under
// the nemesis (partitions through faultnet and the front doors), heal,
// final reads, check, store. A correct etcd must be valid every time.

func runEtcd(t *testing.T, workload, nemesis string, nodes int, opts map[string]string) runner.Outcome {
	t.Helper()
	bin, err := etcdbin.Path(etcdbin.Default)
	if err != nil {
		t.Fatalf("no etcd binary: %v (set %s)", err, etcdbin.EnvBin)
	}
	cfg := runner.Defaults()
	cfg.Target, cfg.Workload, cfg.Nemesis, cfg.NodeCount = "etcd", workload, nemesis, nodes
	cfg.TargetOptions = map[string]string{etcd.FlagBin: bin}
	for k, v := range opts {
		cfg.TargetOptions[k] = v
	}
	cfg.TimeLimit, cfg.NemesisInterval, cfg.Rate, cfg.Keys, cfg.Seed = 8*time.Second, 1500*time.Millisecond, 200, 3, 1
	cfg.Store = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := runner.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var kinds []string
	for _, r := range out.Results.Checkers {
		kinds = append(kinds, r.Checker+"="+r.Valid.String()+" "+strings.Join(r.AnomalyKinds(), ","))
	}
	t.Logf("%s under %s: %s, %d ops; %s; nemesis %v; notes %q", workload, nemesis, out.Results.Valid, out.Results.Ops,
		strings.Join(kinds, "; "), out.Results.NemesisCounts, out.Results.Notes)
	return out
}

func TestRunEtcdValid(t *testing.T) {
	for _, tc := range []struct {
		workload, nemesis string
		nodes             int
	}{
		{"register", "kill", 3},
		{"register", "restart-leader", 3},
		{"register", "pause", 3},
		{"register", "partition", 3},
		{"set", "kill-all", 3},
		{"register", "kill", 1},
		{"register", "kill", 5},
		{"list-append", "kill", 3},
	} {
		t.Run(tc.workload+"/"+tc.nemesis+"/"+string(rune('0'+tc.nodes)), func(t *testing.T) {
			t.Parallel()
			out := runEtcd(t, tc.workload, tc.nemesis, tc.nodes, nil)
			if out.Results.Valid != checker.Valid {
				t.Fatalf("etcd %s under %s on %d nodes: %s, want valid", tc.workload, tc.nemesis, tc.nodes, out.Results.Valid)
			}
			ok := 0
			for f, st := range out.Results.Counts {
				if f != "read-all" && f != "final-hash" {
					ok += st.OK
				}
			}
			if ok == 0 {
				t.Fatal("no op of the load succeeded: the run proves nothing")
			}
			if len(out.Results.NemesisCounts) == 0 {
				t.Fatal("the nemesis never acted")
			}
			// analyze of this run dir must re-judge with the member
			// comparison too: the record names it.
			if rec, err := store.ReadRecord(out.Dir); err != nil || !slices.Contains(rec.Checkers, "replica-hash") {
				t.Fatalf("config.json checkers %v (%v), want replica-hash among them", rec.Checkers, err)
			}
		})
	}
}

// Attached to a cluster chaoscheck did not start, a nemesis that needs
// process control is refused before anything runs: bad input.
func TestRunEtcdAttachedRefusesKill(t *testing.T) {
	cfg := runner.Defaults()
	cfg.Target, cfg.Workload, cfg.Nemesis = "etcd", "register", "kill"
	cfg.TargetOptions = map[string]string{etcd.FlagEndpoints: "127.0.0.1:2379"}
	cfg.Store = t.TempDir()
	_, err := runner.Run(context.Background(), cfg)
	if !runner.IsConfigError(err) || !strings.Contains(err.Error(), "kill") {
		t.Fatalf("attached run with --nemesis kill: %v, want a config error naming kill", err)
	}
}
