package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/internal/pgserver"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

func init() { target.Register(Target{}, false) }

// Target is --target postgres.
type Target struct{}

// Node is the server's node name in the history.
const Node = "n1"

func (Target) Name() string { return "postgres" }

func (Target) Doc() string {
	return "a real PostgreSQL server (initdb from --pg-bin, PATH or /usr/lib/postgresql), or one at --dsn; ops are SQL transactions at --isolation"
}

func (Target) Workloads() []string {
	return []string{"list-append", "rw-register", "bank", "register", "set"}
}

// Features: process faults only on a server chaoscheck started.
func (Target) Features(opts target.Options) []target.Feature {
	if opts.Get("dsn", "") != "" {
		return nil
	}
	return []target.Feature{target.Kill, target.Pause}
}

// Flag names; twopc-postgres shares pg-bin.
const (
	FlagPGBin     = "pg-bin"
	FlagDSN       = "dsn"
	FlagIsolation = "isolation"
)

// PGBinFlag is --pg-bin, shared by every target that boots PostgreSQL.
var PGBinFlag = target.Flag{Name: FlagPGBin, Usage: "directory holding PostgreSQL's initdb and postgres (default: found on PATH, else the newest /usr/lib/postgresql/<version>/bin)"}

func (Target) Flags() []target.Flag {
	return []target.Flag{
		PGBinFlag,
		{Name: FlagDSN, Usage: "attach to this running PostgreSQL (postgres://user@host:port/db) instead of starting one; no process faults then"},
		{Name: FlagIsolation, Default: "serializable", Usage: "isolation level of every transaction: read-committed, repeatable-read or serializable"},
	}
}

func (Target) Bugs() []string { return nil }

// ElleRate is the default rate of list-append and rw-register: at the
// runner's 50 ops/s millisecond transactions seldom overlap, and a 30 s
// read-committed run under kill found no anomaly; at 1000 ops/s the same
// run found hundreds (docs/audit.md).
const ElleRate = 1000

// DefaultRate advises ElleRate for the Elle workloads (target.RateAdviser).
func (Target) DefaultRate(workload string) (float64, bool) {
	if workload == "list-append" || workload == "rw-register" {
		return ElleRate, true
	}
	return 0, false
}

// isolations maps --isolation to pgx's level.
var isolations = map[string]pgx.TxIsoLevel{
	"read-committed":  pgx.ReadCommitted,
	"repeatable-read": pgx.RepeatableRead,
	"serializable":    pgx.Serializable,
}

// ParseIsolation reads an --isolation value.
func ParseIsolation(s string) (pgx.TxIsoLevel, error) {
	iso, ok := isolations[s]
	if !ok {
		return "", fmt.Errorf("--isolation %q: want read-committed, repeatable-read or serializable", s)
	}
	return iso, nil
}

// CheckOptions refuses a bad --isolation, a workload it has no driver for
// and seeded bugs before the run starts (target.OptionChecker); Boot
// checks the same.
func (t Target) CheckOptions(opts target.Options, _ int, workload string, bugs []string) error {
	if _, err := ParseIsolation(opts.Get(FlagIsolation, "serializable")); err != nil {
		return err
	}
	if !slices.Contains(t.Workloads(), workload) {
		return fmt.Errorf("postgres has no workload %q (want one of %s)", workload, strings.Join(t.Workloads(), ", "))
	}
	if len(bugs) > 0 {
		return fmt.Errorf("postgres has no seeded bugs (asked for %v)", bugs)
	}
	if opts.Get(FlagDSN, "") == "" {
		if _, err := pgserver.FindBinDir(opts.Get(FlagPGBin, "")); err != nil {
			return err
		}
	}
	return nil
}

func (t Target) Boot(ctx context.Context, env target.Env) (target.System, error) {
	if err := t.CheckOptions(env.Options, env.Nodes, env.Workload, env.Bugs); err != nil {
		return nil, &target.ConfigError{Err: err}
	}
	// One server whatever Env.Nodes says: the runner passes its default
	// cluster size to every target.
	iso, _ := ParseIsolation(env.Options.Get(FlagIsolation, "serializable"))
	s := &system{}
	if dsn := env.Options.Get(FlagDSN, ""); dsn != "" {
		if err := pgserver.Ping(ctx, dsn); err != nil {
			return nil, fmt.Errorf("--dsn: %w", err)
		}
		s.dsn = dsn
		env.Logger().Info("attached to PostgreSQL; no process faults", "dsn", dsn)
	} else {
		srv, err := pgserver.Boot(ctx, pgserver.Config{
			Name: Node, Dir: filepath.Join(env.Dir, Node), BinDir: env.Options.Get(FlagPGBin, ""),
			// Room for every client and the final reads, with a margin for
			// the connections of clients that ended info.
			MaxConnections: max(100, 4*env.WorkloadOptions.WithDefaults().Concurrency),
			Log:            env.Logger(),
		})
		if err != nil {
			return nil, err
		}
		s.srv, s.dsn = srv, srv.DSN("postgres")
	}
	var err error
	if s.drv, err = NewDriver(env.Workload, s.dsn, iso, Node, env.WorkloadOptions); err != nil {
		s.Stop(true)
		return nil, err
	}
	return s, nil
}

// system is one PostgreSQL server, started (srv) or attached to (srv nil).
type system struct {
	srv *pgserver.Server
	dsn string
	drv *Driver
}

func (s *system) Nodes() []string { return []string{Node} }

func (s *system) Running(node string) bool {
	if node != Node {
		return false
	}
	return s.srv == nil || s.srv.Running()
}

// server returns the server behind node, or why it cannot be faulted.
func (s *system) server(node string) (*pgserver.Server, error) {
	if s.srv == nil {
		return nil, target.ErrNoProcessControl
	}
	if node != Node {
		return nil, fmt.Errorf("postgres: no node %q (nodes: %s)", node, Node)
	}
	return s.srv, nil
}

func (s *system) Kill(node string) error {
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Kill()
}

func (s *system) Start(ctx context.Context, node string) error {
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	if srv.Running() {
		return fmt.Errorf("postgres %s: already running", node)
	}
	return srv.Start(ctx)
}

func (s *system) Pause(node string) error {
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Pause()
}

func (s *system) Resume(node string) error {
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Resume()
}

// WaitHealthy waits until the server answers a query.
func (s *system) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	if s.srv != nil {
		return s.srv.WaitReady(ctx, timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := pgserver.Ping(ctx, s.dsn)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres at --dsn not answering: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *system) Driver() workload.Driver { return s.drv }

// Stop stops the server chaoscheck started; an attached one is left
// running.
func (s *system) Stop(kill bool) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Stop(kill)
}
