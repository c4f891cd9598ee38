package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/store"
)

// The integration tests run each scenario for real: node processes from
// a freshly built chaoscheck binary, faults, final reads, checkers. Their
// time limits are short; together they stay under three minutes on two
// cores. -short skips them.

var haveBinary bool

func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

func integration(t *testing.T) {
	t.Helper()
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
}

// scenarioConfig is a scenario's preset, shortened for a test.
func scenarioConfig(t *testing.T, scenario string, mod func(*Config)) Config {
	t.Helper()
	c, err := NewConfig(scenario)
	if err != nil {
		t.Fatal(err)
	}
	c.Store = t.TempDir()
	c.Seed = 20261125
	c.Progress = nil
	c.Log = testLogger(t)
	c.CheckTimeout = time.Minute
	if mod != nil {
		mod(&c)
	}
	return c
}

// runScenario runs cfg and fails the test unless the verdict is valid and
// the run directory is complete. It returns the outcome and the history.
func runScenario(t *testing.T, cfg Config) (Outcome, history.History) {
	t.Helper()
	start := time.Now()
	out, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Logf("%s: %s in %s, %d ops, dir %s", cfg.Scenario, out.Results.Valid, time.Since(start).Round(time.Second), out.Results.Ops, out.Dir)
	if out.Results.Valid != checker.Valid {
		t.Errorf("verdict %s, want valid; notes %v", out.Results.Valid, out.Results.Notes)
		for _, r := range out.Results.Checkers {
			t.Logf("  %s %s anomalies %v notes %v", r.Checker, r.Valid, r.Anomalies, r.Notes)
		}
	}
	assertCompleteRunDir(t, cfg.Store, out)
	h, warns, err := history.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
	if err != nil || len(warns) > 0 {
		t.Fatalf("stored history: %v %v", err, warns)
	}
	if err := history.Validate(h, nil, store.HistoryFile); err != nil {
		t.Errorf("stored history is malformed: %v", err)
	}
	return out, h
}

func assertCompleteRunDir(t *testing.T, storeDir string, out Outcome) {
	t.Helper()
	for _, f := range []string{store.ConfigFile, store.HistoryFile, store.ResultsFile} {
		if fi, err := os.Stat(filepath.Join(out.Dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("run directory lacks %s (or it is empty): %v", f, err)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(out.Dir, store.NodesDir, "*", store.NodeLogFile))
	if len(logs) == 0 {
		t.Errorf("no nodes/*/node.log in %s", out.Dir)
	}
	if latest, err := filepath.EvalSymlinks(filepath.Join(storeDir, store.LatestLink)); err != nil || latest != out.Dir {
		t.Errorf("latest -> %s (%v), want %s", latest, err, out.Dir)
	}
	res, err := store.Load(out.Dir)
	if err != nil || res.Valid != out.Results.Valid || res.Seed != out.Config.Seed {
		t.Errorf("results.json: %+v, %v", res, err)
	}
	assertNoNodeProcesses(t, out.Dir)
}

// assertNoNodeProcesses fails if any process still runs with the run
// directory on its command line: a node outlived the run.
func assertNoNodeProcesses(t *testing.T, runDir string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, runDir) {
			t.Errorf("node process alive after the run: %s: %s", filepath.Dir(p), cmd)
		}
	}
}

// nemesisCompletions returns the nemesis completions whose f contains f
// (duplicate-retry records start-duplicate-retry and stop-…).
func nemesisCompletions(h history.History, f string) []history.Op {
	var ops []history.Op
	for _, op := range h {
		if !op.IsClient() && strings.Contains(op.F, f) && op.Type != history.Invoke {
			ops = append(ops, op)
		}
	}
	return ops
}

func TestScenarioLeaderRestart(t *testing.T) {
	integration(t)
	cfg := scenarioConfig(t, "leader-restart", func(c *Config) {
		c.TimeLimit, c.NemesisInterval = 10*time.Second, 1500*time.Millisecond
	})
	_, h := runScenario(t, cfg)
	restarts := 0
	for _, op := range nemesisCompletions(h, "restart-leader") {
		if op.Error == "" {
			restarts++
		}
	}
	if restarts < 3 {
		t.Errorf("leader restarted %d times without error, want at least 3: %v", restarts, nemesisCompletions(h, "restart-leader"))
	}
}

func TestScenarioPrepareCommitAlternate(t *testing.T) {
	integration(t)
	cfg := scenarioConfig(t, "prepare-commit-alternate", func(c *Config) {
		c.NemesisInterval, c.PauseBeforeCommit = time.Second, 1500*time.Millisecond
	})
	_, h := runScenario(t, cfg)
	rounds := nemesisCompletions(h, "alternate-kill")
	killed := map[string]int{}
	for _, op := range rounds {
		v := fmt.Sprint(op.Value)
		for _, p := range []string{"p1", "p2"} {
			if strings.Contains(v, p) && op.Error == "" {
				killed[p]++
			}
		}
	}
	if len(rounds) < 4 || killed["p1"] == 0 || killed["p2"] == 0 {
		t.Errorf("%d alternate-kill rounds, participants killed %v; want at least 4 rounds killing both p1 and p2: %v", len(rounds), killed, rounds)
	}
}

func TestScenarioRetryIdempotent(t *testing.T) {
	integration(t)
	cfg := scenarioConfig(t, "retry-idempotent", func(c *Config) {
		c.TimeLimit, c.NemesisInterval = 8*time.Second, 2*time.Second
	})
	_, h := runScenario(t, cfg)
	if n := len(nemesisCompletions(h, "duplicate-retry")); n == 0 {
		t.Errorf("no duplicate-retry nemesis ops in the history")
	}
	attempts := map[string]int{}
	for _, op := range h {
		if op.IsClient() && op.IsInvoke() && op.TxID != "" {
			attempts[op.TxID]++
		}
	}
	retried := 0
	for _, n := range attempts {
		if n > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Errorf("no tx_id was invoked more than once: the scenario tested no retry")
	}
}

func TestCtrlCStopsTheRunKillsNodesAndStoresResults(t *testing.T) {
	integration(t)
	cfg := scenarioConfig(t, "", func(c *Config) {
		c.Workload, c.Nemesis, c.TimeLimit = "register", "restart-leader", time.Minute
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(ctx, cfg)
		done <- result{out, err}
	}()
	// Cancel once the load is under way: some ops are in the history.
	deadline := time.Now().Add(60 * time.Second)
	for {
		// latest leads to the run from its start.
		if fi, err := os.Stat(filepath.Join(cfg.Store, store.LatestLink, store.HistoryFile)); err == nil && fi.Size() > 2000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ops recorded 60s into the run")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancelled := time.Now()
	cancel()
	var r result
	select {
	case r = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("run did not end 90s after Ctrl-C")
	}
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
	t.Logf("ended %s after cancel, %d ops, verdict %s", time.Since(cancelled).Round(time.Millisecond), r.out.Results.Ops, r.out.Results.Valid)
	if !r.out.Results.Interrupted || r.out.Results.Valid == checker.Valid {
		t.Errorf("interrupted %v verdict %s; want interrupted, not valid (no final read)", r.out.Results.Interrupted, r.out.Results.Valid)
	}
	assertCompleteRunDir(t, cfg.Store, r.out)
}
