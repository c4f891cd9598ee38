package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/chaoscheck/chaoscheck/runner"
)

// parseRunFlags parses args with a fresh copy of run's flags.
func parseRunFlags(t *testing.T, args ...string) (runner.Config, error) {
	t.Helper()
	f := pflag.NewFlagSet("run", pflag.ContinueOnError)
	var v runner.Config
	var scenario string
	addRunFlags(f, &v, &scenario)
	if err := f.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return runConfig(f, &v, scenario)
}

func TestRunFlagsOverrideTheScenarioPreset(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want func(runner.Config) bool
	}{
		{"no flags: defaults", nil, func(c runner.Config) bool {
			return c.Workload == runner.DefaultWorkload && c.Nemesis == runner.DefaultNemesis && c.TimeLimit == runner.DefaultTimeLimit && c.Seed == 0
		}},
		{"scenario alone", []string{"--scenario", "prepare-commit-alternate"}, func(c runner.Config) bool {
			return c.Workload == "bank" && c.Nemesis == "alternate-kill" && c.Rounds == 4 && c.TimeLimit == 0
		}},
		{"explicit rounds win over the preset", []string{"-s", "prepare-commit-alternate", "--rounds", "6", "--pause-before-commit", "1s"}, func(c runner.Config) bool {
			return c.Rounds == 6 && c.PauseBeforeCommit == time.Second && c.Workload == "bank"
		}},
		{"--rounds alone: the load lasts until the rounds are done", []string{"--target", "twopc-postgres", "--workload", "bank", "--nemesis", "alternate-kill", "--rounds", "4"}, func(c runner.Config) bool {
			return c.Rounds == 4 && c.TimeLimit == 0
		}},
		{"--rounds with --time-limit: both bound the run", []string{"--nemesis", "kill", "--rounds", "4", "--time-limit", "9s"}, func(c runner.Config) bool {
			return c.Rounds == 4 && c.TimeLimit == 9*time.Second
		}},
		{"explicit time limit keeps the preset's interval", []string{"--scenario", "leader-restart", "--time-limit", "5s"}, func(c runner.Config) bool {
			return c.TimeLimit == 5*time.Second && c.NemesisInterval == 2*time.Second && c.Workload == "set"
		}},
		{"a workload gets its own nemesis", []string{"--workload", "bank"}, func(c runner.Config) bool {
			return c.Nemesis == "alternate-kill" && c.Target == "twopc"
		}},
		{"the mission's command: the workload follows the nemesis", []string{"--nemesis", "alternate-kill"}, func(c runner.Config) bool {
			return c.Workload == "bank" && c.Target == "twopc"
		}},
		{"a target alone gets its first workload", []string{"--target", "twopc"}, func(c runner.Config) bool {
			return c.Workload == "bank" && c.Nemesis == "alternate-kill"
		}},
		{"an explicit nemesis wins", []string{"--nemesis", "kill,pause", "--workload", "set"}, func(c runner.Config) bool {
			return c.Nemesis == "kill,pause" && c.Workload == "set"
		}},
		{"a scenario's nemesis stays when only the workload changes", []string{"-s", "leader-restart", "-w", "register"}, func(c runner.Config) bool {
			return c.Nemesis == "restart-leader" && c.Workload == "register"
		}},
		{"postgres list-append runs at the target's rate, so transactions overlap", []string{"--target", "postgres", "--workload", "list-append"}, func(c runner.Config) bool {
			return c.Rate == 1000 && c.Nemesis == "kill"
		}},
		{"an explicit rate wins over the target's", []string{"--target", "postgres", "--workload", "rw-register", "--rate", "50"}, func(c runner.Config) bool {
			return c.Rate == 50
		}},
		{"the target's other workloads keep the default rate", []string{"--target", "postgres", "--workload", "bank"}, func(c runner.Config) bool {
			return c.Rate == runner.DefaultRate
		}},
		{"list-append elsewhere keeps the default rate", []string{"--target", "raft", "--workload", "list-append"}, func(c runner.Config) bool {
			return c.Rate == runner.DefaultRate
		}},
		{"every other flag", []string{"--concurrency", "9", "--rate", "0", "--keys", "2", "--seed", "42", "--nemesis-interval", "700ms",
			"--store", "/tmp/s", "--op-timeout", "3s", "--check-timeout", "9s", "--nodes", "5", "--sut-bug", "no-dedup", "--sut-bug", "one-phase", "--workload", "bank"},
			func(c runner.Config) bool {
				return c.Concurrency == 9 && c.Rate == 0 && c.Keys == 2 && c.Seed == 42 && c.NemesisInterval == 700*time.Millisecond &&
					c.Store == "/tmp/s" && c.OpTimeout == 3*time.Second && c.CheckTimeout == 9*time.Second && c.NodeCount == 5 &&
					strings.Join(c.SUTBugs, ",") == "no-dedup,one-phase"
			}},
	} {
		c, err := parseRunFlags(t, tc.args...)
		// Workloads and nemeses register themselves as they are built;
		// only the merging is under test here.
		if err != nil && !strings.Contains(err.Error(), "unknown workload") && !strings.Contains(err.Error(), "unknown nemesis") {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !tc.want(c) {
			t.Errorf("%s: config %+v", tc.name, c)
		}
	}
}

// resetRunFlags undoes what an earlier run([]string{"run", …}) parsed:
// cobra keeps flag values between Executes.
func resetRunFlags(t *testing.T) {
	t.Helper()
	runCmd.Flags().VisitAll(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			sv.Replace(nil)
		} else if err := f.Value.Set(f.DefValue); err != nil {
			t.Fatalf("reset --%s: %v", f.Name, err)
		}
		f.Changed = false
	})
}

func TestRunFlagErrorsAreBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--scenario", "nope"},
		{"run", "--time-limit", "soon"},
		{"run", "--workload", "bank", "--target", "raft"},
		{"run", "--workload", "register", "--nemesis", "alternate-kill"},
		{"run", "--sut-bug", "raft/one-phase"},
		{"run", "--concurrency", "0"},
		{"run", "extra-arg"},
		{"run", "--target", "raft", "--snapshot-interval", "often", "--store", t.TempDir()},
		{"run", "--target", "raft", "--snapshot-interval", "-5", "--store", t.TempDir()},
		{"run", "--target", "etcd", "--snapshot-interval", "5", "--store", t.TempDir()},
	} {
		resetRunFlags(t)
		if code := run(args); code != exitBadInput {
			t.Errorf("chaoscheck %s: exit %d, want %d", strings.Join(args, " "), code, exitBadInput)
		}
	}
}

func TestRunHelpListsWorkloadsNemesesAndScenarios(t *testing.T) {
	var b bytes.Buffer
	rootCmd.SetOut(&b)
	defer rootCmd.SetOut(nil)
	resetRunFlags(t)
	if code := run([]string{"run", "--help"}); code != exitValid {
		t.Fatalf("run --help: exit %d", code)
	}
	for _, want := range []string{"register", "bank", "retry", "restart-leader", "alternate-kill", "duplicate-retry",
		"leader-restart", "prepare-commit-alternate", "retry-idempotent", "chaoscheck run --scenario", "--sut-bug", "Exit codes",
		// Every workload and nemesis is described, not only the first
		// phase's, and the seeded bugs of every target are listed.
		"  list-append, rw-register\n", "  partition-coordinator\n", "  slow-network ", "  deposed-leader ", "twopc-postgres/no-prepare"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("run --help lacks %q", want)
		}
	}
}
