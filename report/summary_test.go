package report

import (
	"errors"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
)

func TestExitCodeFollowsJepsen(t *testing.T) {
	for v, want := range map[checker.Validity]int{checker.Valid: 0, checker.Invalid: 1, checker.Unknown: 2} {
		if got := ExitCode(v); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", v, got, want)
		}
	}
}

func TestWriteSummaryShowsAnomaliesWithOpIndexesCapped(t *testing.T) {
	var anomalies []checker.Anomaly
	for i := range MaxAnomalies + 3 {
		anomalies = append(anomalies, checker.Anomaly{Kind: "duplicated", Key: "t1-" + string(rune('a'+i)), Ops: []int64{int64(i), 100 + int64(i)}})
	}
	many := make([]int64, 20)
	for i := range many {
		many[i] = int64(1000 + i)
	}
	anomalies[0] = checker.Anomaly{Kind: "lost", Key: "t9-1", Ops: many, Detail: "acknowledged, absent on p2"}
	var r store.Results
	r.SetVerdict(checker.Result{Checker: "compose", Valid: checker.Invalid, Details: []checker.Result{
		{Checker: "txid", Valid: checker.Invalid, Anomalies: anomalies},
		{Checker: "linearizable", Valid: checker.Unknown, Notes: []string{"search timed out after 1s"}, Files: []string{"linear.html"}},
		{Checker: "stats", Valid: checker.Valid, Details: &checker.StatsDetails{
			ByF:     map[string]*checker.FStats{"transfer": {Invoke: 10, OK: 7, Fail: 2, Info: 1, Latency: &checker.Latency{N: 7, P50: 1.25, P90: 3, P99: 4, Max: 4.5}}},
			Nemesis: map[string]*checker.FStats{"kill": {Invoke: 4, OK: 4}}}},
	}})
	r.Seed, r.Dir, r.Ops, r.Workload, r.Nemesis = 42, "/s/bank-alternate-kill/20261125T180405.123", 38, "bank", "alternate-kill"

	var b strings.Builder
	if err := WriteSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"verdict: INVALID",
		"txid          INVALID  13 anomalies: lost ×1, duplicated ×12",
		"lost t9-1 ops 1000, 1001,",
		"1011 … and 8 more: acknowledged, absent on p2",
		"duplicated t1-b ops 1, 101",
		"… and 3 more anomalies",
		"linearizable  UNKNOWN",
		"note: search timed out after 1s",
		"wrote /s/bank-alternate-kill/20261125T180405.123/linear.html",
		"  transfer      10       7       2       1      1.2      3.0      4.0      4.5",
		"  kill       4       4       0       0",
		"seed 42",
		"stored in /s/bank-alternate-kill/20261125T180405.123",
		"verdict: INVALID (exit 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "t1-l") {
		t.Errorf("summary shows more than %d anomalies of a checker:\n%s", MaxAnomalies, out)
	}
}

func TestWriteSummaryOfABareCheckerResult(t *testing.T) {
	var r store.Results
	r.SetVerdict(checker.Result{Checker: "set", Valid: checker.Valid})
	r.History = "h.jsonl"
	var b strings.Builder
	if err := WriteSummary(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "set           VALID") || !strings.Contains(out, "history: h.jsonl") || strings.Contains(out, "stored in") {
		t.Errorf("summary of a lone result:\n%s", out)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("closed") }

func TestWriteSummaryReportsWriteErrors(t *testing.T) {
	if err := WriteSummary(failingWriter{}, store.Results{}); err == nil {
		t.Error("WriteSummary to a failing writer returned nil")
	}
}

func TestSummaryListsEveryPartitionWithItsGrudge(t *testing.T) {
	h := history.History{
		{Index: 0, Time: 1e9, Type: history.Invoke, Process: history.NemesisProcess, F: "start-partition"},
		{Index: 1, Time: 2e9, Type: history.Info, Process: history.NemesisProcess, F: "start-partition",
			Value: map[string]any{"n1": []any{"n2", "n3"}, "n2": []any{"n1"}, "n3": []any{"n1"}}},
		{Index: 2, Time: 3e9, Type: history.Invoke, Process: history.NemesisProcess, F: "stop-partition"},
		{Index: 3, Time: 3e9, Type: history.Info, Process: history.NemesisProcess, F: "stop-partition"},
	}
	var b strings.Builder
	if err := WriteSummary(&b, store.Results{Valid: checker.Valid, Partitions: store.PartitionsOf(h)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `2.0s  {"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}`) {
		t.Fatalf("summary does not list the partition's grudge:\n%s", b.String())
	}
}
