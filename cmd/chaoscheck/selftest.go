package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/selftest"
)

// selftestConfig is what the selftest flags say.
type selftestConfig struct {
	seeds     int
	bugs      []string
	store     string
	jsonOut   bool
	timeLimit time.Duration
	verbose   bool
}

var selftestFlags selftestConfig

var selftestCmd = &cobra.Command{
	Use:   "selftest",
	Short: "Prove the checkers catch real bugs: run every seeded SUT bug, and the correct SUT",
	Long: `Run the embedded system under test with each seeded bug (--sut-bug) under the
scenario that exposes it, once per seed, and the correct system under the
same scenarios and seeds. Every run goes through the same path as
chaoscheck run and is stored under --store.

A bug is caught on a seed when the verdict is invalid with an anomaly of the
kind the bug produces (set lost, txid duplicated, nonlinearizable …). The
table says, per bug, on how many seeds it was caught, the median run time
until the first op such an anomaly names was invoked, whether the correct
system stayed valid, and the chaoscheck run command that reproduces it.

Bugs (--bugs takes these, or a bare bug name for every system that has it):
` + selftestBugHelp() + `
Exit codes: 0 every bug caught (missed on at most 1 seed in 5) and the
correct system always valid, 1 otherwise, 254 bad flags, 255 internal error.`,
	Example: `  chaoscheck selftest
  chaoscheck selftest --seeds 5
  chaoscheck selftest --bugs no-dedup,raft/stale-read --json
  chaoscheck selftest --bugs twopc/one-phase --seeds 3 --store /tmp/selftest`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		opts, err := selftestOptions(selftestFlags)
		if err != nil {
			return badInput(err)
		}
		return runSelftest(cmd, opts, selftestFlags.jsonOut)
	},
}

func init() {
	addSelftestFlags(selftestCmd.Flags(), &selftestFlags)
	rootCmd.AddCommand(selftestCmd)
}

func addSelftestFlags(f *pflag.FlagSet, v *selftestConfig) {
	f.IntVar(&v.seeds, "seeds", 1, "run every bug and the correct system with seeds 1…N")
	f.StringSliceVar(&v.bugs, "bugs", []string{"all"}, "all, or bugs to run: IDs (raft/no-dedup), or bare names one system has (one-phase)")
	f.StringVar(&v.store, "store", "./store/selftest", "directory the runs are stored under")
	f.BoolVar(&v.jsonOut, "json", false, "print the rows as JSON instead of a table")
	f.DurationVar(&v.timeLimit, "time-limit", 0, "replace every scenario's time limit (0: each scenario's own)")
	f.BoolVarP(&v.verbose, "verbose", "v", false, "log every run's phases to stderr")
}

func selftestBugHelp() string {
	var b strings.Builder
	for _, bug := range selftest.Matrix {
		fmt.Fprintf(&b, "  %-28s %s\n", bug.ID, bug.Wrong)
	}
	return b.String()
}

// selftestOptions checks the flags and turns them into selftest.Options.
func selftestOptions(v selftestConfig) (selftest.Options, error) {
	if v.seeds < 1 {
		return selftest.Options{}, fmt.Errorf("--seeds %d: want at least 1", v.seeds)
	}
	if v.timeLimit < 0 {
		return selftest.Options{}, fmt.Errorf("--time-limit %s: want 0 or more", v.timeLimit)
	}
	if v.store == "" {
		return selftest.Options{}, errors.New("--store: want a directory")
	}
	if _, err := selftest.Select(v.bugs); err != nil {
		return selftest.Options{}, err
	}
	opts := selftest.Options{Bugs: v.bugs, Store: v.store, TimeLimit: v.timeLimit}
	for s := int64(1); s <= int64(v.seeds); s++ {
		opts.Seeds = append(opts.Seeds, s)
	}
	return opts, nil
}

// runSelftest runs the matrix, prints it and maps it to the exit code.
func runSelftest(cmd *cobra.Command, opts selftest.Options, jsonOut bool) error {
	// The first signal cuts the run under way short (it is stored) and
	// the table is printed; a second one quits at once.
	ctx, stop := stopOnSignal(cmd)
	defer stop()

	stderr := cmd.ErrOrStderr()
	level := slog.LevelWarn
	if selftestFlags.verbose {
		level = slog.LevelInfo
	}
	opts.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	bugs, _ := selftest.Select(opts.Bugs)
	total := len(opts.Seeds) * (len(bugs) + scenarioCount(bugs))
	n := 0
	opts.Done = func(r selftest.RunResult) {
		n++
		what := r.Bug
		if what == "" {
			what = "correct SUT"
		}
		caught := ""
		if r.Bug != "" && !r.Detected {
			caught = " NOT CAUGHT"
		}
		found := ""
		if len(r.Anomalies) > 0 {
			found = " " + strings.Join(r.Anomalies, ",")
		}
		fmt.Fprintf(stderr, "selftest %d/%d: %s, %s, seed %d: %s%s%s (%s)\n", n, total, what, r.Scenario, r.Seed,
			r.Verdict, found, caught, r.Duration.Round(100*time.Millisecond))
	}

	rows, err := selftest.Run(ctx, opts)
	if runner.IsConfigError(err) {
		return badInput(err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return &exitError{code: exitInternal, err: err}
	}
	out := cmd.OutOrStdout()
	var werr error
	if jsonOut {
		werr = selftest.WriteJSON(out, rows)
	} else {
		werr = selftest.WriteTable(out, rows)
	}
	if werr != nil {
		return &exitError{code: exitInternal, err: werr}
	}
	if err != nil {
		return &exitError{code: exitInvalid, err: fmt.Errorf("selftest interrupted: %w", err)}
	}
	return selftestVerdict(rows)
}

// selftestVerdict is exit 1 unless every row holds the bar: its bug caught
// on all seeds but one in five, the correct system valid on every seed.
func selftestVerdict(rows []selftest.Row) error {
	var failed []string
	for _, r := range rows {
		if !r.OK() {
			failed = append(failed, r.ID)
		}
	}
	if len(failed) > 0 {
		return &exitError{code: exitInvalid, err: fmt.Errorf("selftest failed for %s", strings.Join(failed, ", "))}
	}
	return nil
}

func scenarioCount(bugs []selftest.Bug) int {
	seen := map[string]bool{}
	for _, b := range bugs {
		seen[b.Scenario] = true
	}
	return len(seen)
}
