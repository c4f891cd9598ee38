package selftest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/sut/bugs"
)

func TestMatrixCoversEverySeededBug(t *testing.T) {
	for _, b := range bugs.All() {
		if !slices.ContainsFunc(Matrix, func(r Bug) bool { return r.ID == b.ID() && r.Name == b.Name }) {
			t.Errorf("seeded bug %s has no row in the matrix", b.ID())
		}
	}
	for _, r := range Matrix {
		if b, err := bugs.Lookup(r.ID); err != nil || b.Name != r.Name {
			t.Errorf("row %s (name %q): %v", r.ID, r.Name, err)
		}
	}
}

func TestMatrixScenariosAreRunnable(t *testing.T) {
	used := map[string]bool{}
	for _, b := range Matrix {
		sc, ok := ScenarioNamed(b.Scenario)
		if !ok {
			t.Errorf("row %s names unknown scenario %q", b.ID, b.Scenario)
			continue
		}
		used[sc.Name] = true
		if len(b.Expect) == 0 || b.Wrong == "" {
			t.Errorf("row %s: no expected anomaly or no description", b.ID)
		}
		for _, e := range b.Expect {
			if c, k, ok := strings.Cut(e, ":"); !ok || c == "" || k == "" {
				t.Errorf("row %s: expected anomaly %q is not checker:kind", b.ID, e)
			}
		}
		cfg := Options{}.config(sc, b, 1, t.TempDir())
		if err := cfg.Validate(); err != nil {
			t.Errorf("row %s: scenario %s does not validate: %v", b.ID, sc.Name, err)
		} else if _, err := cfg.Resolve(); err != nil {
			t.Errorf("row %s: scenario %s does not resolve with its qualified bug: %v", b.ID, sc.Name, err)
		}
		if cfg.TimeLimit > 60*time.Second {
			t.Errorf("row %s: time limit %s; the matrix keeps every run to a minute", b.ID, cfg.TimeLimit)
		}
		if !slices.Equal(cfg.SUTBugs, []string{b.ID}) {
			t.Errorf("row %s: SUT bugs %v", b.ID, cfg.SUTBugs)
		}
	}
	for _, sc := range Scenarios {
		if !used[sc.Name] {
			t.Errorf("scenario %s is used by no row", sc.Name)
		}
	}
}

func TestSelectTakesIDsAndNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{nil, BugIDs()},
		{[]string{"all"}, BugIDs()},
		{[]string{"one-phase"}, []string{"twopc/one-phase"}},
		{[]string{"twopc/one-phase", "raft/stale-read"}, []string{"raft/stale-read", "twopc/one-phase"}},
	} {
		bugs, err := Select(tc.names)
		if err != nil {
			t.Fatalf("Select(%v): %v", tc.names, err)
		}
		var got []string
		for _, b := range bugs {
			got = append(got, b.ID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Select(%v) = %v, want %v", tc.names, got, tc.want)
		}
	}
	if _, err := Select([]string{"no-dedup"}); err == nil || !strings.Contains(err.Error(), "raft/no-dedup or twopc/no-dedup") {
		t.Errorf("Select(no-dedup): err %v, want ambiguous, naming both", err)
	}
	if _, err := Select([]string{"no-such-bug"}); err == nil || !strings.Contains(err.Error(), "raft/no-dedup") {
		t.Errorf("Select(no-such-bug): err %v, want one listing the bugs", err)
	}
}

func TestCommandReproducesTheRun(t *testing.T) {
	sc, _ := ScenarioNamed("retry-raft-kill-all")
	cfg := Options{}.config(sc, Bug{ID: "raft/no-dedup", Name: "no-dedup"}, 3, "")
	got := cfg.Command()
	want := "chaoscheck run --workload retry --nemesis kill-all --target raft --time-limit 8s --nemesis-interval 2s --op-timeout 8s --seed 3 --sut-bug raft/no-dedup"
	if got != want {
		t.Errorf("Config.Command = %q\nwant      %q", got, want)
	}
	d := runner.Defaults()
	d.Seed = 0
	if got := d.Command(); strings.Contains(got, "--seed") || strings.Contains(got, "--concurrency") {
		t.Errorf("Config.Command(defaults) = %q: names settings that are run's defaults", got)
	}
}

func TestRowOKAllowsOneMissInFiveSeeds(t *testing.T) {
	runs := func(caught ...bool) []RunResult {
		var rs []RunResult
		for _, c := range caught {
			rs = append(rs, RunResult{Bug: "x", Detected: c, Verdict: checker.Invalid})
		}
		return rs
	}
	valid := func(n int) []RunResult {
		rs := make([]RunResult, n)
		for i := range rs {
			rs[i].Verdict = checker.Valid
		}
		return rs
	}
	for _, tc := range []struct {
		name string
		row  Row
		ok   bool
	}{
		{"all caught", Row{Runs: runs(true, true, true, true, true), Correct: valid(5)}, true},
		{"one miss in five", Row{Runs: runs(true, false, true, true, true), Correct: valid(5)}, true},
		{"two misses in five", Row{Runs: runs(true, false, true, false, true), Correct: valid(5)}, false},
		{"the one seed missed", Row{Runs: runs(false), Correct: valid(1)}, false},
		{"correct system invalid once", Row{Runs: runs(true, true), Correct: append(valid(1), RunResult{Verdict: checker.Invalid})}, false},
		{"correct system unknown", Row{Runs: runs(true), Correct: []RunResult{{Verdict: checker.Unknown}}}, false},
		{"correct system valid but errored", Row{Runs: runs(true), Correct: []RunResult{{Verdict: checker.Valid, Err: "boot"}}}, false},
		{"no runs", Row{}, false},
	} {
		if got := tc.row.OK(); got != tc.ok {
			t.Errorf("%s: OK() = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestMedianDetectionOverCaughtSeeds(t *testing.T) {
	r := Row{Runs: []RunResult{
		{Detected: true, Detection: 4 * time.Second, DetectionFrom: "op"},
		{Detected: false, Detection: time.Hour},
		{Detected: true, Detection: 2 * time.Second, DetectionFrom: "op"},
		{Detected: true, Detection: 9 * time.Second, DetectionFrom: "op"},
	}}
	if d, from := r.MedianDetection(); d != 4*time.Second || from != "op" {
		t.Errorf("median = %s (%s), want 4s (op)", d, from)
	}
	r.Runs[3].DetectionFrom = "run"
	r.Runs = r.Runs[1:]
	if d, from := r.MedianDetection(); d != 5500*time.Millisecond || from != "run" {
		t.Errorf("median = %s (%s), want 5.5s (run)", d, from)
	}
	if _, from := (Row{}).MedianDetection(); from != "" {
		t.Errorf("median of nothing caught says %q", from)
	}
}

// A run is caught only by an anomaly the row expects, and its time to
// detection is when the first op that anomaly names was invoked.
func TestJudgeTimesTheFirstOpAnExpectedAnomalyNames(t *testing.T) {
	dir := t.TempDir()
	hist := filepath.Join(dir, store.HistoryFile)
	lines := `{"index":0,"time":1000000000,"type":"invoke","process":0,"f":"add","value":1}
{"index":1,"time":1500000000,"type":"ok","process":0,"f":"add","value":1}
{"index":2,"time":2000000000,"type":"invoke","process":1,"f":"add","value":2}
{"index":3,"time":2500000000,"type":"ok","process":1,"f":"add","value":2}
{"index":4,"time":3000000000,"type":"invoke","process":2,"f":"read-all"}
{"index":5,"time":3100000000,"type":"ok","process":2,"f":"read-all","value":[1]}
`
	if err := os.WriteFile(hist, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	res := store.Results{Valid: checker.Invalid, History: hist, DurationSec: 12, Checkers: []checker.Result{
		{Checker: "stats", Valid: checker.Valid},
		{Checker: "set", Valid: checker.Invalid, Anomalies: []checker.Anomaly{
			{Kind: "unexpected", Ops: []int64{0, 1, 4}},
			{Kind: "lost", Ops: []int64{2, 3, 5}},
		}},
	}}
	bug := Bug{ID: "raft/x", Expect: []string{"set:lost"}}

	var r RunResult
	r.judge(bug, res)
	if !r.Detected || r.Detection != 2*time.Second || r.DetectionFrom != "op" {
		t.Errorf("judge = detected %v at %s (%s); want caught at 2s (op): the lost add's invocation, not the unexpected one's",
			r.Detected, r.Detection, r.DetectionFrom)
	}

	r = RunResult{}
	r.judge(Bug{ID: "raft/x", Expect: []string{"txid:duplicated"}}, res)
	if r.Detected {
		t.Errorf("caught by anomalies the row does not expect: %+v", r)
	}

	res.Checkers[1].Anomalies[1].Ops = nil
	r = RunResult{}
	r.judge(bug, res)
	if !r.Detected || r.Detection != 12*time.Second || r.DetectionFrom != "run" {
		t.Errorf("anomaly naming no op: detected %v at %s (%s); want the run's 12s (run)", r.Detected, r.Detection, r.DetectionFrom)
	}
}

func TestAnomalyKindsAreQualifiedByChecker(t *testing.T) {
	got := anomalyKinds([]checker.Result{
		{Checker: "set", Anomalies: []checker.Anomaly{{Kind: "duplicated"}, {Kind: "lost"}, {Kind: "duplicated"}}},
		{Checker: "txid", Anomalies: []checker.Anomaly{{Kind: "duplicated"}}},
	})
	if want := []string{"set:duplicated", "set:lost", "txid:duplicated"}; !slices.Equal(got, want) {
		t.Errorf("anomalyKinds = %v, want %v", got, want)
	}
}
