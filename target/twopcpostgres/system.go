package twopcpostgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/pgserver"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// system is the coordinator process, and per participant a PostgreSQL
// server with its front.
type system struct {
	log     *slog.Logger
	opts    workload.Options
	net     target.Net
	names   []string // participants, sorted (p1 … p9; more would sort p10 first)
	servers map[string]*pgserver.Server
	fronts  map[string]*twopc.PGParticipant
	apis    map[string]string // node → API address (the coordinator's and the fronts')
	coord   *cluster.Proc
	client  *twopc.Client
	drv     *driver

	holdMu sync.Mutex
	hold   *time.Timer // ends a Hold nobody released
}

func (s *system) Nodes() []string { return append(slices.Clone(s.names), Coordinator) }

func (s *system) Running(node string) bool {
	if node == Coordinator {
		return s.coord != nil && s.coord.Running()
	}
	srv := s.servers[node]
	return srv != nil && srv.Running()
}

func (s *system) server(node string) (*pgserver.Server, error) {
	srv := s.servers[node]
	if srv == nil {
		return nil, fmt.Errorf("twopc-postgres: no node %q (nodes: %v)", node, s.Nodes())
	}
	return srv, nil
}

// Kill kills the coordinator, or a participant's PostgreSQL server with
// every backend: what it had prepared stays in pg_prepared_xacts.
func (s *system) Kill(node string) error {
	if node == Coordinator {
		return s.coord.Kill()
	}
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Kill()
}

func (s *system) Start(ctx context.Context, node string) error {
	if node == Coordinator {
		return s.startCoordinator(ctx)
	}
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Start(ctx)
}

func (s *system) startCoordinator(ctx context.Context) error {
	if err := s.coord.Start(); err != nil {
		return err
	}
	return cluster.WaitFor(ctx, cluster.NodeUpTimeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		if !s.coord.Running() {
			return false, errors.New("coordinator exited")
		}
		_, err := s.client.Status(ctx)
		return err == nil, err
	})
}

func (s *system) Pause(node string) error {
	if node == Coordinator {
		return s.coord.Pause()
	}
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Pause()
}

func (s *system) Resume(node string) error {
	if node == Coordinator {
		return s.coord.Resume()
	}
	srv, err := s.server(node)
	if err != nil {
		return err
	}
	return srv.Resume()
}

// WaitHealthy waits until every node runs, the coordinator has no commit
// left to re-drive and no participant has a prepared transaction.
func (s *system) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	return cluster.WaitFor(ctx, timeout, 25*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, n := range s.Nodes() {
			if !s.Running(n) {
				return false, fmt.Errorf("%s not running", n)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := s.client.Status(cctx)
		if err != nil {
			return false, err
		}
		if st.PendingCommits > 0 {
			return false, fmt.Errorf("coordinator has %d commits to re-drive", st.PendingCommits)
		}
		obs, err := s.Observe(cctx)
		if err != nil {
			return false, err
		}
		for _, p := range s.names {
			if len(obs[p].InDoubt) > 0 {
				return false, fmt.Errorf("%s has prepared transactions %v", p, obs[p].InDoubt)
			}
		}
		return true, nil
	})
}

func (s *system) Driver() workload.Driver { return s.drv }

// Stop ends the coordinator, the fronts and the servers; nothing is left
// running.
func (s *system) Stop(kill bool) error {
	var errs []error
	if s.coord != nil {
		if kill {
			errs = append(errs, s.coord.Kill())
		} else {
			errs = append(errs, s.coord.Stop(5*time.Second))
		}
	}
	for _, f := range s.fronts {
		errs = append(errs, f.Close())
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, srv := range s.servers {
		wg.Go(func() {
			err := srv.Stop(kill)
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Participants lists the participant nodes, sorted.
func (s *system) Participants() []string { return slices.Clone(s.names) }

// holdTerm holds every transaction reaching the commit window until the
// failpoint is switched off (sut/twopc/failpoints.go).
const holdTerm = `return("hold")`

// Hold opens the commit window at the coordinator and waits until a
// transaction that spans participant and another participant is held
// there: its commit decision is durable and both have it prepared
// (pg_prepared_xacts), the case where killing one participant can break
// atomicity. Other held transactions are let through. The window closes
// by itself after hold.
func (s *system) Hold(ctx context.Context, participant string, hold time.Duration) (string, error) {
	front := s.fronts[participant]
	if front == nil {
		return "", fmt.Errorf("twopc-postgres: no participant %q (participants: %v)", participant, s.names)
	}
	hc := s.client.HTTPClient()
	coord := "http://" + s.apis[Coordinator]
	if err := failpoint.Enable(hc, coord, twopc.FPCoordinatorBeforeCommit, holdTerm); err != nil {
		return "", err
	}
	var held string
	err := cluster.WaitFor(ctx, 30*time.Second, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := s.client.Status(ctx)
		if err != nil {
			return false, err
		}
		var ids []string
		for _, h := range st.Held {
			if h.Failpoint == twopc.FPCoordinatorBeforeCommit {
				ids = append(ids, h.TxID)
			}
		}
		if len(ids) == 0 {
			return false, nil
		}
		obs, err := s.Observe(ctx)
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			if spans(obs, participant, id) {
				held = id
				return true, nil
			}
		}
		// None spans participant and another: let them go and hold the next ones.
		if err := failpoint.Disable(hc, coord, twopc.FPCoordinatorBeforeCommit); err != nil {
			return false, err
		}
		return false, failpoint.Enable(hc, coord, twopc.FPCoordinatorBeforeCommit, holdTerm)
	})
	if err != nil {
		failpoint.Disable(hc, coord, twopc.FPCoordinatorBeforeCommit)
		return "", fmt.Errorf("no transaction spanning %s reached the commit window: %w", participant, err)
	}
	s.holdMu.Lock()
	if s.hold != nil {
		s.hold.Stop()
	}
	s.hold = time.AfterFunc(hold, func() { failpoint.Disable(hc, coord, twopc.FPCoordinatorBeforeCommit) })
	s.holdMu.Unlock()
	s.log.Info("holding a transaction in the commit window", "tx_id", held, "participant", participant)
	return held, nil
}

// Release closes the commit window and waits until txID has left it.
func (s *system) Release(ctx context.Context, txID string) error {
	s.holdMu.Lock()
	if s.hold != nil {
		s.hold.Stop()
		s.hold = nil
	}
	s.holdMu.Unlock()
	if err := failpoint.Disable(s.client.HTTPClient(), "http://"+s.apis[Coordinator], twopc.FPCoordinatorBeforeCommit); err != nil {
		return err
	}
	return cluster.WaitFor(ctx, 30*time.Second, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := s.client.Status(ctx)
		if err != nil {
			return false, err
		}
		return !slices.ContainsFunc(st.Held, func(h twopc.Held) bool { return h.TxID == txID }), nil
	})
}

// Observe reads every participant's database: prepared transactions and
// effect rows per tx_id.
func (s *system) Observe(ctx context.Context) (map[string]target.Observation, error) {
	out := map[string]target.Observation{}
	for _, p := range s.names {
		o, err := s.fronts[p].Observe(ctx)
		if err != nil {
			return nil, fmt.Errorf("observe %s: %w", p, err)
		}
		out[p] = target.Observation{InDoubt: o.InDoubt, Effects: o.Effects}
	}
	return out, nil
}

// spans says whether participant and, when there are others, at least
// one of them have voted yes on txID: it is prepared there (or, on a
// participant with a seeded bug that commits early, applied).
func spans(obs map[string]target.Observation, participant, txID string) bool {
	voted := func(o target.Observation) bool { return slices.Contains(o.InDoubt, txID) || o.Effects[txID] > 0 }
	if !voted(obs[participant]) {
		return false
	}
	if len(obs) == 1 {
		return true
	}
	for p, o := range obs {
		if p != participant && voted(o) {
			return true
		}
	}
	return false
}

var _ target.CommitWindow = (*system)(nil)
