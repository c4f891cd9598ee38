package selftest

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/testbin"
)

// The integration tests boot real clusters from a freshly built binary;
// -short skips them.

var haveBinary bool

func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

// TestSeededBugsAreCaught is the fast part of the bug matrix: every seeded
// bug with seed 1 must be caught (verdict invalid, with an anomaly the
// row expects), and the correct system must stay valid under every
// scenario used, with the same seed. Every row, 15 bugs and 11 correct
// runs, one at a time: about seven minutes.
func TestSeededBugsAreCaught(t *testing.T) {
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
	bugs := BugIDs()
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
