package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/verify"
)

// verifyFlags holds `verify`'s flag values.
var verifyFlags struct {
	raft         []string
	participants []string
	coordinator  string
	total        int64
	strict       bool
	jsonOut      bool
}

var verifyCmd = &cobra.Command{
	Use:   "verify [RUN-DIR]",
	Short: "Check a cluster's data directories: replicas identical, no tx in doubt, money conserved",
	Long: `Check the final state of a cluster from its data directories, read-only,
whether its nodes still run or are stopped (a quiet cluster gives the
clearest answer: under load, replicas lag and transactions are in flight).

Checks (each valid, invalid or unknown, as analyze reports its checkers):
  replicas      Raft replicas at the same applied index hold the same
                content (hash of every user table); replicas behind are
                "lagging", a failure only with --strict
  in-doubt      no participant holds a transaction prepared and undecided;
                one that does is pending (the protocol still finishes it):
                unknown, as are atomicity and conservation while it lasts.
                Restart the nodes, let them settle, and verify again
  applied-once  no participant has two effect rows for one tx_id
  conservation  the balances of all participants sum to the total
                (--total, else the run's config.json, else the run's first
                ok read-balances); no balance is negative
  atomicity     a tx_id the coordinator's decision log says committed is
                applied on all its participants or none; nothing is applied
                without a commit decision. The decision log is read from a
                copy, and only while the coordinator is stopped: a running
                coordinator locks it (unknown)

RUN-DIR is a run directory (store/<test>/<time>), a store or test
directory (its latest run), or a cluster directory holding the node dirs;
nodes/<node>/ dirs are recognized by their files (state.db: Raft replica;
data/participant.db: participant; data/MANIFEST: coordinator). Or name
the data dirs with --raft, --participants and --coordinator, as DIR or
NAME=DIR.

Exit codes: 0 every check valid, 1 a check failed, 2 a check could not be
judged, 254 unusable input (missing dir, not a data dir), 255 internal error.`,
	Example: `  # The newest run (kept data dirs: the runner removes them after a valid verdict):
  chaoscheck verify store/latest

  # A cluster's dirs by hand, replicas behind the others counted as failures:
  chaoscheck verify --strict --raft /tmp/raft/n1,/tmp/raft/n2,/tmp/raft/n3

  # A stopped 2PC cluster, 8 accounts of 100 each, as JSON:
  chaoscheck verify --participants p1=/tmp/2pc/p1/data,p2=/tmp/2pc/p2/data \
    --coordinator /tmp/2pc/coordinator/data --total 800 --json`,
	Args: cobra.MaximumNArgs(1),
	RunE: func(cmd *cobra.Command, args []string) error {
		f := verifyFlags
		explicit := len(f.raft) > 0 || len(f.participants) > 0 || f.coordinator != ""
		var opts verify.Options
		var err error
		switch {
		case len(args) == 1 && explicit:
			return badInput(errors.New("verify: give RUN-DIR or --raft/--participants/--coordinator, not both"))
		case len(args) == 1:
			opts, err = verify.FromRunDir(args[0])
		case explicit:
			opts = verify.Options{Raft: verify.ParseNodes(f.raft), Participants: verify.ParseNodes(f.participants)}
			if c := verify.ParseNodes([]string{f.coordinator}); len(c) == 1 {
				opts.Coordinator = &c[0]
			}
			err = opts.Resolve()
		default:
			return badInput(errors.New("verify: give a RUN-DIR or data dirs (--raft, --participants, --coordinator); see --help"))
		}
		if err != nil {
			var ie *verify.InputError
			if errors.As(err, &ie) {
				return badInput(fmt.Errorf("verify: %w", err))
			}
			return &exitError{code: exitInternal, err: fmt.Errorf("verify: %w", err)}
		}
		if cmd.Flags().Changed("total") {
			t := f.total
			opts.Total, opts.TotalSource = &t, "--total"
		}
		opts.Strict = f.strict

		rep := verify.Verify(cmd.Context(), opts)
		w := cmd.OutOrStdout()
		if f.jsonOut {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			err = enc.Encode(rep)
		} else {
			err = verify.WriteSummary(w, rep)
		}
		if err != nil {
			return &exitError{code: exitInternal, err: err}
		}
		return verdictExit(rep.Valid)
	},
}

func init() {
	f := verifyCmd.Flags()
	f.StringSliceVar(&verifyFlags.raft, "raft", nil, "Raft replica data dirs (each holding state.db), DIR or NAME=DIR, comma-separated")
	f.StringSliceVar(&verifyFlags.participants, "participants", nil, "2PC participant data dirs (each holding participant.db), DIR or NAME=DIR; NAME must be the participant's --id")
	f.StringVar(&verifyFlags.coordinator, "coordinator", "", "the 2PC coordinator's data dir (its badger decision log); read only while the coordinator is stopped")
	f.Int64Var(&verifyFlags.total, "total", 0, "the sum all balances must have (default: from the run's config.json or its first ok read-balances; else not judged)")
	f.BoolVar(&verifyFlags.strict, "strict", false, "count a replica at a lower applied index (lagging) as a failure")
	f.BoolVar(&verifyFlags.jsonOut, "json", false, "print the report as JSON instead of the human summary")
	rootCmd.AddCommand(verifyCmd)
}
