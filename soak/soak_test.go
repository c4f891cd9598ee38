package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
)

// These tests drive the soak with a stand-in for runner.Run, which
// returns the verdicts a test scripts; cmd/chaoscheck's soak tests run
// the real thing.

// fakeRuns returns a RunFunc giving the verdicts in turn (the last one
// repeats) and recording the configs it was called with.
type fakeRuns struct {
	mu       sync.Mutex
	verdicts []checker.Validity
	errs     []error // by call, when set
	configs  []runner.Config
	hook     func(n int) // called at each run, before it returns
}

func (f *fakeRuns) run(ctx context.Context, cfg runner.Config) (runner.Outcome, error) {
	f.mu.Lock()
	n := len(f.configs)
	f.configs = append(f.configs, cfg)
	f.mu.Unlock()
	if f.hook != nil {
		f.hook(n + 1)
	}
	v := f.verdicts[min(n, len(f.verdicts)-1)]
	res := store.Results{Valid: v, Seed: cfg.Seed, Scenario: cfg.Scenario, Start: time.Now(), DurationSec: 1.5, Ops: 100 + n,
		Dir: filepath.Join(cfg.Store, "test", fmt.Sprint(n))}
	if v == checker.Invalid {
		res.Checkers = []checker.Result{{Checker: "txid", Valid: checker.Invalid,
			Anomalies: []checker.Anomaly{{Kind: "duplicated", Key: "t4", Ops: []int64{10, 12}, Detail: "applied twice"}, {Kind: "lost", Key: "t9"}}}}
	}
	if v == checker.Unknown {
		res.Notes = []string{"no final read: the verdict cannot be valid"}
	}
	var err error
	if n < len(f.errs) {
		err = f.errs[n]
	}
	return runner.Outcome{Config: cfg, Dir: res.Dir, Results: res}, err
}

func testConfig(t *testing.T, f *fakeRuns) Config {
	return Config{Scenarios: []string{"leader-restart", "retry-idempotent"}, Runs: 5, Store: t.TempDir(), Seed: 42, Run: f.run}
}

func TestSoakStopsAtTheFirstInvalidRunUnlessKeepGoing(t *testing.T) {
	for _, keepGoing := range []bool{false, true} {
		f := &fakeRuns{verdicts: []checker.Validity{checker.Valid, checker.Invalid, checker.Valid}}
		cfg := testConfig(t, f)
		cfg.KeepGoing = keepGoing
		s, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		wantRuns, wantStop := 2, "invalid run"
		if keepGoing {
			wantRuns, wantStop = 5, "runs"
		}
		if len(s.Runs) != wantRuns || s.Stopped != wantStop || s.Valid != checker.Invalid || s.ExitCode() != 1 {
			t.Errorf("keep-going %v: %d runs, stopped %q, verdict %s, exit %d; want %d runs, stopped %q, invalid, exit 1",
				keepGoing, len(s.Runs), s.Stopped, s.Valid, s.ExitCode(), wantRuns, wantStop)
		}
		if s.Counts["invalid"] != 1 || s.Counts["valid"] != wantRuns-1 {
			t.Errorf("keep-going %v: counts %v", keepGoing, s.Counts)
		}
		bad := s.Runs[1]
		if len(bad.Anomalies) != 2 || !strings.Contains(bad.Anomalies[0], "txid: duplicated ×1, e.g. t4 ops 10, 12: applied twice") {
			t.Errorf("invalid run's anomalies: %q", bad.Anomalies)
		}
		if want := fmt.Sprintf("chaoscheck run --scenario retry-idempotent --seed %d", bad.Seed); bad.Reproduce != want {
			t.Errorf("reproduce %q, want %q", bad.Reproduce, want)
		}
	}
}

func TestSoakExitCodeIsTheWorstVerdict(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verdicts []checker.Validity
		errs     []error
		want     int
	}{
		{"all valid", []checker.Validity{checker.Valid}, nil, 0},
		{"one unknown", []checker.Validity{checker.Valid, checker.Unknown, checker.Valid}, nil, 2},
		{"unknown then invalid", []checker.Validity{checker.Unknown, checker.Invalid}, nil, 1},
		{"a run that failed to run is unknown", []checker.Validity{checker.Valid}, []error{nil, errors.New("boot: no leader")}, 2},
	} {
		f := &fakeRuns{verdicts: tc.verdicts, errs: tc.errs}
		cfg := testConfig(t, f)
		cfg.Runs = 3
		s, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.ExitCode() != tc.want {
			t.Errorf("%s: exit %d (verdict %s, counts %v), want %d", tc.name, s.ExitCode(), s.Valid, s.Counts, tc.want)
		}
		if tc.errs != nil && !strings.Contains(s.Runs[1].Error, "boot: no leader") {
			t.Errorf("%s: run 2's error %q not recorded", tc.name, s.Runs[1].Error)
		}
	}
}

func TestSoakSeedsEachRunFromItsSeedAndRunsScenariosInTurn(t *testing.T) {
	seeds := func() []int64 {
		f := &fakeRuns{verdicts: []checker.Validity{checker.Valid}}
		cfg := testConfig(t, f)
		cfg.TimeLimit, cfg.SUTBugs = 3*time.Second, []string{"no-dedup"}
		s, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for i, c := range f.configs {
			want := cfg.Scenarios[i%2]
			if c.Scenario != want || c.TimeLimit != 3*time.Second || strings.Join(c.SUTBugs, ",") != "no-dedup" || c.Store != cfg.Store {
				t.Errorf("run %d config: scenario %s time limit %s bugs %v store %s; want %s, 3s, no-dedup, %s",
					i+1, c.Scenario, c.TimeLimit, c.SUTBugs, c.Store, want, cfg.Store)
			}
			if c.Seed != s.Runs[i].Seed || c.Seed != RunSeed(42, i+1) || c.Seed <= 0 || c.Seed >= 1<<53 {
				t.Errorf("run %d: seed %d, recorded %d, want RunSeed(42, %d) = %d", i+1, c.Seed, s.Runs[i].Seed, i+1, RunSeed(42, i+1))
			}
			out = append(out, c.Seed)
		}
		return out
	}
	a, b := seeds(), seeds()
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("the same soak seed gave run seeds %v, then %v", a, b)
	}
	distinct := map[int64]bool{}
	for _, s := range a {
		distinct[s] = true
	}
	if len(distinct) != len(a) {
		t.Errorf("run seeds repeat: %v", a)
	}

	// With no seed, one is picked and recorded.
	f := &fakeRuns{verdicts: []checker.Validity{checker.Valid}}
	cfg := testConfig(t, f)
	cfg.Seed, cfg.Runs = 0, 1
	s, err := Run(context.Background(), cfg)
	if err != nil || s.Seed == 0 || s.Runs[0].Seed != RunSeed(s.Seed, 1) {
		t.Errorf("random soak seed: %d, run seed %d, err %v", s.Seed, s.Runs[0].Seed, err)
	}
}

func TestSoakStopsAfterTheCurrentRunWhenAsked(t *testing.T) {
	stop := make(chan struct{})
	f := &fakeRuns{verdicts: []checker.Validity{checker.Valid}, hook: func(n int) {
		if n == 2 {
			close(stop) // Ctrl-C during run 2
		}
	}}
	cfg := testConfig(t, f)
	cfg.Runs, cfg.Stop = 10, stop
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 2 || s.Stopped != "interrupted" || s.ExitCode() != 0 {
		t.Errorf("%d runs, stopped %q, exit %d; want run 2 finished and stored, then stop", len(s.Runs), s.Stopped, s.ExitCode())
	}
}

func TestSoakEndsAtItsDurationOrAfterRepeatedErrors(t *testing.T) {
	f := &fakeRuns{verdicts: []checker.Validity{checker.Valid}}
	cfg := testConfig(t, f)
	cfg.Runs, cfg.Duration = 0, time.Nanosecond // over once the first run ends
	s, err := Run(context.Background(), cfg)
	if err != nil || len(s.Runs) != 1 || s.Stopped != "duration" {
		t.Errorf("duration: %d runs, stopped %q, %v; want 1 run, stopped by duration", len(s.Runs), s.Stopped, err)
	}

	boom := errors.New("boot: port in use")
	f = &fakeRuns{verdicts: []checker.Validity{checker.Unknown}, errs: []error{boom, boom, boom, boom, boom}}
	cfg = testConfig(t, f)
	cfg.Runs = 100
	s, err = Run(context.Background(), cfg)
	if err != nil || len(s.Runs) != maxErrorsInARow || s.Stopped != "errors" || s.ExitCode() != 2 {
		t.Errorf("errors: %d runs, stopped %q, exit %d, %v; want %d runs, stopped by errors, exit 2",
			len(s.Runs), s.Stopped, s.ExitCode(), err, maxErrorsInARow)
	}
}

func TestSoakRejectsConfigsNoRunCanStartFrom(t *testing.T) {
	f := &fakeRuns{verdicts: []checker.Validity{checker.Valid}}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"no end", func(c *Config) { c.Runs, c.Duration = 0, 0 }},
		{"unknown scenario", func(c *Config) { c.Scenarios = []string{"leader-restart", "nope"} }},
		{"negative runs", func(c *Config) { c.Runs = -1 }},
		{"no store", func(c *Config) { c.Store = "" }},
	} {
		cfg := testConfig(t, f)
		tc.mod(&cfg)
		if _, err := Run(context.Background(), cfg); !runner.IsConfigError(err) {
			t.Errorf("%s: error %v, want a ConfigError", tc.name, err)
		}
	}
	if len(f.configs) != 0 {
		t.Errorf("%d runs started from bad configs", len(f.configs))
	}

	// What only a run can tell (a seeded bug no node of the scenario has)
	// ends the soak with a ConfigError and the runs so far in soak.json.
	f = &fakeRuns{verdicts: []checker.Validity{checker.Valid}, errs: []error{nil, &runner.ConfigError{Err: errors.New("no node has it")}}}
	cfg := testConfig(t, f)
	s, err := Run(context.Background(), cfg)
	if !runner.IsConfigError(err) || len(s.Runs) != 1 {
		t.Errorf("config error from run 2: %v, %d runs; want a ConfigError after 1 run", err, len(s.Runs))
	}
	var back Summary
	if b, err := os.ReadFile(filepath.Join(cfg.Store, File)); err != nil || json.Unmarshal(b, &back) != nil || len(back.Runs) != 1 {
		t.Errorf("soak.json after a config error: %d runs, %v", len(back.Runs), err)
	}

	cfg = Config{Scenarios: []string{" all "}, Runs: 1, Store: "s"}
	if cfg, err := cfg.Validate(); err != nil || strings.Join(cfg.Scenarios, ",") != strings.Join(runner.ScenarioNames(), ",") {
		t.Errorf("all: scenarios %v, %v; want every runner scenario", cfg.Scenarios, err)
	}
}

func TestSoakWritesSoakJSONAndJUnitEveryRun(t *testing.T) {
	var cfg Config
	f := &fakeRuns{verdicts: []checker.Validity{checker.Valid, checker.Unknown, checker.Invalid}}
	f.hook = func(n int) {
		if n == 3 { // mid-soak, the files already hold runs 1 and 2
			var s Summary
			b, err := os.ReadFile(cfg.Out)
			if err != nil || json.Unmarshal(b, &s) != nil || len(s.Runs) != 2 || s.Stopped != "running" {
				t.Errorf("soak.json during run 3: %d runs, stopped %q, %v", len(s.Runs), s.Stopped, err)
			}
			if _, err := os.Stat(cfg.JUnit); err != nil {
				t.Errorf("JUnit file during run 3: %v", err)
			}
		}
	}
	cfg = testConfig(t, f)
	cfg.Out = filepath.Join(t.TempDir(), "out", "soak.json")
	cfg.JUnit = filepath.Join(t.TempDir(), "reports", "soak.xml")
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.JUnit)
	if err != nil {
		t.Fatal(err)
	}
	suites := parseJUnit(t, b)
	if suites.Tests != 3 || suites.Failures != 1 || suites.Errors != 1 || len(suites.Suites) != 1 || len(suites.Suites[0].Cases) != 3 {
		t.Fatalf("JUnit: tests %d failures %d errors %d suites %d; want 3, 1, 1 and one suite of 3 testcases", suites.Tests, suites.Failures, suites.Errors, len(suites.Suites))
	}
	for i, c := range suites.Suites[0].Cases {
		r := s.Runs[i]
		if c.Name != fmt.Sprintf("%s seed=%d", r.Scenario, r.Seed) || c.Time != "1.500" || c.Classname != "chaoscheck.soak."+r.Scenario {
			t.Errorf("testcase %d: name %q classname %q time %s", i, c.Name, c.Classname, c.Time)
		}
	}
	valid, unknown, invalid := suites.Suites[0].Cases[0], suites.Suites[0].Cases[1], suites.Suites[0].Cases[2]
	if valid.Failure != nil || valid.Error != nil {
		t.Errorf("valid run has a failure or error: %+v", valid)
	}
	if unknown.Error == nil || unknown.Error.Type != "unknown" || !strings.Contains(unknown.Error.Message, "no final read") {
		t.Errorf("unknown run's <error>: %+v", unknown.Error)
	}
	reproduce := fmt.Sprintf("chaoscheck run --scenario leader-restart --seed %d", s.Runs[2].Seed)
	if fl := invalid.Failure; fl == nil || fl.Type != "invalid" || !strings.Contains(fl.Message, "duplicated") ||
		!strings.Contains(fl.Text, "txid: lost ×1") || !strings.Contains(fl.Text, reproduce) {
		t.Errorf("invalid run's <failure> lacks the verdict, anomalies or %q: %+v", reproduce, fl)
	}
}

func parseJUnit(t *testing.T, b []byte) JUnitSuites {
	t.Helper()
	var suites JUnitSuites
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&suites); err != nil {
		t.Fatalf("JUnit XML does not parse: %v\n%s", err, b)
	}
	return suites
}

// TestSoakMemoryStaysFlat runs a long soak of runs whose results are
// large (thousands of anomalies, as a badly broken SUT gives) and checks
// that the heap grows by no more than the capped summaries: a soak that
// kept each run's results would grow by megabytes a run.
func TestSoakMemoryStaysFlat(t *testing.T) {
	const runs, anomalies = 120, 5000
	var base, end runtime.MemStats
	f := &fakeRuns{verdicts: []checker.Validity{checker.Invalid}}
	run := func(ctx context.Context, cfg runner.Config) (runner.Outcome, error) {
		out, err := f.run(ctx, cfg)
		r := checker.Result{Checker: "set", Valid: checker.Invalid, Anomalies: make([]checker.Anomaly, anomalies)}
		for i := range r.Anomalies {
			r.Anomalies[i] = checker.Anomaly{Kind: fmt.Sprintf("kind-%d", i%40), Ops: []int64{int64(i), int64(i + 1)},
				Detail: strings.Repeat("x", 100)}
		}
		out.Results.Checkers = []checker.Result{r}
		out.Results.Notes = make([]string, 50)
		return out, err
	}
	f.hook = func(n int) {
		switch n {
		case 20:
			runtime.GC()
			runtime.ReadMemStats(&base)
		case runs:
			runtime.GC()
			runtime.ReadMemStats(&end)
		}
	}
	cfg := testConfig(t, f)
	cfg.Run, cfg.Runs, cfg.KeepGoing = run, runs, true
	s, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != runs || len(s.Runs[5].Anomalies) != maxAnomalyLines+1 || len(s.Runs[5].Notes) != maxNoteLines+1 {
		t.Fatalf("%d runs, run 6 keeps %d anomaly lines and %d notes; want %d runs and capped lists",
			len(s.Runs), len(s.Runs[5].Anomalies), len(s.Runs[5].Notes), runs)
	}
	growth := int64(end.HeapAlloc) - int64(base.HeapAlloc)
	perRun := growth / (runs - 20)
	t.Logf("heap %d → %d bytes over %d runs: %d bytes a run", base.HeapAlloc, end.HeapAlloc, runs-20, perRun)
	if perRun > 16<<10 {
		t.Errorf("heap grows %d bytes a run; a run's results are about %d bytes, its summary should be a few KB", perRun, anomalies*150)
	}
}

func TestWriteTableListsRunsAndHowToReproduceFailures(t *testing.T) {
	s := Summary{Valid: checker.Invalid, Stopped: "invalid run", Seed: 9, DurationSec: 70,
		Counts: map[string]int{"valid": 59, "invalid": 1}}
	for i := 1; i <= 60; i++ {
		r := RunSummary{N: i, Scenario: "leader-restart", Seed: int64(1000 + i), Valid: checker.Valid, DurationSec: 6.04, Ops: 216,
			Dir: fmt.Sprintf("/s/set-restart-leader/%03d", i), Reproduce: fmt.Sprintf("chaoscheck run --scenario leader-restart --seed %d", 1000+i)}
		if i == 7 {
			r.Valid, r.Anomalies = checker.Invalid, []string{"set: lost ×2, e.g. ops 3, 4"}
		}
		s.Runs = append(s.Runs, r)
	}
	var b bytes.Buffer
	if err := WriteTable(&b, s, "/s/soak.json"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"#   SCENARIO        SEED  VERDICT  DURATION  OPS  RUN DIR",
		"7   leader-restart  1007  INVALID  6s        216  /s/set-restart-leader/007",
		"60  leader-restart  1060  VALID",
		"(49 valid runs not shown; soak.json lists every run)",
		"60 runs in 1m10s: 59 valid, 1 invalid, 0 unknown; stopped: invalid run; soak seed 9",
		"  set: lost ×2, e.g. ops 3, 4\n  reproduce: chaoscheck run --scenario leader-restart --seed 1007",
		"wrote /s/soak.json",
		"soak verdict: INVALID (exit 1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "/s/set-restart-leader/010") {
		t.Errorf("table shows valid run 10 of 60; past %d rows it keeps the failures and the last %d", maxTableRows, lastRowsKept)
	}
}
