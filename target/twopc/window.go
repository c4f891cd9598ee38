package twopc

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	tpc "github.com/chaoscheck/chaoscheck/sut/twopc"
	"github.com/chaoscheck/chaoscheck/target"
)

// This file holds the commit window (target.CommitWindow) on the embedded
// coordinator: its coordinatorBeforeCommit failpoint holds a transaction
// whose commit decision is durable before any commit message goes out.

// holdWait bounds the wait for a transaction spanning the participant to
// reach the window while the workload's transfers keep arriving.
const holdWait = 15 * time.Second

var hc = &http.Client{Timeout: 5 * time.Second}

func (s *System) Participants() []string { return s.tc.ParticipantNames() }

func (s *System) coordURL() string { return "http://" + s.tc.CoordinatorAPI() }

// Hold makes every transaction that reaches the window sleep there for
// hold, and waits until one that participant has prepared (so it spans
// the participant: killing it then tests its recovery of a prepared
// transaction) is held. Transactions that do not span it pass once their
// sleep ends.
func (s *System) Hold(ctx context.Context, participant string, hold time.Duration) (string, error) {
	if !slices.Contains(s.tc.ParticipantNames(), participant) {
		return "", fmt.Errorf("no participant %q", participant)
	}
	terms := fmt.Sprintf("sleep(%d)", hold.Milliseconds())
	if err := failpoint.Enable(hc, s.coordURL(), tpc.FPCoordinatorBeforeCommit, terms); err != nil {
		return "", err
	}
	cl := s.tc.Client()
	var held string
	err := cluster.WaitFor(ctx, holdWait, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := cl.Status(ctx)
		if err != nil {
			return false, err
		}
		if len(st.Held) == 0 {
			return false, nil
		}
		ps, err := cl.ParticipantStatus(ctx, s.tc.API(participant))
		if err != nil {
			return false, err
		}
		for _, h := range st.Held {
			if h.Failpoint != tpc.FPCoordinatorBeforeCommit {
				continue
			}
			if slices.ContainsFunc(ps.InDoubt, func(id string) bool { return SameTx(id, h.TxID) }) {
				held = h.TxID
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		failpoint.Disable(hc, s.coordURL(), tpc.FPCoordinatorBeforeCommit)
		return "", fmt.Errorf("no transaction spanning %s reached the commit window: %w", participant, err)
	}
	return held, nil
}

// Release switches the window off and waits until txID has left it (its
// sleep ends; transactions arriving now pass at once).
func (s *System) Release(ctx context.Context, txID string) error {
	if err := failpoint.Disable(hc, s.coordURL(), tpc.FPCoordinatorBeforeCommit); err != nil {
		return err
	}
	if txID == "" {
		return nil
	}
	cl := s.tc.Client()
	err := cluster.WaitFor(ctx, holdWait+time.Minute, 10*time.Millisecond, func(ctx context.Context) (bool, error) {
		st, err := cl.Status(ctx)
		if err != nil {
			return false, err
		}
		for _, h := range st.Held {
			if h.TxID == txID {
				return false, nil
			}
		}
		return st.PausedTxID != txID, nil
	})
	if err != nil {
		return fmt.Errorf("held tx %s not released: %w", txID, err)
	}
	return nil
}

// Observe reads every participant's in-doubt transactions and effect rows.
func (s *System) Observe(ctx context.Context) (map[string]target.Observation, error) {
	obs, err := s.tc.Observe(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]target.Observation, len(obs))
	for p, o := range obs {
		out[p] = target.Observation{InDoubt: o.InDoubt, Effects: o.Effects}
	}
	return out, nil
}

// SameTx reports whether a participant's transaction id names tx: the
// tx_id itself, or an attempt of it (a coordinator with the seeded dedup
// bugs names attempts tx_id~suffix).
func SameTx(id, tx string) bool {
	return id == tx || strings.HasPrefix(id, tx+"~")
}
