package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// system is a booted process target: the user's nodes as child processes
// and the driver that starts the user's client program.
type system struct {
	cfg    *Config
	l      *layout
	names  []string
	nodes  map[string]*node
	drv    *driver
	logf   *os.File // clients.log
	leader bool
}

type node struct {
	name string
	spec nodeSpec
	proc *cluster.Proc
}

// fits says whether a run of workload on nodes nodes (0: the config's
// count) can use cfg.
func (cfg *Config) fits(nodes int, workload string) error {
	if !slices.Contains(cfg.Client.Workloads, workload) {
		return cfg.errorf("client.workloads", "does not list workload %q (it lists %s)", workload, strings.Join(cfg.Client.Workloads, ", "))
	}
	if len(cfg.Names) > 0 && nodes > 0 && nodes != len(cfg.Names) {
		return cfg.errorf("names", "lists %d nodes, but %d were asked for", len(cfg.Names), nodes)
	}
	return nil
}

// boot starts every node described by cfg for env and waits until each
// serves. On error nothing is left running.
func boot(ctx context.Context, cfg *Config, env target.Env) (_ *system, err error) {
	if err := cfg.fits(env.Nodes, env.Workload); err != nil {
		return nil, &target.ConfigError{Err: err}
	}
	names := cfg.NodeNames(env.Nodes)
	free, err := cluster.FreePorts(len(names) * len(cfg.Ports))
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(env.Dir)
	if err != nil {
		return nil, err
	}
	l := cfg.layout(names, free)
	l.root = dir
	via := identityNet
	if env.Net != nil {
		via = env.Net.Via
	}
	s := &system{cfg: cfg, l: l, names: names, nodes: map[string]*node{}, leader: cfg.Leader != nil}
	defer func() {
		if err != nil {
			s.Stop(true)
		}
	}()
	for _, n := range names {
		spec, err := cfg.nodeSpec(l, n, via)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(l.dataDir(n), 0o755); err != nil {
			return nil, err
		}
		s.nodes[n] = &node{name: n, spec: spec, proc: cluster.NewProc(cluster.ProcSpec{
			Name: n, Bin: spec.argv[0], Args: spec.argv[1:], Dir: l.nodeDir(n), Env: spec.env,
		})}
	}
	if s.logf, err = os.OpenFile(filepath.Join(dir, "clients.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		return nil, err
	}
	if s.drv, err = s.newDriver(env); err != nil {
		return nil, err
	}
	env.Logger().Info("process target: starting nodes", "config", cfg.Path, "nodes", strings.Join(names, ","), "command", strings.Join(s.nodes[names[0]].spec.argv, " "))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Start(ctx, n)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *system) newDriver(env target.Env) (*driver, error) {
	argv, cenv, err := s.cfg.expandClient(s.l)
	if err != nil {
		return nil, err
	}
	h := hello{Type: "hello", Protocol: protocolVersion, Workload: env.Workload,
		OpTimeoutMS: env.WorkloadOptions.WithDefaults().OpTimeout.Milliseconds()}
	for _, n := range s.names {
		ni := nodeInfo{Name: n, Addrs: map[string]string{}}
		for _, p := range s.cfg.Ports {
			ni.Addrs[p] = s.l.addr(n, p)
		}
		h.Nodes = append(h.Nodes, ni)
	}
	wo := env.WorkloadOptions.WithDefaults()
	switch env.Workload {
	case "register":
		for i := range wo.Keys {
			h.Keys = append(h.Keys, workload.RegisterKey(i))
		}
	case "bank", "retry":
		h.Accounts, h.InitialBalance = workload.BankAccounts(wo), wo.InitialBalance
	}
	return &driver{argv: argv, env: cenv, dir: s.cfg.Dir, hello: h, start: s.cfg.clientStartTimeout(),
		log: &lockedWriter{w: s.logf}, remarks: env.Logger(), live: map[*program]bool{}}, nil
}

func (s *system) Nodes() []string { return append([]string(nil), s.names...) }

func (s *system) node(name string) (*node, error) {
	n, ok := s.nodes[name]
	if !ok {
		return nil, fmt.Errorf("process target: no node %q (nodes: %s)", name, strings.Join(s.names, ", "))
	}
	return n, nil
}

func (s *system) Running(name string) bool {
	n, err := s.node(name)
	return err == nil && n.proc.Running()
}

func (s *system) Kill(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	return n.proc.Kill()
}

// Start starts the node on its data dir with the same command and ports,
// and returns once its health check passes. A node that exits meanwhile
// is an error quoting the end of its log.
func (s *system) Start(ctx context.Context, name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	if err := n.proc.Start(); err != nil {
		return err
	}
	return s.waitServing(ctx, n, s.cfg.startTimeout())
}

func (s *system) waitServing(ctx context.Context, n *node, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	exited, how := n.proc.Exited()
	var last error
	for {
		select {
		case <-exited:
			return fmt.Errorf("process target: node %s exited while starting (%v); %s", n.name, how(), logTail(n.proc.Spec().LogPath))
		default:
		}
		if last = n.spec.health.healthy(ctx, n.proc.Spec().Dir); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("process target: start of node %s interrupted: %w", n.name, ctx.Err())
			}
			return fmt.Errorf("process target: node %s not healthy within %v (last: %v); %s", n.name, timeout, last, logTail(n.proc.Spec().LogPath))
		case <-exited:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *system) Pause(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	return n.proc.Pause()
}

func (s *system) Resume(name string) error {
	n, err := s.node(name)
	if err != nil {
		return err
	}
	return n.proc.Resume()
}

// WaitHealthy waits until every node runs unpaused and passes its health
// check, and, when the config says how to ask, a leader is agreed.
func (s *system) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return cluster.WaitFor(ctx, timeout, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, name := range s.names {
			n := s.nodes[name]
			if !n.proc.Running() || n.proc.Paused() {
				return false, fmt.Errorf("node %s is not running", name)
			}
			if err := n.spec.health.healthy(ctx, n.proc.Spec().Dir); err != nil {
				return false, fmt.Errorf("node %s: %w", name, err)
			}
		}
		if s.leader {
			if _, err := s.agreedLeader(ctx); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}

// leaderOf returns the node that a majority of the nodes name as leader
// and that names itself, polling until there is one or ctx ends.
func (s *system) leaderOf(ctx context.Context) (string, error) {
	if !s.leader {
		return "", errors.New("process target: the config has no [leader] section")
	}
	var last error
	for {
		l, err := s.agreedLeader(ctx)
		if err == nil {
			return l, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("process target: no leader agreed: %w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *system) agreedLeader(ctx context.Context) (string, error) {
	answers := make([]string, len(s.names))
	var wg sync.WaitGroup
	for i, name := range s.names {
		n := s.nodes[name]
		if !n.proc.Running() || n.proc.Paused() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], _ = n.spec.leader.leader(ctx)
		}()
	}
	wg.Wait()
	votes := map[string]int{}
	for _, a := range answers {
		votes[a]++
	}
	for i, name := range s.names {
		if answers[i] == name && votes[name] > len(s.names)/2 {
			return name, nil
		}
	}
	return "", fmt.Errorf("leader answers %q: no node names itself with a majority agreeing", answers)
}

func (s *system) Driver() workload.Driver { return s.drv }

// Stop ends the client programs, then every node (SIGKILL when kill,
// otherwise SIGTERM and up to stop_grace).
func (s *system) Stop(kill bool) error {
	if s.drv != nil {
		s.drv.closeAll()
	}
	var errs []error
	for _, name := range s.names {
		n, ok := s.nodes[name]
		if !ok {
			continue
		}
		if kill {
			errs = append(errs, n.proc.Kill())
		} else {
			errs = append(errs, n.proc.Stop(s.cfg.stopGrace()))
		}
	}
	if s.logf != nil {
		s.logf.Close()
	}
	return errors.Join(errs...)
}

// logTail quotes the end of a node's log for an error.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no log: " + err.Error()
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return path + " is empty"
	}
	return fmt.Sprintf("%s ends: %q", path, strings.TrimSpace(string(b)))
}
