package main

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/sut/bugs"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

var runCmd = &cobra.Command{
	Use:   "run",
	Short: "Run a test: drive a cluster under faults, check the history, store the run",
	Long: `Boot a target (a cluster of local node processes: the embedded Raft store or
2PC system by default, or a real system such as etcd), drive it with a
workload while a nemesis injects faults, heal, read the final state, check
the history, and store everything under --store:

  store/<workload>-<nemesis>/<start time>/  config.json history.jsonl
      results.json linear.html nodes/<node>/node.log
  store/latest -> the newest run

With no flags: the register workload on the embedded Raft store under
restart-leader for 20s. Name any of --target, --workload and --nemesis and the
others follow: the first embedded target that has the workload and can take
the nemesis, its first workload, the workload's natural nemesis.

Targets:
` + targetHelp() + `
Workloads (which target has which: the table above):
  register  read, write, cas on --keys keys; linearizable (porcupine, per key)
  set       unique adds, then a final read-all; nothing acknowledged is lost
  bank      transfers between accounts on 2PC participants; money is conserved, every tx_id applied once
  retry     client-chosen tx_ids resubmitted after timeouts and as concurrent duplicates
            (on twopc transfers, on raft inserts); every tx_id applied exactly once
  register-per-node
            register with each client bound to one replica (Jepsen's way), so a
            replica serving stale reads is seen
  list-append, rw-register
            Elle's transactions of appends (writes) and reads over --keys active keys,
            judged against --consistency-models (default strict-serializable)

Nemeses (combine with commas, e.g. restart-leader,pause):
  none             no faults
  restart-leader   SIGKILL the leader (Raft, etcd), then restart it on its data dir
  kill             SIGKILL a random node; restart it at the next action
  pause            SIGSTOP a node (the leader half the time); SIGCONT it at the next action
  alternate-kill   hold the 2PC coordinator in its commit window (--pause-before-commit)
                   and SIGKILL a participant there, p1 and p2 in turn
  duplicate-retry  a proxy on the client path duplicates requests and drops responses
  kill-all         SIGKILL every node at once (a power cut), then start them all again
  lag-follower     stall a Raft follower's apply step, then let it catch up
  restart-coordinator
                   SIGKILL the 2PC coordinator and restart it at once
  coordinator-crash
                   kill a participant between prepare and commit, then the coordinator
                   in its commit window
  partition        cut node-to-node links in a shape that fits the cluster; also
                   partition-halves, -one, -ring, -bridge, -one-way, partition-leader
  deposed-leader   isolate the leader and freeze it until another is elected, thaw it still cut off
  partition-coordinator
                   cut the 2PC coordinator from one participant inside the commit window
  slow-network     delay every node-to-node link 100 ms ± 50 ms
Without --nemesis, a workload gets its natural one when the target can take
it: register and set restart-leader, bank alternate-kill, retry duplicate-retry;
else restart-leader, kill or none, the first that fits (list-append on
postgres: kill).

Scenarios (presets; flags given explicitly override them):
` + scenarioHelp() + `
--time-limit is how long the load runs. --rounds N alone runs until the
nemesis has done N actions; with --rounds and --time-limit both, the nemesis
stops after N actions or when the time is up, whichever comes first. --seed fixes every random choice (op mix, keys, nemesis
targets and timing); it is printed and recorded in config.json, so a rerun
with the same seed replays the same schedule.

Ctrl-C stops the load and kills the nodes; what was recorded is still checked
and stored (a second Ctrl-C quits at once).

Exit codes: 0 valid, 1 invalid, 2 unknown (cut short, no final read, a checker
ran out of time), 254 bad flags, 255 internal error.`,
	Example: `  chaoscheck run
  chaoscheck run --scenario prepare-commit-alternate
  chaoscheck run --scenario leader-restart --seed 42
  chaoscheck run --scenario retry-idempotent --time-limit 1m
  chaoscheck run --workload bank --nemesis alternate-kill --rounds 6 --time-limit 0
  chaoscheck run --workload register --nemesis restart-leader,pause --concurrency 10 --rate 200 --keys 3
  chaoscheck run --workload retry --target raft --nemesis duplicate-retry,kill
  chaoscheck run --nemesis alternate-kill
  chaoscheck analyze store/latest`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := runConfig(cmd.Flags(), &runFlags, runScenario)
		if err != nil {
			return badInput(err)
		}
		return runRun(cmd, cfg)
	},
}

// runFlags holds the flag values; runConfig copies only those the user
// set onto the scenario's preset, so explicit flags win and the rest come
// from the scenario (or the defaults).
var runFlags runner.Config

var runScenario string

func init() {
	addRunFlags(runCmd.Flags(), &runFlags, &runScenario)
	addTargetFlags(runCmd.Flags())
	rootCmd.AddCommand(runCmd)
}

// addRunFlags defines run's flags on f, storing into v and scenario.
func addRunFlags(f *pflag.FlagSet, v *runner.Config, scenario *string) {
	d := runner.Defaults()
	f.StringVarP(&v.Workload, "workload", "w", "", "workload: "+strings.Join(workload.Names(), ", ")+" (default: the target's first; register)")
	f.StringVarP(&v.Nemesis, "nemesis", "n", "", "faults: "+strings.Join(nemesis.Names(), ", ")+", or a comma list (default: the workload's own)")
	f.StringVarP(scenario, "scenario", "s", "", "preset: "+strings.Join(runner.ScenarioNames(), ", "))
	f.IntVarP(&v.Concurrency, "concurrency", "c", d.Concurrency, "client workers, each one process at a time")
	f.Float64Var(&v.Rate, "rate", d.Rate, "ops per second over all workers; 0 for unlimited")
	f.DurationVarP(&v.TimeLimit, "time-limit", "t", d.TimeLimit, "how long the load runs; 0 with --rounds: until the rounds are done (the default when --rounds is given)")
	f.IntVar(&v.Keys, "keys", d.Keys, "register: number of keys; list-append, rw-register: keys active at a time")
	f.StringSliceVar(&v.ConsistencyModels, "consistency-models", nil, "list-append, rw-register: the models the history must satisfy (Elle's names; default strict-serializable)")
	f.Int64Var(&v.Seed, "seed", 0, "seed for every random choice; 0 picks one (printed and recorded)")
	f.DurationVar(&v.NemesisInterval, "nemesis-interval", 0, "time between nemesis actions (default 5s; 3s for the partition nemeses)")
	f.IntVar(&v.Rounds, "rounds", 0, "nemesis actions to perform (the load lasts until they are done unless --time-limit is given); 0 for as many as fit in --time-limit")
	f.DurationVar(&v.PauseBeforeCommit, "pause-before-commit", d.PauseBeforeCommit, "alternate-kill: how long the coordinator is held in its commit window")
	f.StringVar(&v.Store, "store", "./"+d.Store, "directory the run is stored under")
	f.StringVar(&v.Target, "target", "", "the system under test: "+strings.Join(target.Names(), ", ")+" (default: the embedded one that fits)")
	f.DurationVar(&v.OpTimeout, "op-timeout", d.OpTimeout, "per-op timeout; an op that times out completes as info")
	f.DurationVar(&v.CheckTimeout, "check-timeout", d.CheckTimeout, "time limit for the checkers; over it the verdict is unknown")
	f.DurationVar(&v.HealTimeout, "heal-timeout", d.HealTimeout, "how long to wait, once the faults are undone, for the system to be healthy again")
	f.IntVar(&v.Participants, "participants", 0, "2PC participants for bank and retry (default 2)")
	f.IntVar(&v.NodeCount, "nodes", 0, "cluster size: Raft replicas, etcd members (default: the target's, 3)")
	f.StringSliceVar(&v.SUTBugs, "sut-bug", nil, "self-test: start the target's nodes with this deliberate bug (repeatable), so the checkers should find the run invalid: "+strings.Join(allBugIDs(), ", ")+" (the bare name where the target has it)")
}

// allBugIDs lists every seeded bug: the embedded systems' (sut/bugs) and
// those other targets declare (twopc-postgres/no-prepare …).
func allBugIDs() []string {
	ids := bugs.IDs()
	for _, name := range target.Names() {
		t, _ := target.ByName(name)
		for _, b := range t.Bugs() {
			if !slices.ContainsFunc(ids, func(id string) bool { return strings.HasSuffix(id, "/"+b) }) {
				ids = append(ids, name+"/"+b)
			}
		}
	}
	return ids
}

// addTargetFlags defines every registered target's own flags (--etcd-bin
// …) as string flags on f; targetOptions collects the ones set.
func addTargetFlags(f *pflag.FlagSet) {
	for _, name := range target.Names() {
		t, _ := target.ByName(name)
		for _, fl := range t.Flags() {
			if f.Lookup(fl.Name) == nil {
				f.String(fl.Name, fl.Default, fl.Usage+" (target "+name+")")
			}
		}
	}
}

// targetOptions returns the target flags the user set, by name.
func targetOptions(f *pflag.FlagSet) map[string]string {
	opts := map[string]string{}
	for _, name := range target.Names() {
		t, _ := target.ByName(name)
		for _, fl := range t.Flags() {
			if ff := f.Lookup(fl.Name); ff != nil && ff.Changed {
				opts[fl.Name] = ff.Value.String()
			}
		}
	}
	if len(opts) == 0 {
		return nil
	}
	return opts
}

// targetHelp is the targets table of run's help: each target with its
// workloads and the nemeses it can take.
func targetHelp() string {
	var b strings.Builder
	for _, name := range target.Names() {
		t, _ := target.ByName(name)
		fmt.Fprintf(&b, "  %-16s %s\n", name, t.Doc())
		fmt.Fprintf(&b, "  %-16s workloads: %s\n", "", strings.Join(t.Workloads(), ", "))
		fmt.Fprintf(&b, "  %-16s nemeses:   %s\n", "", strings.Join(runner.NemesesFor(t, nil), ", "))
		for _, n := range runner.MoreNemeses(t) {
			fmt.Fprintf(&b, "  %-16s            and, %s\n", "", n)
		}
	}
	return b.String()
}

func scenarioHelp() string {
	var b strings.Builder
	for _, s := range runner.Scenarios {
		fmt.Fprintf(&b, "  %-26s %s\n", s.Name, s.Description)
	}
	return b.String()
}

// runConfig builds the run's config: the scenario preset (or the
// defaults), then every flag the user set.
func runConfig(f *pflag.FlagSet, flags *runner.Config, scenario string) (runner.Config, error) {
	cfg, err := runner.NewConfig(scenario)
	if err != nil {
		return cfg, err
	}
	set := func(name string, apply func()) {
		if f.Changed(name) {
			apply()
		}
	}
	v := *flags
	if scenario == "" {
		// Whatever the user does not name follows from what they do
		// (runner resolves it): no flags at all is register under
		// restart-leader on the embedded Raft store.
		cfg.Workload, cfg.Nemesis = "", ""
	}
	set("workload", func() { cfg.Workload = v.Workload })
	set("nemesis", func() { cfg.Nemesis = v.Nemesis })
	set("concurrency", func() { cfg.Concurrency = v.Concurrency })
	set("rate", func() { cfg.Rate = v.Rate })
	set("time-limit", func() { cfg.TimeLimit = v.TimeLimit })
	set("keys", func() { cfg.Keys = v.Keys })
	set("consistency-models", func() { cfg.ConsistencyModels = v.ConsistencyModels })
	set("seed", func() { cfg.Seed = v.Seed })
	set("nemesis-interval", func() { cfg.NemesisInterval = v.NemesisInterval })
	set("rounds", func() { cfg.Rounds = v.Rounds })
	if v.Rounds > 0 && f.Changed("rounds") && !f.Changed("time-limit") {
		// --rounds N alone means N actions: the load lasts until they
		// are done, not a time limit they may not fit in.
		cfg.TimeLimit = 0
	}
	set("pause-before-commit", func() { cfg.PauseBeforeCommit = v.PauseBeforeCommit })
	set("store", func() { cfg.Store = v.Store })
	set("target", func() { cfg.Target = v.Target })
	set("op-timeout", func() { cfg.OpTimeout = v.OpTimeout })
	set("check-timeout", func() { cfg.CheckTimeout = v.CheckTimeout })
	set("heal-timeout", func() { cfg.HealTimeout = v.HealTimeout })
	set("nodes", func() { cfg.NodeCount = v.NodeCount })
	set("participants", func() { cfg.Participants = v.Participants })
	set("sut-bug", func() { cfg.SUTBugs = v.SUTBugs })
	cfg.TargetOptions = targetOptions(f)
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	cfg, err = cfg.Resolve()
	if err == nil && scenario == "" && !f.Changed("rate") {
		cfg.Rate = runner.DefaultRateFor(cfg.Target, cfg.Workload)
	}
	return cfg, err
}

// runRun performs the run and maps its outcome to the exit code.
func runRun(cmd *cobra.Command, cfg runner.Config) error {
	ctx, stop := stopOnSignal(cmd)
	defer stop()

	cfg.Version = version
	cfg.Progress = os.Stderr
	cfg.Log = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	out, err := runner.Run(ctx, cfg)
	if runner.IsConfigError(err) {
		return badInput(err)
	}
	if out.Dir != "" {
		// The summary's last line names the exit code the command ends
		// with: 255 when the run failed, whatever its verdict says.
		code := report.ExitCode(out.Results.Valid)
		if err != nil {
			code = exitInternal
		}
		fmt.Fprintln(cmd.OutOrStdout())
		if werr := report.WriteSummaryExit(cmd.OutOrStdout(), out.Results, code); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return &exitError{code: exitInternal, err: err}
	}
	if code := report.ExitCode(out.Results.Valid); code != exitValid {
		return &exitError{code: code}
	}
	return nil
}
