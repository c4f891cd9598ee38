package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/soak"
)

var soakFlags soak.Config

var soakVerbose bool

var soakCmd = &cobra.Command{
	Use:   "soak",
	Short: "Run scenarios again and again with fresh seeds (nightly soak), with soak.json and JUnit XML",
	Long: `Run the scenarios in turn, each run with a new seed, until --duration has
passed or --runs have run, and stop at the first invalid run unless
--keep-going. Every run is a normal stored run under --store (config.json,
history.jsonl, results.json, report.html); each run's seed derives from the
soak's --seed (random when not given, and recorded), so a soak replays.

Scenarios (--scenarios all, or a comma list):
` + scenarioHelp() + `
As it goes, the soak writes soak.json (in the store, replacing the last
soak's, or --out): every run's
scenario, seed, verdict, duration, ops, run directory, anomalies and the
command that reproduces it. --junit FILE writes the same as JUnit XML, one
testcase per run named "<scenario> seed=<seed>": an invalid run is a
<failure> carrying its anomalies and the reproduce command, an unknown run
an <error>. At the end a table lists the runs.

--duration stops starting runs once it has passed; the run under way
finishes. Memory stays flat: each run's history is checked and released,
and the soak keeps only a short summary per run.

Ctrl-C (or SIGTERM) stops after the current run is stored; a second
interrupts the current run (what it recorded is still checked and stored);
a third quits at once.

Exit codes: 0 every run valid, 1 a run was invalid, 2 a run was unknown and
none invalid, 254 bad flags, 255 soak.json or the JUnit file could not be
written.`,
	Example: `  chaoscheck soak --duration 8h --junit soak.xml
  chaoscheck soak --runs 20 --scenarios leader-restart,retry-idempotent --keep-going
  chaoscheck soak --runs 2 --time-limit 5s --seed 42 --store /tmp/soak
  chaoscheck soak --runs 3 --scenarios retry-idempotent --sut-bug no-dedup   # self-test: must exit 1`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		return runSoak(cmd, soakFlags)
	},
}

func init() {
	f := soakCmd.Flags()
	d := runner.Defaults()
	f.DurationVar(&soakFlags.Duration, "duration", 0, "start no run after this long, e.g. 8h (give --duration, --runs or both)")
	f.IntVar(&soakFlags.Runs, "runs", 0, "stop after this many runs")
	f.StringSliceVar(&soakFlags.Scenarios, "scenarios", []string{"all"}, "scenarios to run in turn: all, or a comma list of "+strings.Join(runner.ScenarioNames(), ", "))
	f.Int64Var(&soakFlags.Seed, "seed", 0, "seed every run's seed derives from; 0 picks one (recorded in soak.json)")
	f.DurationVar(&soakFlags.TimeLimit, "time-limit", 0, "each run's load duration (default: the scenario's)")
	f.DurationVar(&soakFlags.CheckTimeout, "check-timeout", 0, fmt.Sprintf("each run's time limit for the checkers (default %s)", d.CheckTimeout))
	f.StringSliceVar(&soakFlags.SUTBugs, "sut-bug", nil, "self-test: start every node with this deliberate bug (repeatable); every scenario must boot a node that has it")
	f.StringVar(&soakFlags.Store, "store", "./"+d.Store, "directory the runs are stored under")
	f.BoolVar(&soakFlags.KeepGoing, "keep-going", false, "go on after an invalid run")
	f.StringVar(&soakFlags.Out, "out", "", "where to write soak.json (default: <store>/soak.json)")
	f.StringVar(&soakFlags.JUnit, "junit", "", "also write JUnit XML here, for CI")
	f.BoolVarP(&soakVerbose, "verbose", "v", false, "log every run's phases, not only its warnings")
	rootCmd.AddCommand(soakCmd)
}

func runSoak(cmd *cobra.Command, cfg soak.Config) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	defer close(done)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)
	stderr := cmd.ErrOrStderr()
	go func() {
		for i := 0; ; i++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			switch i {
			case 0:
				fmt.Fprintln(stderr, "soak: stopping after the current run is stored (Ctrl-C again to interrupt it)")
				close(stop)
			default:
				fmt.Fprintln(stderr, "soak: interrupting the current run; what it recorded is checked and stored (Ctrl-C again to quit at once)")
				cancel()
				signal.Stop(sigs) // the next Ctrl-C has its default effect
				return
			}
		}
	}()

	level := slog.LevelWarn
	if soakVerbose {
		level = slog.LevelInfo
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Progress = stderr
	cfg.Stop = stop
	cfg.Version = version
	s, err := soak.Run(ctx, cfg)
	if runner.IsConfigError(err) && len(s.Runs) == 0 {
		return badInput(err)
	}
	if len(s.Runs) > 0 {
		files := []string{filepath.Join(s.Store, soak.File)}
		if cfg.Out != "" {
			files[0] = cfg.Out
		}
		if cfg.JUnit != "" {
			files = append(files, cfg.JUnit)
		}
		fmt.Fprintln(cmd.OutOrStdout())
		if werr := soak.WriteTable(cmd.OutOrStdout(), s, files...); werr != nil && err == nil {
			err = werr
		}
	}
	if runner.IsConfigError(err) {
		return badInput(err)
	}
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	if code := s.ExitCode(); code != exitValid {
		return &exitError{code: code}
	}
	return nil
}
