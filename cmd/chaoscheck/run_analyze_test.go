package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaoscheck/chaoscheck/store"
)

// TestAnalyzeOfAStoredRunAgreesWithTheRun runs the CLI end to end (real
// node processes) and then re-judges the stored run from its files alone:
// analyze must reach the run's verdict with the run's checkers.
func TestAnalyzeOfAStoredRunAgreesWithTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft cluster")
	}
	dir := t.TempDir()
	_, stderr, code := chaoscheck(t, "run", "--workload", "register", "--nemesis", "restart-leader",
		"--time-limit", "5s", "--nemesis-interval", "1500ms", "--seed", "7", "--store", dir)
	if code != exitValid {
		t.Fatalf("run exit %d, want 0 (valid); stderr:\n%s", code, stderr)
	}
	latest := filepath.Join(dir, "latest")
	run, err := store.Load(latest)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "history.jsonl", "results.json"} {
		if _, err := os.Stat(filepath.Join(latest, f)); err != nil {
			t.Errorf("stored run lacks %s: %v", f, err)
		}
	}

	stdout, stderr, code := chaoscheck(t, "analyze", "--json", latest)
	if code != exitValid {
		t.Fatalf("analyze of the stored run: exit %d, want 0; stderr:\n%s", code, stderr)
	}
	var a store.Results
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("analyze --json: %v\n%s", err, stdout)
	}
	if a.Valid != run.Valid || len(a.Checkers) != len(run.Checkers) {
		t.Fatalf("analyze says %v with %d checkers; the run said %v with %d", a.Valid, len(a.Checkers), run.Valid, len(run.Checkers))
	}
	for i := range a.Checkers {
		if a.Checkers[i].Checker != run.Checkers[i].Checker || a.Checkers[i].Valid != run.Checkers[i].Valid {
			t.Errorf("checker %d: analyze %s=%v, run %s=%v", i, a.Checkers[i].Checker, a.Checkers[i].Valid, run.Checkers[i].Checker, run.Checkers[i].Valid)
		}
	}
	if _, err := os.Stat(filepath.Join(latest, "analysis.json")); err != nil {
		t.Errorf("analyze of a run dir should write analysis.json beside results.json: %v", err)
	}
}
