package twopcpostgres

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/targettest"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

var (
	haveBinary bool
	bugSeeds   = flag.Int("bug-seeds", 1, "TestSeededBugsCaught: seeds to run per bug (the detection rate is measured with 5)")
)

// The coordinator is a `chaoscheck node coordinator` process: TestMain
// builds the binary.
func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

func boot(t *testing.T, w string, wopts workload.Options, bugs ...string) *system {
	t.Helper()
	if !haveBinary {
		t.Skip("-short: no chaoscheck binary for the coordinator")
	}
	return targettest.Boot(t, Target{}, target.Env{Workload: w, WorkloadOptions: wopts, Bugs: bugs}, func(sys target.System) []string {
		s := sys.(*system)
		var left []string
		for name, srv := range s.servers {
			for _, p := range srv.Leftovers() {
				left = append(left, fmt.Sprintf("%s pid %d", name, p))
			}
		}
		if s.coord.Running() {
			left = append(left, "coordinator")
		}
		return left
	}).(*system)
}

// round is what one alternate-kill round saw.
type round struct {
	participant, held string
	effects           map[string]int // the held tx's effect rows per participant, once resolved
}

// alternateKill is the mission's scenario through target.CommitWindow,
// as the alternate-kill nemesis runs it: hold a transaction spanning the
// participant in the commit window, SIGKILL that participant's PostgreSQL
// server and restart it (crash recovery keeps the prepared transaction),
// release the window, and wait until nothing is in doubt.
func alternateKill(ctx context.Context, s *system, rec *history.Recorder, rounds int) ([]round, error) {
	var out []round
	for i := range rounds {
		p := s.Participants()[i%2]
		inv := rec.Record(history.Op{Type: history.Invoke, Process: -1, F: "alternate-kill", Value: p})
		r, err := killInWindow(ctx, s, p)
		done := inv
		done.Type, done.Value = history.Info, fmt.Sprintf("%s held %s", p, r.held)
		if err != nil {
			done.Error = err.Error()
		}
		rec.Record(done)
		if err != nil {
			return out, fmt.Errorf("round %d: %w", i+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func killInWindow(ctx context.Context, s *system, p string) (round, error) {
	r := round{participant: p}
	held, err := s.Hold(ctx, p, 20*time.Second)
	if err != nil {
		return r, err
	}
	r.held = held
	if err := s.Kill(p); err != nil {
		return r, err
	}
	if err := s.Start(ctx, p); err != nil {
		return r, err
	}
	if err := s.Release(ctx, held); err != nil {
		return r, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		obs, err := s.Observe(ctx)
		if err == nil {
			r.effects = map[string]int{}
			doubt := false
			for name, o := range obs {
				r.effects[name] = o.Effects[held]
				doubt = doubt || len(o.InDoubt) > 0
			}
			if !doubt {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("still in doubt 15s after the release: %v %v", obs, err)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// scenario runs workload w with the alternate-kill rounds running beside
// it, then heals, records the final reads and judges with the workload's
// checkers.
func scenario(t *testing.T, w string, seed int64, rounds int, bugs ...string) ([]checker.Result, []round, *system) {
	t.Helper()
	// The load lasts until the rounds are done and a second more (at most
	// TimeLimit): on a loaded machine a round takes several seconds.
	wopts := workload.Options{Concurrency: 5, TimeLimit: 90 * time.Second, OpTimeout: 3 * time.Second, Seed: seed}
	s := boot(t, w, wopts, bugs...)
	wl, err := workload.ByName(w, wopts)
	if err != nil {
		t.Fatal(err)
	}
	l := targettest.NewLoad(t, s.Driver(), wl.Generator(seed), wopts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var rs []round
	var nerr error
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		defer close(stop)
		rs, nerr = alternateKill(ctx, s, l.Rec, rounds)
		if nerr == nil {
			time.Sleep(time.Second) // load after the last round, not a wait for a condition
		}
	})
	st := l.RunUntil(t, stop)
	wg.Wait()
	if nerr != nil {
		t.Fatal(nerr)
	}
	// A seeded bug may leave commits the coordinator re-drives forever.
	heal := 30 * time.Second
	if len(bugs) > 0 {
		heal = 3 * time.Second
	}
	if err := s.WaitHealthy(ctx, heal); err != nil {
		if len(bugs) == 0 {
			t.Fatal(err)
		}
		t.Logf("with %v: %v", bugs, err)
	}
	l.Final(t, "read-balances")
	l.Final(t, "final-read")
	t.Logf("seed %d: %d ops: %d ok, %d fail, %d info; rounds %+v", seed, st.Invoked, st.OK, st.Fail, st.Info, rs)
	return l.Judge(wl.Checkers(t.TempDir())), rs, s
}

// TestBankValidUnderAlternateKill: four rounds of a PostgreSQL participant
// killed inside the commit window; every tx_id is applied once on every
// participant, money is conserved, each held transaction ends committed
// on both participants, and nothing is left in pg_prepared_xacts.
func TestBankValidUnderAlternateKill(t *testing.T) {
	results, rounds, s := scenario(t, "bank", 1, 4)
	targettest.RequireValid(t, "bank", results)
	for _, r := range rounds {
		for _, p := range s.Participants() {
			if r.effects[p] != 1 {
				t.Errorf("held tx %s (participant %s killed): %d effect rows on %s, want 1", r.held, r.participant, r.effects[p], p)
			}
		}
	}
	obs, err := s.Observe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range obs {
		if len(o.InDoubt) > 0 {
			t.Errorf("%s: left in pg_prepared_xacts: %v", p, o.InDoubt)
		}
	}
}

// TestRetryValidUnderAlternateKill: the retry workload (tx_ids resubmitted
// after info and as concurrent duplicates) stays exactly-once.
func TestRetryValidUnderAlternateKill(t *testing.T) {
	results, _, _ := scenario(t, "retry", 2, 2)
	targettest.RequireValid(t, "retry", results)
}

// TestSeededBugsCaught: with each seeded bug the same scenario is judged
// invalid on every seed run (-bug-seeds N runs seeds 1…N). no-prepare
// (participants commit one by one at prepare time) shows as soon as a
// participant votes no; forget-prepared (a restarted participant rolls
// back what it prepared) only when a participant dies in the commit
// window.
func TestSeededBugsCaught(t *testing.T) {
	for _, bug := range (Target{}).Bugs() {
		caught := 0
		for seed := int64(1); seed <= int64(*bugSeeds); seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", bug, seed), func(t *testing.T) {
				results, _, _ := scenario(t, "bank", seed, 2, bug)
				invalid := false
				for _, r := range results {
					if r.Valid == checker.Invalid {
						invalid = true
						t.Logf("%s: %v", r.Checker, r.AnomalyKinds())
					}
				}
				if !invalid {
					t.Errorf("%s not caught: %+v", bug, results)
					return
				}
				caught++
			})
		}
		if caught > 0 {
			t.Logf("%s caught on %d of %d seeds", bug, caught, *bugSeeds)
		}
	}
}
