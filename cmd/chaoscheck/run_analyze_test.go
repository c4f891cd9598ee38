package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
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

// TestAnalyzeOfAStoredRunUsesTheTargetsCheckers: a run stored before the
// runner recorded the target's checkers in config.json names replica-hash
// only in results.json. analyze of it must still use it: it read the
// workload's checkers from config.json alone and judged VALID a run whose
// members diverged (etcd #13766 on v3.5.2, INVALID in `run`). The files
// are such a run directory, cut to one add, its final read and the
// members' hashes.
func TestAnalyzeOfAStoredRunUsesTheTargetsCheckers(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		store.ConfigFile: `{"workload":"set","nemesis":"kill","target":"etcd","seed":1,"checkers":["set","stats"]}`,
		store.HistoryFile: `{"index":0,"time":1,"type":"invoke","process":0,"f":"add","value":1}
{"index":1,"time":2,"type":"ok","process":0,"f":"add","value":1}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read-all"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read-all","value":[1]}
{"index":4,"time":5,"type":"invoke","process":2,"f":"final-hash"}
{"index":5,"time":6,"type":"ok","process":2,"f":"final-hash","value":{"n1":{"revision":3,"hash":7,"hash_revision":2},"n2":{"revision":3,"hash":7,"hash_revision":2},"n3":{"revision":2,"hash":9,"hash_revision":2}}}
`,
		store.ResultsFile: `{"valid":false,"workload":"set","nemesis":"kill","seed":1,"ops":6,"checkers":[{"checker":"set","valid":true},{"checker":"stats","valid":true},{"checker":"replica-hash","valid":false}]}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := chaoscheck(t, "analyze", "--json", dir)
	var a store.Results
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("analyze --json: exit %d, %v\n%s\n%s", code, err, stdout, stderr)
	}
	var names []string
	for _, c := range a.Checkers {
		names = append(names, c.Checker)
	}
	if code != exitInvalid || strings.Join(names, ",") != "set,stats,replica-hash" {
		t.Fatalf("analyze: exit %d with checkers %v; want 1 (the diverged member) with set, stats, replica-hash\n%s", code, names, stderr)
	}
}

// TestAnalyzeOfAStoredRunKeepsTheTargetsCheckers: a run whose target adds
// checkers of its own (etcd's replica-hash) records them in config.json,
// and analyze of that run dir re-judges with them: a diverged member found
// by the run is found again, not dropped.
func TestAnalyzeOfAStoredRunKeepsTheTargetsCheckers(t *testing.T) {
	dir := t.TempDir()
	rec := store.Record{Workload: "register", Nemesis: "kill", Target: "etcd", Seed: 1}
	if err := rec.SetJudgement([]string{"linearizable", "stats", "replica-hash"}, checker.Options{Model: "register"}); err != nil {
		t.Fatal(err)
	}
	raw, err := store.EncodeRecord(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	hist := `{"index":0,"type":"invoke","process":0,"f":"write","key":"k0","value":1}
{"index":1,"type":"ok","process":0,"f":"write","key":"k0","value":1}
{"index":2,"type":"invoke","process":1,"f":"final-hash"}
{"index":3,"type":"ok","process":1,"f":"final-hash","value":{"n1":{"revision":5,"hash":7},"n2":{"revision":5,"hash":7},"n3":{"revision":5,"hash":9}}}
`
	if err := os.WriteFile(filepath.Join(dir, store.ConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, store.HistoryFile), []byte(hist), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := chaoscheck(t, "analyze", "--json", dir)
	var a store.Results
	if err := json.Unmarshal([]byte(stdout), &a); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, stdout, stderr)
	}
	if code != exitInvalid || a.Valid != checker.Invalid {
		t.Fatalf("analyze of a run whose members diverged: exit %d, %v; want invalid\n%s", code, a.Valid, stdout)
	}
	for _, r := range a.Checkers {
		if r.Checker == "replica-hash" && len(r.Anomalies) == 1 && r.Anomalies[0].Kind == "replica-divergence" && r.Anomalies[0].Key == "n3" {
			return
		}
	}
	t.Fatalf("no replica-divergence naming n3 among %+v", a.Checkers)
}
