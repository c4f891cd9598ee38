package twopc

import (
	"context"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/bugs"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

func init() { target.Register(Target{}, true) }

// Name is the target's name.
const Name = "twopc"

// Target boots the embedded 2PC system.
type Target struct{}

func (Target) Name() string { return Name }
func (Target) Doc() string {
	return "chaoscheck's embedded two-phase commit: a coordinator and 2 SQLite participants (presumed abort)"
}
func (Target) Workloads() []string { return []string{"bank", "retry"} }
func (Target) Features(target.Options) []target.Feature {
	return []target.Feature{target.Kill, target.Pause, target.CommitWindowFeature, target.ClientProxy, target.Coordinator, target.CoordinatorFailpoints, target.Partition}
}
func (Target) Flags() []target.Flag { return nil }
func (Target) Bugs() []string       { return bugs.Names(bugs.TwoPC) }

// Boot starts the participants (env.WorkloadOptions.Participants, with the
// workload's accounts) and the coordinator, and waits until all serve.
func (Target) Boot(ctx context.Context, env target.Env) (target.System, error) {
	if !target.Supports(Target{}, env.Workload) {
		return nil, fmt.Errorf("target twopc has no driver for workload %q", env.Workload)
	}
	bin, err := cluster.Binary()
	if err != nil {
		return nil, err
	}
	opts := env.WorkloadOptions.WithDefaults()
	cfg := cluster.TwoPCConfig{Dir: env.Dir, Bin: bin, Participants: workload.ParticipantNames(opts.Participants),
		InitialBalance: opts.InitialBalance, Accounts: map[string]int64{}}
	for _, a := range workload.BankAccounts(opts) {
		cfg.Accounts[a] = opts.InitialBalance
	}
	for _, b := range env.Bugs {
		cfg.ExtraArgs = append(cfg.ExtraArgs, "--sut-bug", b)
	}
	if env.Net != nil {
		cfg.Via = env.Net.Via
	}
	tc, err := cluster.StartTwoPC(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &System{ProcNodes: tc.ProcNodes(), tc: tc, workload: env.Workload, opts: opts}
	if err := tc.WaitHealthy(ctx, cluster.BootTimeout); err != nil {
		s.Stop(true)
		return nil, fmt.Errorf("2pc cluster not healthy after boot: %w", err)
	}
	return s, nil
}

// System is a running embedded 2PC cluster.
type System struct {
	target.Routes
	cluster.ProcNodes // Nodes, Running, Kill, Pause, Resume
	tc                *cluster.TwoPCCluster
	workload          string
	opts              workload.Options
}

// TwoPC is the cluster itself, for the nemeses that act on the embedded
// coordinator's own failpoints (coordinator-crash).
func (s *System) TwoPC() *cluster.TwoPCCluster { return s.tc }

// Start starts node and waits until it answers /status.
func (s *System) Start(ctx context.Context, node string) error {
	if err := s.tc.Start(node); err != nil {
		return err
	}
	return s.tc.WaitUp(ctx, node, cluster.NodeUpTimeout)
}

func (s *System) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return s.tc.WaitHealthy(ctx, timeout)
}

// ClientAddrs is the coordinator's API: clients talk only to it.
func (s *System) ClientAddrs() []string { return []string{s.tc.CoordinatorAPI()} }

func (s *System) Stop(kill bool) error {
	if kill {
		return s.KillAll()
	}
	return s.tc.Stop()
}

// Driver returns the driver of the workload the system was booted for.
func (s *System) Driver() workload.Driver { return &driver{s: s, opts: s.opts} }
