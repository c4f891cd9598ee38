package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/selftest"
	"github.com/chaoscheck/chaoscheck/store"
)

func TestSelftestBadFlagsExit254(t *testing.T) {
	for _, args := range [][]string{
		{"selftest", "--seeds", "0"},
		{"selftest", "--bugs", "no-such-bug"},
		{"selftest", "--time-limit", "-1s"},
		{"selftest", "extra"},
	} {
		args = append(args, "--store", t.TempDir())
		if _, errText, code := chaoscheck(t, args...); code != exitBadInput {
			t.Errorf("chaoscheck %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitBadInput, errText)
		}
	}
	help, _, code := chaoscheck(t, "selftest", "--help")
	if code != 0 {
		t.Fatalf("selftest --help: exit %d", code)
	}
	for _, want := range append(selftest.BugIDs(), "--seeds", "--bugs", "--json", "Exit codes") {
		if !strings.Contains(help, want) {
			t.Errorf("selftest --help lacks %q", want)
		}
	}
}

func TestSelftestVerdictFailsOnAMissOrAnInvalidCorrectSystem(t *testing.T) {
	caught := []selftest.RunResult{{Bug: "b", Detected: true, Verdict: checker.Invalid}}
	valid := []selftest.RunResult{{Verdict: checker.Valid}}
	ok := selftest.Row{Bug: selftest.Bug{ID: "raft/ok"}, Runs: caught, Correct: valid}
	missed := selftest.Row{Bug: selftest.Bug{ID: "raft/missed"}, Runs: []selftest.RunResult{{Bug: "b", Verdict: checker.Valid}}, Correct: valid}
	falseAlarm := selftest.Row{Bug: selftest.Bug{ID: "twopc/alarm"}, Runs: caught, Correct: []selftest.RunResult{{Verdict: checker.Invalid}}}
	if err := selftestVerdict([]selftest.Row{ok}); err != nil {
		t.Errorf("every row ok: %v, want exit 0", err)
	}
	var ee *exitError
	err := selftestVerdict([]selftest.Row{ok, missed, falseAlarm})
	if !errors.As(err, &ee) || ee.code != exitInvalid || !strings.Contains(err.Error(), "raft/missed, twopc/alarm") {
		t.Errorf("a missed bug and an invalid correct system: %v, want exit 1 naming both", err)
	}
}

// One cheap row end to end: the correct system and one bug, with short
// runs, through the binary's own command.
func TestSelftestCommandCatchesABug(t *testing.T) {
	if testing.Short() {
		t.Skip("boots 2PC clusters")
	}
	storeDir := t.TempDir()
	out, errText, code := chaoscheck(t, "selftest", "--bugs", "twopc/no-dedup", "--time-limit", "3s", "--json", "--store", storeDir)
	if code != exitValid {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errText)
	}
	var rows []struct {
		Bug          string `json:"bug"`
		Detected     int    `json:"detected"`
		CorrectValid int    `json:"correct_valid"`
		OK           bool   `json:"ok"`
		Reproduce    string `json:"reproduce"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(rows) != 1 || rows[0].Bug != "twopc/no-dedup" || rows[0].Detected != 1 || rows[0].CorrectValid != 1 || !rows[0].OK ||
		!strings.Contains(rows[0].Reproduce, "--sut-bug twopc/no-dedup") {
		t.Errorf("rows %+v: want twopc/no-dedup caught on 1 seed, the correct system valid, and its reproduce command", rows)
	}
	if !strings.Contains(errText, "selftest 2/2") {
		t.Errorf("stderr shows no progress per run:\n%s", errText)
	}
	// The selftest's store has the one layout: what serve lists (store.List)
	// is both runs, each with its results.
	entries, err := store.List(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	var tests []string
	for _, e := range entries {
		tests = append(tests, e.Test)
		if e.Results == nil {
			t.Errorf("run %s listed without results: %v", e.Dir, e.Err)
		}
	}
	if len(entries) != 2 || !slices.ContainsFunc(tests, func(s string) bool { return strings.Contains(s, "sut-bug-twopc_no-dedup") }) {
		t.Errorf("store.List of the selftest store: tests %v; want the correct run and the twopc/no-dedup run", tests)
	}
}
