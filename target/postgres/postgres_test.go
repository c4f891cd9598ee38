package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/targettest"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// TestKVWorkloadsValidUnderKill: bank, register and set run at once on
// one serializable server that is SIGKILLed and restarted every 2s; the
// existing checkers find each history valid (no false alarm from the
// error classification), and the load saw both ok and failed ops.
func TestKVWorkloadsValidUnderKill(t *testing.T) {
	wopts := workload.Options{Concurrency: 4, TimeLimit: 8 * time.Second, OpTimeout: 2 * time.Second, Seed: 7}
	s := bootSystem(t, "bank", target.Options{FlagIsolation: "serializable"}, wopts)
	loads := map[string]*targettest.Load{}
	var checkers = map[string][]checker.Checker{}
	for _, name := range []string{"bank", "register", "set"} {
		w, err := workload.ByName(name, wopts)
		if err != nil {
			t.Fatal(err)
		}
		drv, err := NewDriver(name, s.dsn, pgx.Serializable, Node, wopts)
		if err != nil {
			t.Fatal(err)
		}
		loads[name] = targettest.NewLoad(t, drv, w.Generator(wopts.Seed), wopts)
		checkers[name] = w.Checkers(t.TempDir())
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { nemesis(ctx, t, s, loads["bank"].Rec, "kill", 2*time.Second) })
	stats := map[string]workload.Stats{}
	var mu sync.Mutex
	var lw sync.WaitGroup
	for name, l := range loads {
		lw.Go(func() {
			st := l.Run(t)
			mu.Lock()
			stats[name] = st
			mu.Unlock()
		})
	}
	lw.Wait()
	stop()
	wg.Wait()

	loads["bank"].Final(t, "read-balances")
	loads["bank"].Final(t, "final-read")
	loads["set"].Final(t, "read-all")
	for name, l := range loads {
		st := stats[name]
		t.Logf("%s: %d ops: %d ok, %d fail, %d info", name, st.Invoked, st.OK, st.Fail, st.Info)
		if st.OK == 0 || st.Fail+st.Info == 0 {
			t.Errorf("%s: %d ok, %d fail, %d info: want both successes and the kills' failures", name, st.OK, st.Fail, st.Info)
		}
		targettest.RequireValid(t, name, l.Judge(checkers[name]))
	}
}

// TestCasFailsWhenCompareDoesNotHold: a cas is fail exactly when the
// register does not hold its from value.
func TestCasFailsWhenCompareDoesNotHold(t *testing.T) {
	s := bootSystem(t, "register", nil, workload.Options{Keys: 1})
	if err := s.Driver().Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Driver().NewClient(0)
	defer c.Close()
	for _, tc := range []struct {
		op   history.Op
		want history.Type
		val  any
	}{
		{history.Op{F: "cas", Key: "k0", Value: []any{int64(1), int64(2)}}, history.Fail, nil},
		{history.Op{F: "cas", Key: "k0", Value: []any{int64(0), int64(2)}}, history.OK, nil},
		{history.Op{F: "read", Key: "k0"}, history.OK, int64(2)},
		{history.Op{F: "write", Key: "k0", Value: int64(5)}, history.OK, nil},
		{history.Op{F: "read", Key: "k0"}, history.OK, int64(5)},
		{history.Op{F: "read", Key: "k9"}, history.OK, nil},
	} {
		got := c.Invoke(context.Background(), tc.op)
		if got.Type != tc.want || (tc.op.F == "read" && got.Value != tc.val) {
			t.Errorf("%s %s %v: %s %v (%s), want %s %v", tc.op.F, tc.op.Key, tc.op.Value, got.Type, got.Value, got.Error, tc.want, tc.val)
		}
	}
}

// TestAttachRefusesProcessFaults: with --dsn the target starts nothing,
// advertises no process faults, refuses them, and still runs the
// workload.
func TestAttachRefusesProcessFaults(t *testing.T) {
	owner := bootSystem(t, "set", nil, workload.Options{})
	opts := target.Options{FlagDSN: owner.dsn}
	if fs := (Target{}).Features(opts); len(fs) != 0 {
		t.Errorf("attached features %v, want none", fs)
	}
	if _, ok := target.Has((Target{}).Features(nil), target.Kill, target.Pause); !ok {
		t.Error("a started server must advertise kill and pause")
	}
	sys, err := Target{}.Boot(context.Background(), target.Env{Dir: t.TempDir(), Workload: "set", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop(false)
	for name, err := range map[string]error{"kill": sys.Kill(Node), "pause": sys.Pause(Node), "start": sys.Start(context.Background(), Node)} {
		if !errors.Is(err, target.ErrNoProcessControl) {
			t.Errorf("%s on an attached server: %v, want ErrNoProcessControl", name, err)
		}
	}
	if err := sys.Driver().Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := sys.Driver().NewClient(0)
	defer c.Close()
	if got := c.Invoke(context.Background(), history.Op{F: "add", Value: int64(1)}); got.Type != history.OK {
		t.Errorf("add on the attached server: %s %s", got.Type, got.Error)
	}
	if err := sys.Stop(false); err != nil || !owner.srv.Running() {
		t.Errorf("Stop of an attached system: %v; the server must keep running", err)
	}
}

func TestBootRejectsBadOptions(t *testing.T) {
	for name, env := range map[string]target.Env{
		"isolation": {Workload: "set", Options: target.Options{FlagIsolation: "snapshot"}},
		"workload":  {Workload: "retry"},
		"bug":       {Workload: "set", Bugs: []string{"x"}},
		"pg-bin":    {Workload: "set", Options: target.Options{FlagPGBin: "/nonexistent"}},
	} {
		env.Dir = t.TempDir()
		if sys, err := (Target{}).Boot(context.Background(), env); err == nil {
			sys.Stop(true)
			t.Errorf("%s: Boot accepted %+v", name, env)
		} else if ce := (*target.ConfigError)(nil); !errors.As(err, &ce) {
			t.Errorf("%s: %v is not a *target.ConfigError (exit 254)", name, err)
		}
		// The same refusal before anything is booted (no run directory).
		if err := (Target{}).CheckOptions(env.Options, env.Nodes, env.Workload, env.Bugs); err == nil {
			t.Errorf("%s: CheckOptions accepted %+v", name, env)
		}
	}
}

// TestRWRegisterTxn: a txn's reads see its own writes, a key never
// written reads nil, and writes persist for the next txn.
func TestRWRegisterTxn(t *testing.T) {
	s := bootSystem(t, "rw-register", nil, workload.Options{})
	if err := s.Driver().Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	c, _ := s.Driver().NewClient(0)
	defer c.Close()
	for _, tc := range []struct {
		in, want []any
	}{
		{[]any{[]any{"r", int64(1), nil}, []any{"w", int64(1), int64(5)}, []any{"r", int64(1), nil}},
			[]any{[]any{"r", int64(1), nil}, []any{"w", int64(1), int64(5)}, []any{"r", int64(1), int64(5)}}},
		{[]any{[]any{"r", int64(1), nil}, []any{"r", int64(2), nil}},
			[]any{[]any{"r", int64(1), int64(5)}, []any{"r", int64(2), nil}}},
	} {
		got := c.Invoke(context.Background(), history.Op{F: "txn", Value: tc.in})
		if got.Type != history.OK || fmt.Sprint(got.Value) != fmt.Sprint(tc.want) {
			t.Errorf("txn %v: %s %v (%s), want ok %v", tc.in, got.Type, got.Value, got.Error, tc.want)
		}
	}
}
