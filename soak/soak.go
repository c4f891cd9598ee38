package soak

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/store"
)

// File is soak.json's name in the store when no other path is given.
const File = "soak.json"

// maxErrorsInARow stops a soak whose runs keep failing to run (the SUT
// will not boot, the disk is full): more runs would only add empty run
// directories.
const maxErrorsInARow = 3

// Caps on a run's summary, so that a long soak's memory and soak.json
// stay small; the run's results.json holds everything.
const (
	maxAnomalyLines = 10
	maxNoteLines    = 5
	maxLineRunes    = 240
)

// RunFunc performs one run: runner.Run, or a stand-in in tests.
type RunFunc func(ctx context.Context, cfg runner.Config) (runner.Outcome, error)

// Config is one soak's configuration.
type Config struct {
	Scenarios []string      // runner scenario names, run in turn
	Runs      int           // stop after this many runs; 0: no count
	Duration  time.Duration // start no run after this long; 0: no limit
	// Seed derives every run's seed; 0: pick one at random (recorded in
	// soak.json, so the same soak can be replayed).
	Seed int64
	// TimeLimit overrides each scenario's load duration; 0 keeps it.
	TimeLimit time.Duration
	// CheckTimeout overrides the checkers' time limit; 0 keeps the default.
	CheckTimeout time.Duration
	SUTBugs      []string // passed to every run: the soak as a self-test
	Store        string
	KeepGoing    bool   // do not stop at the first invalid run
	Out          string // soak.json; "": <Store>/soak.json
	JUnit        string // JUnit XML file; "": none
	Version      string

	// Progress receives a line per finished run; nil: none.
	Progress io.Writer `json:"-"`
	// Log is each run's log; nil: slog.Default().
	Log *slog.Logger `json:"-"`
	// Stop, when closed, ends the soak after the current run is stored
	// (Ctrl-C). Cancelling Run's ctx instead interrupts the current run;
	// the runner still stores what it recorded.
	Stop <-chan struct{} `json:"-"`
	// Run performs each run; nil: runner.Run.
	Run RunFunc `json:"-"`
}

// Summary is soak.json.
type Summary struct {
	// Valid is the soak's verdict: invalid if any run was, else unknown
	// if any run was (or failed to run), else valid.
	Valid       checker.Validity `json:"valid"`
	Start       time.Time        `json:"start"`
	End         time.Time        `json:"end"`
	DurationSec float64          `json:"duration_sec"`
	Seed        int64            `json:"seed"`
	Scenarios   []string         `json:"scenarios"`
	TimeLimit   string           `json:"time_limit,omitempty"`
	SUTBugs     []string         `json:"sut_bugs,omitempty"`
	KeepGoing   bool             `json:"keep_going,omitempty"`
	Store       string           `json:"store"`
	Version     string           `json:"chaoscheck_version,omitempty"`
	// Stopped says why the soak ended: "runs", "duration", "invalid run",
	// "interrupted", "errors" (runs kept failing to run), "bad
	// configuration" (a run refused its config), or "running" while it
	// goes on.
	Stopped string         `json:"stopped"`
	Counts  map[string]int `json:"counts"` // runs by verdict
	Runs    []RunSummary   `json:"runs"`
}

// RunSummary is what a soak keeps of one run.
type RunSummary struct {
	N           int              `json:"n"` // from 1
	Scenario    string           `json:"scenario"`
	Seed        int64            `json:"seed"`
	Valid       checker.Validity `json:"valid"`
	Start       time.Time        `json:"start"`
	DurationSec float64          `json:"duration_sec"`
	Ops         int              `json:"ops"`
	Dir         string           `json:"dir,omitempty"`
	Interrupted bool             `json:"interrupted,omitempty"`
	// Anomalies lists, per checker that found any, each kind with its
	// count and first occurrence (capped).
	Anomalies []string `json:"anomalies,omitempty"`
	// Notes are why a verdict is unknown: the runner's notes and those of
	// checkers that did not say valid (capped).
	Notes []string `json:"notes,omitempty"`
	// Error is chaoscheck's own failure to run (the verdict is unknown).
	Error string `json:"error,omitempty"`
	// Reproduce is the command that reruns this run alone.
	Reproduce string `json:"reproduce"`
}

// Name is the run's testcase name: scenario and seed.
func (r RunSummary) Name() string { return fmt.Sprintf("%s seed=%d", r.Scenario, r.Seed) }

// ExitCode is the soak's exit code: 1 if any run was invalid, 2 if any
// was unknown and none invalid, 0 otherwise.
func (s Summary) ExitCode() int { return report.ExitCode(s.Valid) }

// Validate checks c and resolves "all" and empty scenario lists.
func (c Config) Validate() (Config, error) {
	var errs []error
	if c.Runs < 0 || c.Duration < 0 {
		errs = append(errs, fmt.Errorf("runs %d, duration %s: want neither negative", c.Runs, c.Duration))
	}
	if c.Runs == 0 && c.Duration == 0 {
		errs = append(errs, errors.New("no end: give a duration or a number of runs"))
	}
	if c.TimeLimit < 0 || c.CheckTimeout < 0 {
		errs = append(errs, errors.New("time limit and check timeout must not be negative"))
	}
	if c.Store == "" {
		errs = append(errs, errors.New("no store directory"))
	}
	var names []string
	for _, s := range c.Scenarios {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	c.Scenarios = names
	if len(c.Scenarios) == 0 || len(c.Scenarios) == 1 && c.Scenarios[0] == "all" {
		c.Scenarios = runner.ScenarioNames()
	}
	for _, s := range c.Scenarios {
		cfg, err := c.runConfig(s, 1)
		if err == nil {
			err = cfg.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("scenario %s: %w", s, err))
		}
	}
	if len(errs) > 0 {
		return c, &runner.ConfigError{Err: errors.Join(errs...)}
	}
	if c.Out == "" {
		c.Out = filepath.Join(c.Store, File)
	}
	return c, nil
}

// runConfig is the runner config of one run of scenario with seed.
func (c Config) runConfig(scenario string, seed int64) (runner.Config, error) {
	cfg, err := runner.NewConfig(scenario)
	if err != nil {
		return cfg, err
	}
	cfg.Seed = seed
	cfg.Store = c.Store
	cfg.Version = c.Version
	cfg.Log = c.Log
	if c.TimeLimit > 0 {
		cfg.TimeLimit = c.TimeLimit
	}
	if c.CheckTimeout > 0 {
		cfg.CheckTimeout = c.CheckTimeout
	}
	cfg.SUTBugs = slices.Clone(c.SUTBugs)
	return cfg, nil
}

// RunSeed is the seed of the soak's n-th run (from 1): derived from the
// soak's seed, so one recorded seed replays the whole soak, and below
// 2^53 like the runner's own seeds, so JSON readers keep it exact.
func RunSeed(soakSeed int64, n int) int64 {
	s := runner.DeriveSeed(soakSeed, "soak-run-"+strconv.Itoa(n)) & (1<<53 - 1)
	if s == 0 {
		s = 1 // 0 asks the runner for a random seed
	}
	return s
}

// Run soaks as cfg says and returns the summary it wrote. The error is a
// *runner.ConfigError for a config no run can start from, or a failure
// to write soak.json or the JUnit file; run verdicts are in the summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	cfg, err := cfg.Validate()
	if err != nil {
		return Summary{}, err
	}
	run := cfg.Run
	if run == nil {
		run = runner.Run
	}
	if cfg.Seed == 0 {
		cfg.Seed = randomSeed()
	}
	s := Summary{Valid: checker.Valid, Start: time.Now(), Seed: cfg.Seed, Scenarios: cfg.Scenarios,
		SUTBugs: cfg.SUTBugs, KeepGoing: cfg.KeepGoing, Store: cfg.Store, Version: cfg.Version,
		Stopped: "running", Counts: map[string]int{"valid": 0, "invalid": 0, "unknown": 0}}
	if abs, err := filepath.Abs(cfg.Store); err == nil {
		s.Store = abs
	}
	if cfg.TimeLimit > 0 {
		s.TimeLimit = cfg.TimeLimit.String()
	}

	errorsInARow := 0
	for n := 1; ; n++ {
		scenario := cfg.Scenarios[(n-1)%len(cfg.Scenarios)]
		seed := RunSeed(cfg.Seed, n)
		rcfg, err := cfg.runConfig(scenario, seed)
		if err != nil {
			return s, err
		}
		out, runErr := run(ctx, rcfg)
		if runner.IsConfigError(runErr) {
			// Names and numbers were checked up front; this is what only a
			// run can tell (a seeded bug no node of the scenario has).
			err := fmt.Errorf("scenario %s: %w", scenario, runErr)
			if len(s.Runs) == 0 {
				return s, err // nothing ran: leave the last soak's files be
			}
			s.Stopped = "bad configuration"
			return s, errors.Join(err, writeFiles(&s, cfg))
		}
		// Only rs outlives this iteration: the run's history went with
		// the runner, and its results (maybe large) go with out.
		rs := summarize(n, scenario, seed, out, runErr, rcfg.Command())
		s.Runs = append(s.Runs, rs)
		s.Counts[rs.Valid.String()]++
		s.Valid = checker.Merge(s.Valid, rs.Valid)
		if cfg.Progress != nil {
			fmt.Fprintln(cfg.Progress, progressLine(rs))
		}
		if rs.Error != "" {
			errorsInARow++
		} else {
			errorsInARow = 0
		}

		switch {
		case rs.Valid == checker.Invalid && !cfg.KeepGoing:
			s.Stopped = "invalid run"
		case ctx.Err() != nil || closed(cfg.Stop):
			s.Stopped = "interrupted"
		case errorsInARow >= maxErrorsInARow:
			s.Stopped = "errors"
		case cfg.Runs > 0 && n >= cfg.Runs:
			s.Stopped = "runs"
		case cfg.Duration > 0 && time.Since(s.Start) >= cfg.Duration:
			s.Stopped = "duration"
		}
		if s.Stopped != "running" {
			return s, writeFiles(&s, cfg)
		}
		// Written after every run, so a soak that dies (the machine
		// reboots mid-night) still leaves what it found.
		if err := writeFiles(&s, cfg); err != nil {
			return s, err
		}
	}
}

// writeFiles stamps the end so far and writes soak.json and the JUnit file.
func writeFiles(s *Summary, cfg Config) error {
	s.End = time.Now()
	s.DurationSec = s.End.Sub(s.Start).Seconds()
	if len(s.Runs) == 0 {
		s.Valid = checker.Unknown // nothing ran: nothing passed
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	errs := []error{store.WriteJSON(cfg.Out, s)}
	if cfg.JUnit != "" {
		errs = append(errs, WriteJUnitFile(cfg.JUnit, *s))
	}
	return errors.Join(errs...)
}

func closed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// summarize keeps what the soak needs of one run, with every list capped
// and every string its own copy, so nothing of the run's results stays
// reachable.
func summarize(n int, scenario string, seed int64, out runner.Outcome, runErr error, reproduce string) RunSummary {
	r := out.Results
	rs := RunSummary{N: n, Scenario: scenario, Seed: seed, Valid: r.Valid, Start: r.Start, DurationSec: r.DurationSec,
		Ops: r.Ops, Dir: out.Dir, Interrupted: r.Interrupted, Reproduce: reproduce}
	if out.Config.Seed != 0 && out.Config.Seed != seed {
		rs.Seed = out.Config.Seed // never happens with runner.Run; a recorded seed is the truth
	}
	if runErr != nil {
		rs.Error = line(runErr.Error())
		rs.Valid = checker.Merge(rs.Valid, checker.Unknown)
	}
	if rs.Start.IsZero() {
		rs.Start = time.Now()
	}
	for _, c := range r.Checkers {
		for _, k := range c.AnomalyKinds() {
			if len(rs.Anomalies) == maxAnomalyLines {
				rs.Anomalies = append(rs.Anomalies, "… more in results.json")
				break
			}
			rs.Anomalies = append(rs.Anomalies, anomalyLine(c, k))
		}
		if len(rs.Anomalies) > maxAnomalyLines {
			break
		}
	}
	notes := slices.Clone(r.Notes)
	for _, c := range r.Checkers {
		if c.Valid != checker.Valid {
			for _, n := range c.Notes {
				notes = append(notes, c.Checker+": "+n)
			}
		}
	}
	for i, n := range notes {
		if i == maxNoteLines {
			rs.Notes = append(rs.Notes, fmt.Sprintf("… and %d more notes", len(notes)-i))
			break
		}
		rs.Notes = append(rs.Notes, line(n))
	}
	return rs
}

// anomalyLine is "checker: kind ×count, e.g. key ops 1, 2: detail".
func anomalyLine(c checker.Result, kind string) string {
	count := checker.CountKind(c.Anomalies, kind)
	a := c.Anomalies[slices.IndexFunc(c.Anomalies, func(a checker.Anomaly) bool { return a.Kind == kind })]
	s := fmt.Sprintf("%s: %s ×%d, e.g.", c.Checker, kind, count)
	if a.Key != "" {
		s += " " + a.Key
	}
	if len(a.Ops) > 0 {
		s += " ops " + report.OpList(a.Ops, 8)
	}
	if a.Detail != "" {
		s += ": " + a.Detail
	}
	return line(s)
}

// line makes s one line of at most maxLineRunes runes, in fresh memory.
func line(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > maxLineRunes {
		return string(r[:maxLineRunes-1]) + "…"
	}
	return strings.Clone(s)
}

func progressLine(r RunSummary) string {
	s := fmt.Sprintf("run %d: %s %s in %s, %d ops, %s", r.N, r.Name(), strings.ToUpper(r.Valid.String()),
		seconds(r.DurationSec), r.Ops, r.Dir)
	if r.Error != "" {
		s += " — error: " + r.Error
	}
	return s
}

func seconds(sec float64) string {
	return time.Duration(sec * float64(time.Second)).Round(100 * time.Millisecond).String()
}

// randomSeed picks a soak seed below 2^53, as the runner picks run seeds.
func randomSeed() int64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return time.Now().UnixNano() & (1<<53 - 1)
		}
		if s := int64(binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1)); s != 0 {
			return s
		}
	}
}
