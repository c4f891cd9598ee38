package selftest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
)

// Options configure Run.
type Options struct {
	// Bugs are the rows to run: row IDs or bug names, as Select takes
	// them; empty for every row.
	Bugs []string
	// Seeds are run for every bug and for the correct system; default 1.
	Seeds []int64
	// Store is the store runs go in, laid out as every store is
	// (store.TestName names a seeded bug's runs apart). Required.
	Store string
	// TimeLimit, when not zero, replaces every scenario's time limit.
	TimeLimit time.Duration
	// Log receives each run's phases (runner.Config.Log); nil: discarded.
	Log *slog.Logger
	// Done, when set, is called after each run with what it found.
	Done func(RunResult)
}

// RunResult is one run of a scenario: with a bug, or of the correct system.
type RunResult struct {
	Bug      string // the row ID; "" for the correct system
	Scenario string
	Seed     int64
	Verdict  checker.Validity
	// Anomalies lists the anomaly kinds found, as "checker:kind".
	Anomalies []string
	// Detected: the verdict is invalid with an anomaly the row expects.
	Detected bool
	// Detection is how far into the run the first op named by an
	// expected anomaly was invoked; DetectionFrom says where it came
	// from: "op", or "run" (no op named: the run's duration).
	Detection     time.Duration
	DetectionFrom string
	Duration      time.Duration // the whole run, boot to results
	Dir           string
	Command       string // reproduces it
	Err           string // chaoscheck's own failure, if any
}

// Row is one bug's result over the seeds.
type Row struct {
	Bug
	Why     string      // the scenario's
	Command string      // reproduces the first seed's run
	Runs    []RunResult // with the bug, one per seed
	Correct []RunResult // the correct system under the same scenario and seeds
}

// Detected counts the seeds on which the bug was caught.
func (r Row) Detected() int {
	n := 0
	for _, run := range r.Runs {
		if run.Detected {
			n++
		}
	}
	return n
}

// CorrectValid counts the correct system's valid runs.
func (r Row) CorrectValid() int {
	n := 0
	for _, run := range r.Correct {
		if run.Verdict == checker.Valid && run.Err == "" {
			n++
		}
	}
	return n
}

// MaxMissed is how many seeds a bug may go unnoticed on: one in five.
func MaxMissed(seeds int) int { return seeds / 5 }

// OK holds a row to the bar: the bug caught on all seeds but at most
// MaxMissed, and the correct system valid on every one.
func (r Row) OK() bool {
	return len(r.Runs) > 0 && len(r.Runs)-r.Detected() <= MaxMissed(len(r.Runs)) && r.CorrectValid() == len(r.Correct)
}

// MedianDetection is the median time to first detection over the seeds
// that caught the bug, and whether every one of them came from an op
// ("op") or some from the run's duration ("run"); 0, "" when none did.
func (r Row) MedianDetection() (time.Duration, string) {
	var ds []time.Duration
	from := "op"
	for _, run := range r.Runs {
		if run.Detected {
			ds = append(ds, run.Detection)
			if run.DetectionFrom != "op" {
				from = "run"
			}
		}
	}
	if len(ds) == 0 {
		return 0, ""
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2], from
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2, from
}

// Run runs every selected bug with every seed, and the correct system
// under each scenario used with the same seeds, one run at a time (runs
// boot real clusters; two at once would contend for the CPU and blur the
// timing every fault depends on). The error is for options no run can
// start from, or a cancelled ctx; chaoscheck's own failure in a run is in
// that run's Err, and counts as not caught (or not valid).
func Run(ctx context.Context, opts Options) ([]Row, error) {
	bugs, err := Select(opts.Bugs)
	if err != nil {
		return nil, err
	}
	if opts.Store == "" {
		return nil, errors.New("selftest: no store directory")
	}
	if err := writableDir(opts.Store); err != nil {
		// Every run would fail the same way: the user's --store, not a
		// bug the matrix missed.
		return nil, &runner.ConfigError{Err: fmt.Errorf("selftest: --store %s: %w", opts.Store, err)}
	}
	seeds := opts.Seeds
	if len(seeds) == 0 {
		seeds = []int64{1}
	}
	for _, s := range seeds {
		if s == 0 {
			return nil, errors.New("selftest: seed 0 would pick a random seed; give seeds ≥ 1")
		}
	}
	rows := make([]Row, len(bugs))
	var scenarios []string
	for i, b := range bugs {
		sc, ok := ScenarioNamed(b.Scenario)
		if !ok {
			return nil, fmt.Errorf("selftest: bug %s names unknown scenario %q", b.ID, b.Scenario)
		}
		rows[i] = Row{Bug: b, Why: sc.Why, Command: opts.config(sc, b, seeds[0], "").Command()}
		if !slices.Contains(scenarios, b.Scenario) {
			scenarios = append(scenarios, b.Scenario)
		}
	}

	// Seed by seed, so a cut-short selftest has every row on the first
	// seeds rather than some rows on all of them.
	for _, seed := range seeds {
		for _, name := range scenarios {
			sc, _ := ScenarioNamed(name)
			if err := ctx.Err(); err != nil {
				return rows, err
			}
			correct := opts.run(ctx, sc, Bug{}, seed)
			for i := range rows {
				if rows[i].Scenario == name {
					rows[i].Correct = append(rows[i].Correct, correct)
				}
			}
			for i := range rows {
				if rows[i].Scenario != name {
					continue
				}
				if err := ctx.Err(); err != nil {
					return rows, err
				}
				rows[i].Runs = append(rows[i].Runs, opts.run(ctx, sc, rows[i].Bug, seed))
			}
		}
	}
	return rows, nil
}

// config is the run configuration of bug (zero: the correct system)
// under sc with seed, stored under dir.
func (o Options) config(sc Scenario, bug Bug, seed int64, dir string) runner.Config {
	c := sc.Config(seed, dir)
	if o.TimeLimit > 0 {
		c.TimeLimit = o.TimeLimit
	}
	if bug.ID != "" {
		c.SUTBugs = []string{bug.ID}
	}
	c.Log = o.Log
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// run performs one run and judges it against bug's expectations.
func (o Options) run(ctx context.Context, sc Scenario, bug Bug, seed int64) RunResult {
	// The store's one layout (store.TestName): a run with a seeded bug
	// goes under <workload>-<nemesis>-sut-bug-<system>_<bug>, so serve,
	// analyze and latest read a selftest store as any other.
	cfg := o.config(sc, bug, seed, o.Store)
	r := RunResult{Bug: bug.ID, Scenario: sc.Name, Seed: seed, Command: cfg.Command()}
	start := time.Now()
	out, err := runner.Run(ctx, cfg)
	r.Duration = time.Since(start)
	r.Dir, r.Verdict = out.Dir, out.Results.Valid
	if err != nil {
		r.Err = err.Error()
	}
	r.Anomalies = anomalyKinds(out.Results.Checkers)
	if bug.ID != "" && r.Verdict == checker.Invalid {
		r.judge(bug, out.Results)
	}
	if o.Done != nil {
		o.Done(r)
	}
	return r
}

// judge sets Detected and the time to first detection.
func (r *RunResult) judge(bug Bug, res store.Results) {
	var first int64 = -1
	for _, c := range res.Checkers {
		for _, a := range c.Anomalies {
			if !slices.Contains(bug.Expect, c.Checker+":"+a.Kind) {
				continue
			}
			r.Detected = true
			for _, i := range a.Ops {
				if first < 0 || i < first {
					first = i
				}
			}
		}
	}
	if !r.Detected {
		return
	}
	r.Detection, r.DetectionFrom = time.Duration(res.DurationSec*float64(time.Second)), "run"
	if first < 0 || res.History == "" {
		return
	}
	if t, ok := opTime(res.History, first); ok {
		r.Detection, r.DetectionFrom = t, "op"
	}
}

// opTime is when op index was recorded, since the run began.
func opTime(path string, index int64) (time.Duration, bool) {
	h, _, err := history.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := sort.Search(len(h), func(i int) bool { return h[i].Index >= index })
	if i == len(h) || h[i].Index != index {
		return 0, false
	}
	return time.Duration(h[i].Time), true
}

// anomalyKinds lists the distinct "checker:kind" of every anomaly found.
func anomalyKinds(results []checker.Result) []string {
	var kinds []string
	for _, c := range results {
		for _, k := range c.AnomalyKinds() {
			if s := c.Checker + ":" + k; !slices.Contains(kinds, s) {
				kinds = append(kinds, s)
			}
		}
	}
	return kinds
}

// writableDir makes dir if needed and checks a directory can be made in
// it, as each run will.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	probe, err := os.MkdirTemp(dir, ".probe-")
	if err != nil {
		return err
	}
	return os.Remove(probe)
}
