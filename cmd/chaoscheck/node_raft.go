package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaoscheck/chaoscheck/internal/loopback"
	"github.com/chaoscheck/chaoscheck/sut/bugs"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// raftFlags holds `node raft`'s flag values.
var raftFlags struct {
	id             uint64
	peers          string
	peerAPIs       string
	api            string
	data           string
	snapshotEvery  uint64
	snapshotMargin uint64
	tick           time.Duration
	electionTicks  int
	requestTimeout time.Duration
	pprof          bool
	bugs           []string
}

var nodeRaftCmd = &cobra.Command{
	Use:   "raft",
	Short: "Run one replica of the Raft-replicated SQLite store",
	Long: `Run one replica of raftsql, the embedded Raft-replicated SQLite store.

Every replica of a cluster gets the same --peers list (id=host:port of each
replica's raft transport) and its own --id, --api and --data. A fresh data
dir bootstraps the cluster; an existing one is recovered (log, snapshot and
state machine), so kill -9 and start again is a crash and restart.

Client API (HTTP/JSON on --api):
  POST /exec    {"request_id":"r1","stmts":[{"sql":"INSERT INTO t VALUES (?)","args":[1]}]}
  POST /query   {"sql":"SELECT COUNT(*) FROM t"}   (linearizable, ReadIndex)
  GET  /status
  /failpoints/  raftBeforeSave, raftAfterSave, raftBeforeApply, raftAfterApply, …

A follower forwards /exec and /query to the leader when --peer-apis names
the leader's API; otherwise it answers 503 {"error":"not leader","leader":ID}.
SIGTERM or Ctrl-C stops the replica gracefully.`,
	Example: `  # A one-replica cluster with the defaults:
  chaoscheck node raft

  # Three replicas, one per terminal:
  P=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103
  A=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
  chaoscheck node raft --id 1 --peers $P --peer-apis $A --api 127.0.0.1:7001 --data /tmp/raft/n1
  chaoscheck node raft --id 2 --peers $P --peer-apis $A --api 127.0.0.1:7002 --data /tmp/raft/n2
  chaoscheck node raft --id 3 --peers $P --peer-apis $A --api 127.0.0.1:7003 --data /tmp/raft/n3
  curl -s -XPOST 127.0.0.1:7001/exec -d '{"request_id":"c1","stmts":[{"sql":"CREATE TABLE t (v INTEGER)"}]}'
  curl -s -XPOST 127.0.0.1:7002/exec -d '{"request_id":"i1","stmts":[{"sql":"INSERT INTO t VALUES (?)","args":[7]}]}'
  curl -s -XPOST 127.0.0.1:7003/query -d '{"sql":"SELECT COUNT(*) FROM t"}'
  curl -s 127.0.0.1:7001/status

  # A seeded bug, for showing that a checker notices it:
  chaoscheck node raft --sut-bug no-dedup`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		cfg, err := raftConfig()
		if err != nil {
			return badInput(err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
		defer stop()
		if err := raftsql.Run(ctx, cfg); err != nil && !errors.Is(err, context.Canceled) {
			return &exitError{code: exitInternal, err: fmt.Errorf("node raft %d: %w", cfg.ID, err)}
		}
		return nil
	},
}

func init() {
	f := nodeRaftCmd.Flags()
	f.Uint64Var(&raftFlags.id, "id", 1, "this replica's id; must appear in --peers")
	f.StringVar(&raftFlags.peers, "peers", "1=127.0.0.1:7101", "every replica's raft transport address, ID=HOST:PORT,… (loopback only)")
	f.StringVar(&raftFlags.peerAPIs, "peer-apis", "", "replicas' client API addresses, ID=HOST:PORT,…, so a follower can forward to the leader")
	f.StringVar(&raftFlags.api, "api", "127.0.0.1:7001", "client API listen address (loopback only)")
	f.StringVar(&raftFlags.data, "data", "", "data directory (default ./raftsql-n<ID>)")
	f.Uint64Var(&raftFlags.snapshotEvery, "snapshot-every", 1000, "snapshot the state machine every N applied entries and compact the log; 0 never")
	f.Uint64Var(&raftFlags.snapshotMargin, "snapshot-margin", 10, "entries the log keeps behind a snapshot for slightly lagging followers")
	f.DurationVar(&raftFlags.tick, "tick", 100*time.Millisecond, "raft tick; heartbeats every tick, elections after --election-ticks")
	f.IntVar(&raftFlags.electionTicks, "election-ticks", 10, "ticks without a leader before an election")
	f.DurationVar(&raftFlags.requestTimeout, "request-timeout", 5*time.Second, "how long /exec waits for its entry to apply (then 504, indeterminate) and /query for its read index")
	f.BoolVar(&raftFlags.pprof, "pprof", os.Getenv("CHAOSCHECK_PPROF") != "", "serve net/http/pprof's /debug/pprof/ on --api, for profiling under load (default on when $CHAOSCHECK_PPROF is set, which reaches the nodes a run or benchmark starts)")
	f.StringArrayVar(&raftFlags.bugs, "sut-bug", nil, "seed a bug (self-test only), repeatable: "+strings.Join(bugIDs(bugs.Raft), ", "))
	nodeCmd.AddCommand(nodeRaftCmd)
}

// raftConfig turns the flags into a raftsql.Config.
func raftConfig() (raftsql.Config, error) {
	f := raftFlags
	peers, err := raftsql.ParseAddrs(f.peers)
	if err != nil {
		return raftsql.Config{}, fmt.Errorf("--peers: %w", err)
	}
	if _, ok := peers[f.id]; !ok {
		return raftsql.Config{}, fmt.Errorf("--peers %q does not include --id %d", f.peers, f.id)
	}
	apis, err := raftsql.ParseAddrs(f.peerAPIs)
	if err != nil {
		return raftsql.Config{}, fmt.Errorf("--peer-apis: %w", err)
	}
	if err := loopback.Check(f.api); err != nil {
		return raftsql.Config{}, fmt.Errorf("--api: %w", err)
	}
	names, err := bugs.ResolveNames(bugs.Raft, f.bugs)
	if err != nil {
		return raftsql.Config{}, fmt.Errorf("--sut-bug: %w", err)
	}
	seeded, err := raftsql.ParseBugs(names)
	if err != nil {
		return raftsql.Config{}, fmt.Errorf("--sut-bug: %w", err)
	}
	if f.tick <= 0 || f.electionTicks < 2 {
		return raftsql.Config{}, fmt.Errorf("--tick must be > 0 and --election-ticks ≥ 2")
	}
	data := f.data
	if data == "" {
		data = fmt.Sprintf("raftsql-n%d", f.id)
	}
	if err := checkDataDir("--data", data); err != nil {
		return raftsql.Config{}, err
	}
	return raftsql.Config{
		ID:             f.id,
		Peers:          peers,
		PeerAPIs:       apis,
		API:            f.api,
		DataDir:        data,
		SnapshotEvery:  f.snapshotEvery,
		SnapshotMargin: f.snapshotMargin,
		Tick:           f.tick,
		ElectionTicks:  f.electionTicks,
		RequestTimeout: f.requestTimeout,
		Pprof:          f.pprof,
		Bugs:           seeded,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", f.id),
	}, nil
}
