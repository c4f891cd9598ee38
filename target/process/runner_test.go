package process_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/target/process"
)

// The pykv example (examples/pykv: three Python nodes and the Python
// client program) through the runner, as `chaoscheck run --target process
// --config examples/pykv/pykv.toml --nemesis …` runs it: boot, setup,
// load under the nemesis (partitions through faultnet), heal, final
// reads, check, store. Valid as written; invalid with each seeded bug.

// examplePath is the config of an example system under examples/.
func examplePath(t *testing.T, rel string) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 not on PATH (the CI image has it; apt-get install python3): %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "examples", rel)
}

func runPykv(t *testing.T, workload, nemesis string, seed int64) store.Results {
	t.Helper()
	return runExample(t, "pykv/pykv.toml", workload, nemesis, seed, func(*runner.Config) {})
}

func runExample(t *testing.T, config, workload, nemesis string, seed int64, edit func(*runner.Config)) store.Results {
	t.Helper()
	cfg := runner.Defaults()
	cfg.Target, cfg.Workload, cfg.Nemesis = "process", workload, nemesis
	cfg.TargetOptions = map[string]string{process.ConfigFlag: examplePath(t, config)}
	cfg.TimeLimit, cfg.NemesisInterval, cfg.Rate, cfg.Keys, cfg.Seed = 8*time.Second, time.Second, 0, 3, seed
	edit(&cfg)
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
	t.Logf("%s under %s: %s, %d ops; %s; notes %q", workload, nemesis, out.Results.Valid, out.Results.Ops, strings.Join(kinds, "; "), out.Results.Notes)
	oks := 0
	for f, st := range out.Results.Counts {
		if f != "read-all" && f != "read-balances" && f != "final-read" {
			oks += st.OK
		}
	}
	if oks == 0 {
		t.Fatalf("no op of the load succeeded: the run proves nothing")
	}
	return out.Results
}

func TestRunPykvValid(t *testing.T) {
	for _, tc := range []struct{ workload, nemesis string }{
		{"register", "kill"},
		{"register", "partition"},
		{"set", "kill,pause"},
		{"bank", "kill"},
	} {
		t.Run(tc.workload+"/"+tc.nemesis, func(t *testing.T) {
			if res := runPykv(t, tc.workload, tc.nemesis, 3); res.Valid != checker.Valid {
				t.Fatalf("pykv as written: %s, want valid", res.Valid)
			}
		})
	}
}

// A read from the local acceptor misses what a majority chose without
// it, most of all on a node cut off from the others. Two keys, so each
// sees many writes, and one node isolated at a time. A write sent to the
// cut-off node holds its client until the op times out, so a short op
// timeout, more clients and two-second windows keep reads reaching it
// (examples/golib's twin of this test once missed the bug with 2s ops in
// 1s windows).
func TestRunPykvLocalReadCaughtUnderPartition(t *testing.T) {
	t.Setenv("PYKV_BUG", "local-read")
	res := runExample(t, "pykv/pykv.toml", "register", "partition-one", 11, func(c *runner.Config) {
		c.Keys, c.TimeLimit = 2, 12*time.Second
		c.OpTimeout, c.Concurrency, c.NemesisInterval = 500*time.Millisecond, 10, 2*time.Second
	})
	if res.Valid != checker.Invalid {
		t.Fatalf("pykv with PYKV_BUG=local-read: %s, want invalid", res.Valid)
	}
}

// Choosing with one acceptor: proposers on different nodes overwrite each
// other's adds, and a killed node's choices are lost.
func TestRunPykvNoQuorumCaughtUnderKill(t *testing.T) {
	t.Setenv("PYKV_BUG", "no-quorum") // the nodes inherit chaoscheck's environment
	res := runPykv(t, "set", "kill", 5)
	if res.Valid != checker.Invalid {
		t.Fatalf("pykv with PYKV_BUG=no-quorum: %s, want invalid", res.Valid)
	}
}

// The pytwopc example (examples/pytwopc: a Python 2PC coordinator and two
// participants) under alternate-kill: a participant killed in the commit
// window, which the process target holds open through the config's
// failpoint, p1 and p2 in turn. Every held transaction must end applied
// once on both participants, money conserved.
func TestRunPytwopcValidUnderAlternateKill(t *testing.T) {
	res := runExample(t, "pytwopc/pytwopc.toml", "bank", "alternate-kill", 13, func(c *runner.Config) {
		c.TimeLimit, c.Rounds, c.NemesisInterval = 0, 2, 2*time.Second
	})
	if res.Valid != checker.Valid {
		t.Fatalf("pytwopc as written under alternate-kill: %s, want valid", res.Valid)
	}
	h, _, err := history.ReadFile(res.History)
	if err != nil {
		t.Fatal(err)
	}
	rounds := 0
	for _, op := range h {
		if op.F != "alternate-kill" || op.Type == history.Invoke {
			continue
		}
		v, _ := op.Value.(map[string]any)
		if tx, _ := v["held_tx"].(string); op.Error != "" || tx == "" || v["released"] != true {
			t.Errorf("round without a held transaction: %+v", op)
		}
		rounds++
	}
	if rounds != 2 {
		t.Fatalf("%d alternate-kill rounds, want 2", rounds)
	}
}

// Retried tx_ids (the retry workload resubmits after info and sends
// concurrent duplicates) applied again once dedup is off: duplicated.
func TestRunPytwopcNoDedupCaughtUnderRetry(t *testing.T) {
	t.Setenv("PYTWOPC_BUG", "no-dedup")
	res := runExample(t, "pytwopc/pytwopc.toml", "retry", "kill", 13, func(*runner.Config) {})
	if res.Valid != checker.Invalid {
		t.Fatalf("pytwopc with PYTWOPC_BUG=no-dedup under retry: %s, want invalid", res.Valid)
	}
}

func TestRunPytwopcValidUnderRetry(t *testing.T) {
	if res := runExample(t, "pytwopc/pytwopc.toml", "retry", "kill", 13, func(*runner.Config) {}); res.Valid != checker.Valid {
		t.Fatalf("pytwopc as written under retry: %s, want valid", res.Valid)
	}
}
