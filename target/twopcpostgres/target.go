package twopcpostgres

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/pgserver"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/target/postgres"
	"github.com/chaoscheck/chaoscheck/workload"
)

func init() { target.Register(Target{}, false) }

// Target is --target twopc-postgres.
type Target struct{}

// BugNoPrepare: each participant commits its part at prepare time instead
// of PREPARE TRANSACTION, so participants commit one by one and an abort
// cannot undo the ones already done.
const BugNoPrepare = "no-prepare"

// BugForgetPrepared: after its server restarts, a participant rolls back
// what it had prepared without asking the coordinator; only a kill inside
// the commit window shows it.
const BugForgetPrepared = "forget-prepared"

// Coordinator is the coordinator's node name.
const Coordinator = cluster.TwoPCCoordinator

func (Target) Name() string { return "twopc-postgres" }

func (Target) Doc() string {
	return "chaoscheck's 2PC coordinator over PostgreSQL participants (PREPARE TRANSACTION / COMMIT PREPARED), one server per participant"
}

func (Target) Workloads() []string { return []string{"bank", "retry"} }

func (Target) Features(target.Options) []target.Feature {
	return []target.Feature{target.Kill, target.Pause, target.CommitWindowFeature, target.Coordinator, target.Partition}
}

func (Target) Flags() []target.Flag { return []target.Flag{postgres.PGBinFlag} }

func (Target) Bugs() []string { return []string{BugNoPrepare, BugForgetPrepared} }

// CheckOptions refuses a --pg-bin without PostgreSQL (or no PostgreSQL
// at all) before the run starts (target.OptionChecker).
func (Target) CheckOptions(opts target.Options, _ int, _ string, _ []string) error {
	_, err := pgserver.FindBinDir(opts.Get(postgres.FlagPGBin, ""))
	return err
}

// Boot starts one PostgreSQL server and participant front per participant
// (Env.WorkloadOptions.Participants, default 2), then the coordinator.
func (t Target) Boot(ctx context.Context, env target.Env) (target.System, error) {
	if !slices.Contains(t.Workloads(), env.Workload) {
		return nil, fmt.Errorf("twopc-postgres has no workload %q (want one of %s)", env.Workload, strings.Join(t.Workloads(), ", "))
	}
	for _, b := range env.Bugs {
		if !slices.Contains(t.Bugs(), b) {
			return nil, fmt.Errorf("twopc-postgres: unknown seeded bug %q (want one of %s)", b, strings.Join(t.Bugs(), ", "))
		}
	}
	noPrepare, forget := slices.Contains(env.Bugs, BugNoPrepare), slices.Contains(env.Bugs, BugForgetPrepared)
	// The participants are the workload's (--participants): its accounts
	// are named after them.
	wopts := env.WorkloadOptions.WithDefaults()
	bin, err := cluster.Binary()
	if err != nil {
		return nil, err
	}
	log := env.Logger()
	s := &system{log: log, opts: wopts, net: env.Net, servers: map[string]*pgserver.Server{},
		fronts: map[string]*twopc.PGParticipant{}, apis: map[string]string{}}
	for i := range wopts.Participants {
		s.names = append(s.names, "p"+strconv.Itoa(i+1))
	}
	accounts := map[string]map[string]int64{}
	for _, a := range workload.BankAccounts(wopts) {
		p, acct, _ := strings.Cut(a, "/")
		if accounts[p] == nil {
			accounts[p] = map[string]int64{}
		}
		accounts[p][acct] = wopts.InitialBalance
	}

	// The servers boot in parallel: initdb and crash-free starts take a
	// few seconds each.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, name := range s.names {
		wg.Go(func() {
			srv, err := pgserver.Boot(ctx, pgserver.Config{
				Name: name, Dir: filepath.Join(env.Dir, name), BinDir: env.Options.Get(postgres.FlagPGBin, ""),
				// One prepared transaction per concurrent transfer, with room
				// for those left in doubt by a kill.
				MaxPreparedTransactions: max(64, 4*wopts.Concurrency),
				Log:                     log,
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			s.servers[name] = srv
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		s.Stop(true)
		return nil, errors.Join(errs...)
	}

	ports, err := cluster.FreePorts(len(s.names) + 1)
	if err != nil {
		s.Stop(true)
		return nil, err
	}
	s.apis[Coordinator] = "127.0.0.1:" + strconv.Itoa(ports[0])
	var plist []string
	for i, name := range s.names {
		s.apis[name] = "127.0.0.1:" + strconv.Itoa(ports[i+1])
		coord, err := s.via(name, Coordinator)
		if err != nil {
			s.Stop(true)
			return nil, err
		}
		front, err := twopc.StartPGParticipant(ctx, twopc.PGParticipantConfig{
			ID: name, Addr: s.apis[name], DSN: s.servers[name].DSN("postgres"),
			Accounts: accounts[name], Coordinator: coord, NoPrepare: noPrepare, ForgetPrepared: forget, Logger: log,
		})
		if err != nil {
			s.Stop(true)
			return nil, err
		}
		s.fronts[name] = front
		addr, err := s.via(Coordinator, name)
		if err != nil {
			s.Stop(true)
			return nil, err
		}
		plist = append(plist, name+"="+addr)
	}
	if len(env.Bugs) > 0 {
		log.Warn("seeded bugs switched on", "bugs", env.Bugs)
	}
	s.coord = cluster.NewProc(cluster.ProcSpec{Name: Coordinator, Bin: bin, Dir: filepath.Join(env.Dir, Coordinator),
		Args: []string{"node", "coordinator", "--api", s.apis[Coordinator],
			"--data", filepath.Join(env.Dir, Coordinator, "data"), "--participants", strings.Join(plist, ",")}})
	s.client = twopc.NewClient(s.apis[Coordinator], 5*time.Second)
	if err := s.startCoordinator(ctx); err != nil {
		s.Stop(true)
		return nil, err
	}
	s.drv = &driver{s: s, accounts: workload.BankAccounts(wopts)}
	log.Info("twopc-postgres up", "coordinator", s.apis[Coordinator], "participants", s.names)
	return s, nil
}

// via is the address node from dials to reach node to: through the
// partition layer when there is one.
func (s *system) via(from, to string) (string, error) {
	if s.net == nil {
		return s.apis[to], nil
	}
	return s.net.Via(from, to, s.apis[to])
}
