package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/internal/loopback"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

var participantFlags struct {
	id, api, data, coordinator string
	accounts                   map[string]int64
	resolveAfter               time.Duration
	bugs                       []string
}

var participantCmd = &cobra.Command{
	Use:   "participant",
	Short: "Run a 2PC participant (SQLite accounts)",
	Long: `Run one two-phase-commit participant. It keeps accounts in SQLite (WAL,
synchronous=FULL) in --data, votes on prepares, applies commits once, and
resolves transactions left in doubt by a crash by asking the coordinator.

Accounts are created from --accounts on the first start only; a restart
keeps the balances on disk.

API: POST /prepare /commit /abort /read /release, GET /status /observe,
and /failpoints/<name> (failpoint ` + twopc.FPParticipantAfterPrepare + `).

Seeded bugs (--sut-bug, repeatable):
` + twopc.BugHelp(),
	Example: `  chaoscheck node participant --id p1 --api 127.0.0.1:7101 --data /tmp/2pc/p1 \
      --accounts a1=100,a2=100 --coordinator 127.0.0.1:7100`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := participantFlags
		return runTwoPCNode("participant", f.id != "" && f.api != "" && f.data != "", "--id, --api and --data", f.api, f.data, f.bugs,
			func(ctx context.Context, bugs twopc.Bugs) error {
				return twopc.RunParticipant(ctx, twopc.ParticipantConfig{
					ID: f.id, Addr: f.api, DataDir: f.data, Accounts: f.accounts,
					Coordinator: f.coordinator, ResolveAfter: f.resolveAfter,
					Bugs: bugs, Logger: nodeLogger(),
				})
			})
	},
}

var coordinatorFlags struct {
	api, data      string
	participants   map[string]string
	prepareTimeout time.Duration
	commitTimeout  time.Duration
	bugs           []string
}

var coordinatorCmd = &cobra.Command{
	Use:   "coordinator",
	Short: "Run the 2PC coordinator (badger decision log)",
	Long: `Run the two-phase-commit coordinator. Clients POST /txn with a tx_id and
ops per participant; the coordinator prepares every participant, forces
its decision to the badger log in --data, then sends commits (presumed
abort). tx_ids are deduplicated durably: a retry gets the first outcome.

API: POST /txn, POST /read-balances, GET /decision/<tx_id>, GET /status,
and /failpoints/<name>: PUT a gofail term (sleep(1500), panic, or
return("hold"), which holds until DELETE), e.g.
  curl -X PUT 127.0.0.1:7100/failpoints/` + twopc.FPCoordinatorBeforeCommit + ` -d 'sleep(1500)'
Failpoints: ` + twopc.FPCoordinatorBeforeDecision + `, ` + twopc.FPCoordinatorAfterDecision + `,
` + twopc.FPCoordinatorBeforeCommit + ` (the commit window; GET /status shows paused_tx_id).

Seeded bugs (--sut-bug, repeatable):
` + twopc.BugHelp(),
	Example: `  chaoscheck node coordinator --api 127.0.0.1:7100 --data /tmp/2pc/coord \
      --participants p1=127.0.0.1:7101,p2=127.0.0.1:7102
  curl -s 127.0.0.1:7100/txn -d '{"tx_id":"t1","ops":{"p1":[{"account":"a1","delta":-5}],"p2":[{"account":"a1","delta":5}]}}'`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		f := coordinatorFlags
		return runTwoPCNode("coordinator", f.api != "" && f.data != "" && len(f.participants) > 0, "--api, --data and --participants", f.api, f.data, f.bugs,
			func(ctx context.Context, bugs twopc.Bugs) error {
				return twopc.RunCoordinator(ctx, twopc.CoordinatorConfig{
					Addr: f.api, DataDir: f.data, Participants: f.participants,
					PrepareTimeout: f.prepareTimeout, CommitTimeout: f.commitTimeout,
					Bugs: bugs, Logger: nodeLogger(),
				})
			})
	},
}

// runTwoPCNode checks what both 2PC node kinds take (the required flags,
// named by required; --data; --api; --sut-bug), each a 254 when wrong,
// then runs the node until SIGINT or SIGTERM.
func runTwoPCNode(kind string, haveRequired bool, required, api, data string, bugNames []string,
	run func(ctx context.Context, bugs twopc.Bugs) error) error {
	bugs, err := twopc.ParseBugs(bugNames)
	if err != nil {
		return badInput(err)
	}
	if !haveRequired {
		return badInput(fmt.Errorf("%s: %s are required", kind, required))
	}
	if err := checkDataDir("--data", data); err != nil {
		return badInput(fmt.Errorf("%s: %w", kind, err))
	}
	if err := loopback.Check(api); err != nil {
		return badInput(fmt.Errorf("--api: %w", err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	return run(ctx, bugs)
}

// nodeLogger logs text lines to stderr, which the cluster sends to node.log.
func nodeLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func init() {
	pf := participantCmd.Flags()
	pf.StringVar(&participantFlags.id, "id", "", "participant name, as the coordinator knows it (e.g. p1)")
	pf.StringVar(&participantFlags.api, "api", "", "HTTP API address, on 127.0.0.1 (e.g. 127.0.0.1:7101)")
	pf.StringVar(&participantFlags.data, "data", "", "data directory (SQLite database)")
	pf.StringToInt64Var(&participantFlags.accounts, "accounts", nil, "accounts and initial balances, first start only (e.g. a1=100,a2=100)")
	pf.StringVar(&participantFlags.coordinator, "coordinator", "", "coordinator API address, asked about in-doubt transactions")
	pf.DurationVar(&participantFlags.resolveAfter, "resolve-after", 2*time.Second, "how long a prepared transaction waits for the coordinator before this node asks it")
	pf.StringArrayVar(&participantFlags.bugs, "sut-bug", nil, "enable a seeded bug (repeatable); see above")

	cf := coordinatorCmd.Flags()
	cf.StringVar(&coordinatorFlags.api, "api", "", "HTTP API address, on 127.0.0.1 (e.g. 127.0.0.1:7100)")
	cf.StringVar(&coordinatorFlags.data, "data", "", "data directory (badger decision log)")
	cf.StringToStringVar(&coordinatorFlags.participants, "participants", nil, "participants by name (e.g. p1=127.0.0.1:7101,p2=127.0.0.1:7102)")
	cf.DurationVar(&coordinatorFlags.prepareTimeout, "prepare-timeout", 2*time.Second, "a participant that has not voted by then votes no")
	cf.DurationVar(&coordinatorFlags.commitTimeout, "commit-timeout", 2*time.Second, "per commit or abort message, before it is left to the background re-drive")
	cf.StringArrayVar(&coordinatorFlags.bugs, "sut-bug", nil, "enable a seeded bug (repeatable); see above")

	nodeCmd.AddCommand(participantCmd, coordinatorCmd)
}
