package runner

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/workload"
)

// bootTimeout bounds the wait for a freshly started cluster to be healthy
// (a Raft leader elected, every 2PC node answering).
const bootTimeout = 30 * time.Second

// boot starts the clusters spec asks for. Every node lives in the run's
// nodes/<node>/ (n1…, p1…, coordinator): its node.log and its data, so a
// run directory holds all the evidence and a valid run's data can be
// dropped in one place. On error nothing is left running.
func boot(ctx context.Context, spec workload.BootSpec, dir *store.Run, cfg Config) (*sut, error) {
	bin, err := cluster.Binary()
	if err != nil {
		return nil, err
	}
	nodes := filepath.Join(dir.Dir, store.NodesDir)
	raftBugs, twopcBugs := bugArgs(cfg.SUTBugs)

	var rc *cluster.RaftCluster
	var tc *cluster.TwoPCCluster
	s := &sut{target: &cluster.Target{}}
	s.stopFn = func(kill bool) error {
		var errs []error
		if rc != nil {
			if kill {
				for _, id := range rc.IDs() {
					errs = append(errs, rc.Kill(id))
				}
			} else {
				errs = append(errs, rc.Stop())
			}
		}
		if tc != nil {
			if kill {
				for _, n := range tc.Nodes() {
					errs = append(errs, tc.Kill(n))
				}
			} else {
				errs = append(errs, tc.Stop())
			}
		}
		return errors.Join(errs...)
	}
	s.waitHealthy = func(ctx context.Context, timeout time.Duration) error {
		var errs []error
		if rc != nil {
			if err := rc.WaitHealthy(ctx, timeout); err != nil {
				errs = append(errs, fmt.Errorf("raft: %w", err))
			}
		}
		if tc != nil {
			if err := tc.WaitHealthy(ctx, timeout); err != nil {
				errs = append(errs, fmt.Errorf("2pc: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	fail := func(err error) (*sut, error) {
		s.stopFn(true)
		return nil, err
	}

	if spec.RaftNodes > 0 {
		rc, err = cluster.StartRaft(ctx, cluster.RaftConfig{N: spec.RaftNodes, Dir: nodes, Bin: bin, ExtraArgs: raftBugs})
		if err != nil {
			return fail(err)
		}
		s.target.Raft = rc
	}
	if p := spec.TwoPC; p != nil {
		tcfg := cluster.TwoPCConfig{Dir: nodes, Bin: bin, Participants: p.Participants,
			InitialBalance: p.InitialBalance, ExtraArgs: twopcBugs}
		if len(p.Accounts) > 0 {
			tcfg.Accounts = make(map[string]int64, len(p.Accounts))
			for _, a := range p.Accounts {
				tcfg.Accounts[a] = p.InitialBalance
			}
		}
		tc, err = cluster.StartTwoPC(ctx, tcfg)
		if err != nil {
			return fail(err)
		}
		s.target.TwoPC = tc
	}
	if rc == nil && tc == nil {
		return fail(fmt.Errorf("workload %s boots nothing: %+v", cfg.Workload, spec))
	}
	if err := s.healthy(ctx, bootTimeout); err != nil {
		return fail(fmt.Errorf("cluster not healthy after boot: %w", err))
	}
	return s, nil
}

// bugArgs splits seeded bugs into the --sut-bug arguments of Raft nodes
// and of 2PC nodes: each node kind refuses a name it does not know.
func bugArgs(bugs []string) (raft, twopcArgs []string) {
	for _, b := range bugs {
		if slices.Contains(raftsql.BugNames(), b) {
			raft = append(raft, "--sut-bug", b)
		}
		if slices.Contains(twopc.BugNames(), b) {
			twopcArgs = append(twopcArgs, "--sut-bug", b)
		}
	}
	return raft, twopcArgs
}

// checkBugs makes sure every seeded bug reaches a node that has it: a
// bug no booted node knows would make a self-test pass vacuously.
func checkBugs(bugs []string, spec workload.BootSpec, workloadName string) error {
	for _, b := range bugs {
		raft, tp := slices.Contains(raftsql.BugNames(), b), slices.Contains(twopc.BugNames(), b)
		switch {
		case !raft && !tp:
			return configErrorf("unknown SUT bug %q (raft nodes know %s; 2pc nodes know %s)", b,
				strings.Join(raftsql.BugNames(), ", "), strings.Join(twopc.BugNames(), ", "))
		case raft && spec.RaftNodes > 0, tp && spec.TwoPC != nil:
		default:
			return configErrorf("SUT bug %q: no node the %s workload boots has it", b, workloadName)
		}
	}
	return nil
}

// checkNemesis rejects a nemesis that has nothing to act on in what the
// workload boots: its faults would all be errors, and the run would test
// nothing while looking like it did.
func checkNemesis(spec string, boot workload.BootSpec, workloadName string) error {
	for _, name := range strings.Split(spec, ",") {
		switch name = strings.TrimSpace(name); {
		case (name == "restart-leader" || name == "lag-follower") && boot.RaftNodes == 0:
			return configErrorf("nemesis %s needs a Raft cluster; the %s workload boots none (try kill or alternate-kill)", name, workloadName)
		case (name == "alternate-kill" || name == "restart-coordinator" || name == "coordinator-crash") && boot.TwoPC == nil:
			return configErrorf("nemesis %s needs a 2PC cluster; the %s workload boots none (try restart-leader or kill)", name, workloadName)
		}
	}
	return nil
}
