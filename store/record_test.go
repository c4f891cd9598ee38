package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
)

func TestRecordOverSettingsRoundTrips(t *testing.T) {
	total := int64(800)
	rec := Record{Workload: "bank", Nemesis: "kill", Seed: 3, Reproduce: "chaoscheck run --workload bank --nemesis kill --seed 3"}
	if err := rec.SetJudgement([]string{"bank", "txid", "stats"}, checker.Options{Total: &total, Accounts: []string{"p1/a1", "p2/a1"}, Init: json.Number("0")}); err != nil {
		t.Fatal(err)
	}
	settings := map[string]any{"concurrency": 5, "workload": "stale", "time_limit": "20s"}
	b, err := EncodeRecord(rec, settings)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(b, &all); err != nil || all["concurrency"] != float64(5) || all["time_limit"] != "20s" {
		t.Errorf("settings lost: %s (%v)", b, err)
	}
	back, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	o, err := back.CheckerOptions()
	if err != nil {
		t.Fatal(err)
	}
	if back.Workload != "bank" || back.Reproduce != rec.Reproduce || o.Total == nil || *o.Total != 800 || len(o.Accounts) != 2 || o.Init != json.Number("0") {
		t.Errorf("record back %+v, options %+v; want the record's fields (the record wins over the settings' workload)", back, o)
	}
}

func TestCutShortIsTheOneRuleForUnfinishedRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results *Results // nil: no results.json
		want    string   // "" complete
	}{
		{"complete", &Results{Valid: checker.Valid}, ""},
		{"interrupted", &Results{Interrupted: true, NoFinalRead: true}, "interrupted"},
		{"no final read", &Results{NoFinalRead: true}, "no final read"},
		{"killed or running", nil, "no results.json"},
	} {
		dir := t.TempDir()
		if tc.results != nil {
			if err := WriteJSON(filepath.Join(dir, ResultsFile), tc.results); err != nil {
				t.Fatal(err)
			}
		}
		got := CutShort(dir)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: CutShort = %q, want %q", tc.name, got, tc.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ResultsFile), []byte("{half"), 0o644)
	if CutShort(dir) == "" {
		t.Error("an unreadable results.json counts as complete")
	}
}

func TestSelfTestRunsNameTheirBugInTheTest(t *testing.T) {
	if got := TestName("retry", "kill-all", "raft/no-dedup"); got != "retry-kill-all-sut-bug-raft_no-dedup" {
		t.Errorf("TestName = %q", got)
	}
	if got := TestName("set", "kill,pause"); got != "set-kill+pause" {
		t.Errorf("TestName = %q", got)
	}
}
