package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// These tests drive the run phases with an in-process fake workload,
// nemesis and SUT: fast, and exact about what the runner itself does.
// integration_test.go runs the real thing.

type fakeWorkload struct {
	verdict       checker.Validity
	finalReadErr  error
	finalReads    atomic.Int32
	clientStarted chan struct{} // closed at the first invoke
	started       atomic.Bool
}

// fakeWorkload is the workload and, through fakeSystem, its driver.
func (*fakeWorkload) Name() string                            { return "fake" }
func (*fakeWorkload) Setup(context.Context) error             { return nil }
func (*fakeWorkload) Generator(seed int64) workload.Generator { return fakeGen{} }
func (*fakeWorkload) FinalOps() []history.Op                  { return []history.Op{{F: "read-all"}} }
func (w *fakeWorkload) Checkers(outDir string) []checker.Checker {
	return []checker.Checker{fixedChecker{w.verdict}}
}
func (w *fakeWorkload) NewClient(int64) (workload.Client, error) {
	return fakeClient{w}, nil
}

type fakeGen struct{}

func (fakeGen) Next(int64) history.Op { return history.Op{F: "write", Key: "k", Value: 1} }

type fakeClient struct{ w *fakeWorkload }

func (c fakeClient) Invoke(ctx context.Context, op history.Op) history.Op {
	if op.F == "read-all" {
		c.w.finalReads.Add(1)
		if c.w.finalReadErr != nil {
			op.Type, op.Error = history.Fail, c.w.finalReadErr.Error()
			return op
		}
		op.Type, op.Value = history.OK, []any{}
		return op
	}
	if c.w.clientStarted != nil && c.w.started.CompareAndSwap(false, true) {
		close(c.w.clientStarted)
	}
	select {
	case <-ctx.Done():
		op.Type, op.Error = history.Info, ctx.Err().Error()
	case <-time.After(2 * time.Millisecond):
		op.Type = history.OK
	}
	return op
}
func (fakeClient) Close() error { return nil }

type fixedChecker struct{ v checker.Validity }

func (fixedChecker) Name() string { return "fixed" }
func (c fixedChecker) Check(context.Context, history.History) checker.Result {
	return checker.Result{Checker: "fixed", Valid: c.v}
}

type fakeNemesis struct{ healed atomic.Int32 }

func (*fakeNemesis) Name() string                               { return "fake-kill" }
func (*fakeNemesis) Setup(context.Context, target.System) error { return nil }
func (*fakeNemesis) Op(rng *rand.Rand) history.Op {
	return history.Op{F: "kill", Value: fmt.Sprintf("n%d", rng.Intn(2)+1)}
}
func (*fakeNemesis) Close() error                                { return nil }
func (n *fakeNemesis) Heal(context.Context, target.System) error { n.healed.Add(1); return nil }
func (*fakeNemesis) Invoke(_ context.Context, _ target.System, op history.Op) history.Op {
	op.Type = history.Info
	return op
}

// fakeBoot lays out node dirs as the real boot does and remembers how the
// nodes were stopped.
type fakeBoot struct {
	stopped, killed atomic.Bool
	w               *fakeWorkload
}

// fakeSystem is two nodes that do nothing; its driver is the workload.
type fakeSystem struct {
	b *fakeBoot
	w *fakeWorkload
}

func (fakeSystem) Nodes() []string                                  { return []string{"n1", "n2"} }
func (fakeSystem) Running(string) bool                              { return true }
func (fakeSystem) Kill(string) error                                { return nil }
func (fakeSystem) Start(context.Context, string) error              { return nil }
func (fakeSystem) Pause(string) error                               { return nil }
func (fakeSystem) Resume(string) error                              { return nil }
func (fakeSystem) WaitHealthy(context.Context, time.Duration) error { return nil }
func (s fakeSystem) Driver() workload.Driver                        { return s.w }
func (s fakeSystem) Stop(kill bool) error {
	s.b.stopped.Store(true)
	s.b.killed.Store(kill)
	return nil
}

// runFake runs cfg with w and a fresh fake system whose driver is w.
func runFake(ctx context.Context, cfg Config, w *fakeWorkload) (Outcome, error) {
	return runWith(ctx, cfg, w, &fakeNemesis{}, (&fakeBoot{w: w}).boot)
}

func (b *fakeBoot) boot(_ context.Context, dir *store.Run, _ Config) (target.System, error) {
	for i := 1; i <= 2; i++ {
		nd := dir.NodeDir(fmt.Sprintf("n%d", i))
		if err := os.MkdirAll(filepath.Join(nd, "data"), 0o755); err != nil {
			return nil, err
		}
		os.WriteFile(filepath.Join(nd, "data", "raft.db"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(nd, store.NodeLogFile), []byte("started\n"), 0o644)
	}
	return fakeSystem{b: b, w: b.w}, nil
}

func fakeConfig(t *testing.T) Config {
	c := Defaults()
	c.Workload, c.Nemesis, c.Seed = "fake", "fake-kill", 7
	c.Store = t.TempDir()
	c.TimeLimit, c.NemesisInterval, c.Rate = 300*time.Millisecond, 50*time.Millisecond, 0
	c.CheckTimeout = 10 * time.Second
	c.Log = testLogger(t)
	return c
}

// testLogger logs into the test's output, shown when it fails or with -v.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

func TestRunStoresACompleteRunDirectory(t *testing.T) {
	cfg := fakeConfig(t)
	w, nem := &fakeWorkload{verdict: checker.Valid}, &fakeNemesis{}
	b := &fakeBoot{w: w}
	out, err := runWith(context.Background(), cfg, w, nem, b.boot)
	if err != nil {
		t.Fatal(err)
	}
	if out.Results.Valid != checker.Valid {
		t.Fatalf("verdict %s, want valid; notes %v", out.Results.Valid, out.Results.Notes)
	}
	for _, f := range []string{store.ConfigFile, store.HistoryFile, store.ResultsFile, "nodes/n1/node.log", "nodes/n2/node.log"} {
		if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out.Dir, "nodes/n1/data")); !os.IsNotExist(err) {
		t.Errorf("node data kept after a valid run: %v", err)
	}
	if latest, _ := filepath.EvalSymlinks(filepath.Join(cfg.Store, store.LatestLink)); latest != out.Dir {
		t.Errorf("latest -> %s, want %s", latest, out.Dir)
	}
	if !b.stopped.Load() || b.killed.Load() || nem.healed.Load() != 1 || w.finalReads.Load() != 1 {
		t.Errorf("stopped %v killed %v healed %d final reads %d; want a graceful stop after one heal and one final read",
			b.stopped.Load(), b.killed.Load(), nem.healed.Load(), w.finalReads.Load())
	}

	h, warns, err := history.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
	if err != nil || len(warns) > 0 {
		t.Fatalf("history: %v %v", err, warns)
	}
	if err := history.Validate(h, nil, store.HistoryFile); err != nil {
		t.Errorf("stored history is malformed: %v", err)
	}
	kills, lastF := 0, h[len(h)-1].F
	for _, op := range h {
		if op.F == "kill" && op.Type == history.Invoke {
			kills++
		}
	}
	if kills < 2 || lastF != "read-all" {
		t.Errorf("history has %d kills and ends with %s; want nemesis ops and the final read last", kills, lastF)
	}

	res, err := store.Load(out.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seed != 7 || res.Ops != len(h) || res.Counts["write"] == nil || res.NemesisCounts["kill"] == nil || len(res.Checkers) != 2 {
		t.Errorf("results.json: seed %d ops %d (history %d) counts %v nemesis %v checkers %d",
			res.Seed, res.Ops, len(h), res.Counts, res.NemesisCounts, len(res.Checkers))
	}
	var cfgBack Config
	b2, _ := os.ReadFile(filepath.Join(out.Dir, store.ConfigFile))
	if err := cfgBack.UnmarshalJSON(b2); err != nil || cfgBack.Seed != 7 || cfgBack.TimeLimit != cfg.TimeLimit {
		t.Errorf("config.json: %+v, %v", cfgBack, err)
	}
}

func TestRunWithRoundsLastsUntilTheRoundsAreDone(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.TimeLimit, cfg.Rounds = 0, 4
	out, err := runFake(context.Background(), cfg, &fakeWorkload{verdict: checker.Valid})
	if err != nil {
		t.Fatal(err)
	}
	if k := out.Results.NemesisCounts["kill"]; k == nil || k.Invoke != 4 || k.Info != 4 {
		t.Errorf("nemesis counts %+v, want exactly 4 kill rounds", k)
	}
	if out.Results.Valid != checker.Valid {
		t.Errorf("verdict %s, notes %v", out.Results.Valid, out.Results.Notes)
	}
}

func TestInterruptedRunIsCheckedAndStoredUnknown(t *testing.T) {
	cfg := fakeConfig(t)
	cfg.TimeLimit = time.Hour
	w := &fakeWorkload{verdict: checker.Valid, clientStarted: make(chan struct{})}
	b := &fakeBoot{w: w}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-w.clientStarted
		cancel()
	}()
	done := make(chan struct{})
	var out Outcome
	var err error
	go func() { defer close(done); out, err = runWith(ctx, cfg, w, &fakeNemesis{}, b.boot) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not end 30s after its context was cancelled")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !out.Results.Interrupted || out.Results.Valid != checker.Unknown {
		t.Errorf("interrupted %v verdict %s; want interrupted and unknown (no final read)", out.Results.Interrupted, out.Results.Valid)
	}
	if !b.killed.Load() || w.finalReads.Load() != 0 {
		t.Errorf("nodes killed %v, final reads %d; want killed, none", b.killed.Load(), w.finalReads.Load())
	}
	res, err := store.Load(out.Dir)
	if err != nil || !res.Interrupted || res.Ops == 0 {
		t.Errorf("results.json after interrupt: %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(out.Dir, "nodes/n1/data/raft.db")); err != nil {
		t.Errorf("node data of an unknown run removed: %v", err)
	}
}

func TestVerdictWithoutFinalReadIsNeverValid(t *testing.T) {
	for _, tc := range []struct {
		checked, want checker.Validity
	}{{checker.Valid, checker.Unknown}, {checker.Invalid, checker.Invalid}} {
		cfg := fakeConfig(t)
		w := &fakeWorkload{verdict: tc.checked, finalReadErr: errors.New("no leader")}
		out, err := runFake(context.Background(), cfg, w)
		if err != nil {
			t.Fatal(err)
		}
		if out.Results.Valid != tc.want {
			t.Errorf("checkers %s, final read failed: verdict %s, want %s", tc.checked, out.Results.Valid, tc.want)
		}
		if _, err := os.Stat(filepath.Join(out.Dir, "nodes/n1/data")); err != nil {
			t.Errorf("node data of a %s run removed: %v", out.Results.Valid, err)
		}
	}
}

func TestBootFailureStillWritesResults(t *testing.T) {
	cfg := fakeConfig(t)
	failing := func(context.Context, *store.Run, Config) (target.System, error) {
		return nil, errors.New("port taken")
	}
	out, err := runWith(context.Background(), cfg, &fakeWorkload{verdict: checker.Valid}, &fakeNemesis{}, failing)
	if err == nil || IsConfigError(err) {
		t.Fatalf("boot failure: err %v, want an internal error", err)
	}
	res, lerr := store.Load(out.Dir)
	if lerr != nil || res.Valid != checker.Unknown || len(res.Notes) == 0 {
		t.Errorf("results.json after a failed boot: %+v, %v", res, lerr)
	}
}

func TestSameSeedSameNemesisSchedule(t *testing.T) {
	targets := func(seed int64) string {
		cfg := fakeConfig(t)
		cfg.Seed, cfg.TimeLimit, cfg.Rounds = seed, 0, 8
		cfg.NemesisInterval = 10 * time.Millisecond
		out, err := runFake(context.Background(), cfg, &fakeWorkload{verdict: checker.Valid})
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := history.ReadFile(filepath.Join(out.Dir, store.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		var s string
		for _, op := range h {
			if op.F == "kill" && op.IsInvoke() {
				s += fmt.Sprint(op.Value) + " "
			}
		}
		return s
	}
	a, b := targets(11), targets(11)
	if a != b || a == "" {
		t.Errorf("seed 11 chose kill targets %q, then %q", a, b)
	}
	// 8 draws of n1/n2: two seeds agree by chance with probability 1/256.
	if c := targets(12); c == a {
		t.Errorf("seeds 11 and 12 chose the same kill targets %q", a)
	}
}
