package selftest

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/testbin"
)

// The integration tests boot real clusters from a freshly built binary;
// -short skips them.

var haveBinary bool

func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

// neverHeal are the rows whose bug leaves a cluster that cannot become
// healthy again (a participant refusing the commit it forgot it had
// prepared; a former Raft leader holding entries its cluster lost), so
// each run waits out the runner's one-minute heal timeout. They run in
// the full matrix (chaoscheck selftest) and here only with
// CHAOSCHECK_SELFTEST_ALL=1, to keep this test within its CI budget.
var neverHeal = []string{"raft/unsynced-log", "twopc/forget-prepared", "twopc/unilateral-abort"}

// statistical are the rows whose scenario catches the bug on most seeds
// but not on every one: one seed here would make a flaky test. The full
// matrix measures their rate. (raft/local-leader-read was one while its
// scenario was partition-leader, which catches it on about half the
// seeds; deposed-leader catches it in its first cycle.)
var statistical = []string{}

// TestSeededBugsAreCaught is the fast part of the bug matrix: every seeded
// bug with seed 1 must be caught (verdict invalid, with an anomaly the
// row expects), and the correct system must stay valid under every
// scenario used, with the same seed. About 15 runs of ~10s, one at a time.
func TestSeededBugsAreCaught(t *testing.T) {
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
	var bugs []string
	for _, id := range BugIDs() {
		if os.Getenv("CHAOSCHECK_SELFTEST_ALL") != "" || !slices.Contains(neverHeal, id) && !slices.Contains(statistical, id) {
			bugs = append(bugs, id)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	rows, err := Run(ctx, Options{
		Bugs: bugs, Seeds: []int64{1}, Store: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Done: func(r RunResult) {
			what := r.Bug
			if what == "" {
				what = "correct SUT"
			}
			t.Logf("%s under %s: %s %v, detected %v at %s (%s), run %s", what, r.Scenario, r.Verdict, r.Anomalies,
				r.Detected, r.Detection.Round(time.Millisecond), r.DetectionFrom, r.Duration.Round(100*time.Millisecond))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bugs in %s", len(rows), time.Since(start).Round(time.Second))
	for _, r := range rows {
		for _, run := range r.Runs {
			if !run.Detected {
				t.Errorf("%s went unnoticed under %s: verdict %s, anomalies %v (want %s)%s\n  reproduce: %s",
					r.ID, r.Scenario, run.Verdict, run.Anomalies, strings.Join(r.Expect, " or "), errNote(run), run.Command)
			}
		}
	}
	reported := map[string]bool{}
	for _, r := range rows {
		for _, run := range r.Correct {
			if (run.Verdict.String() != "valid" || run.Err != "") && !reported[r.Scenario] {
				reported[r.Scenario] = true
				t.Errorf("the correct system is %s under %s: anomalies %v%s\n  reproduce: %s",
					run.Verdict, r.Scenario, run.Anomalies, errNote(run), run.Command)
			}
		}
	}
}

func errNote(r RunResult) string {
	if r.Err == "" {
		return ""
	}
	return "; error: " + r.Err
}
