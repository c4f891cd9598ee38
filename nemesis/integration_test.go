package nemesis_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/target"
	_ "github.com/chaoscheck/chaoscheck/target/all"
	"github.com/chaoscheck/chaoscheck/workload"
)

// The integration tests run each workload against the real system under
// test (node processes from a freshly built binary) with a nemesis, for a
// few seconds, and require the history to hold the faults and the
// workload's checkers to say valid. -short skips them.

var haveBinary bool

func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

// scenario is one workload + nemesis pair, shortened for a test.
type scenario struct {
	target   string // "": the first embedded target with the workload
	workload string
	wopts    workload.Options
	nemesis  string
	nopts    nemesis.Options
	load     time.Duration // how long the workload runs
}

// outcome is what a scenario recorded and how the checkers judged it.
type outcome struct {
	h      history.History
	result checker.Result
}

// nemesisOps returns the nemesis's completions in h, failing t unless
// every nemesis invocation has one.
func (o outcome) nemesisOps(t *testing.T) []history.Op {
	t.Helper()
	var done []history.Op
	open := 0
	for _, op := range o.h {
		if op.Process != history.NemesisProcess {
			continue
		}
		if op.Type == history.Invoke {
			open++
			continue
		}
		open--
		if op.Type != history.Info {
			t.Errorf("nemesis completion %+v is not info", op)
		}
		done = append(done, op)
	}
	if open != 0 {
		t.Errorf("%d nemesis invocations without completion", open)
	}
	return done
}

// count returns how many client completions of f have type typ.
func (o outcome) count(f string, typ history.Type) int {
	n := 0
	for _, op := range o.h {
		if op.IsClient() && op.F == f && op.Type == typ {
			n++
		}
	}
	return n
}

func run(t *testing.T, sc scenario) outcome {
	t.Helper()
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()

	sc.wopts.Seed, sc.nopts.Seed = 1, 2
	if sc.target == "" {
		sc.target = sc.wopts.Target
	}
	tgt := pickTarget(t, sc)
	sc.wopts.Target = tgt.Name()
	w, err := workload.ByName(sc.workload, sc.wopts)
	if err != nil {
		t.Fatal(err)
	}
	// A nemesis that cuts links gets the network layer, and the target
	// routes its peer links through it, as the runner does.
	var net target.Net
	if needs, _ := nemesis.Needs(sc.nemesis); slices.Contains(needs, target.Partition) {
		fn := faultnet.New(nil)
		t.Cleanup(func() {
			if err := fn.Close(); err != nil {
				t.Errorf("close faultnet: %v", err)
			}
		})
		sc.nopts.Net, net = fn, fn
	}
	sys := boot(ctx, t, tgt, sc, dir, net)
	d := sys.Driver()
	if err := d.Setup(ctx); err != nil {
		t.Fatalf("workload setup: %v", err)
	}
	n, err := nemesis.Parse(sc.nemesis, sc.nopts)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctx, sys); err != nil {
		t.Fatalf("nemesis setup: %v", err)
	}
	defer n.Close()

	rec := history.NewRecorder(&bytes.Buffer{})
	// As the runner does: the schedule stops with the load, letting the
	// action under way finish.
	stop := make(chan struct{})
	stopNemesis := func() { close(stop) }
	sc.nopts.Stop = stop
	nemDone := make(chan error, 1)
	go func() { nemDone <- nemesis.RunSchedule(ctx, n, sys, rec, sc.nopts) }()
	wo := sc.wopts
	wo.TimeLimit = sc.load
	st, err := workload.Run(ctx, w, d, rec, wo)
	stopNemesis()
	if err != nil {
		t.Fatalf("workload.Run: %v", err)
	}
	if err := <-nemDone; err != nil {
		t.Fatalf("RunSchedule: %v", err)
	}
	t.Logf("%s + %s: %+v", sc.workload, sc.nemesis, st)
	logErrors(t, rec.History())

	if err := n.Heal(ctx, sys); err != nil {
		t.Fatalf("heal: %v", err)
	}
	healthy(ctx, t, sys)
	fctx, fcancel := context.WithTimeout(ctx, 30*time.Second)
	defer fcancel()
	if _, err := workload.FinalReads(fctx, w.FinalOps(), d, rec, st.NextProcess, sc.wopts.WithDefaults().OpTimeout); err != nil {
		t.Fatalf("final reads: %v", err)
	}
	h := rec.History()
	if err := history.Validate(h, nil, "history"); err != nil {
		t.Fatalf("history not well formed: %v", err)
	}
	res := checker.Compose(w.Checkers(t.TempDir())...).Check(ctx, h)
	if res.Valid != checker.Valid {
		for _, r := range checker.SubResults(res) {
			t.Errorf("checker %s: %v; anomalies %+v; notes %v; counts %v", r.Checker, r.Valid, r.Anomalies, r.Notes, r.Counts)
		}
		t.Fatalf("%s + %s: verdict %v, want valid", sc.workload, sc.nemesis, res.Valid)
	}
	return outcome{h: h, result: res}
}

// pickTarget is sc's target, or the first embedded one that has its
// workload.
func pickTarget(t *testing.T, sc scenario) target.Target {
	t.Helper()
	if sc.target != "" {
		tgt, err := target.ByName(sc.target)
		if err != nil {
			t.Fatal(err)
		}
		return tgt
	}
	for _, tgt := range target.Auto() {
		if target.Supports(tgt, sc.workload) {
			return tgt
		}
	}
	t.Fatalf("no embedded target runs %s", sc.workload)
	return nil
}

// boot starts tgt's nodes in dir, and registers their stop and a check
// that no node process is left.
func boot(ctx context.Context, t *testing.T, tgt target.Target, sc scenario, dir string, net target.Net) target.System {
	t.Helper()
	t.Cleanup(func() { noneLeft(t, dir) })
	sys, err := tgt.Boot(ctx, target.Env{Dir: filepath.Join(dir, "nodes"), Workload: sc.workload, WorkloadOptions: sc.wopts, Net: net})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sys.Stop(false); err != nil {
			t.Errorf("stop %s: %v", tgt.Name(), err)
		}
	})
	return sys
}

func healthy(ctx context.Context, t *testing.T, sys target.System) {
	t.Helper()
	if err := sys.WaitHealthy(ctx, 30*time.Second); err != nil {
		t.Fatalf("not healthy: %v", err)
	}
}

// noneLeft fails t if a process whose command line names dir still runs.
func noneLeft(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir)) {
			t.Errorf("process %d left running: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// fs counts nemesis completions per f, failing t for any that reports
// an error.
func fs(t *testing.T, ops []history.Op) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, op := range ops {
		n[op.F]++
		if op.Error != "" {
			t.Errorf("nemesis op failed: %+v", op)
		}
	}
	return n
}

func TestRegisterUnderRestartLeader(t *testing.T) {
	o := run(t, scenario{
		workload: "register", wopts: workload.Options{Concurrency: 4, Keys: 3, OpTimeout: time.Second},
		nemesis: "restart-leader", nopts: nemesis.Options{Interval: time.Second, Rounds: 2},
		load: 7 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["restart-leader"] != 2 || len(got) != 1 {
		t.Errorf("nemesis did %v, want 2 restart-leader", got)
	}
	for _, op := range ops {
		if name, _ := op.Value.(string); !strings.HasPrefix(name, "n") {
			t.Errorf("restart-leader completion names no node: %+v", op)
		}
	}
	if o.count("write", history.OK) == 0 || o.count("read", history.OK) == 0 || o.count("cas", history.OK) == 0 {
		t.Errorf("no ok reads, writes or cas: the checker judged little")
	}
}

func TestRegisterUnderRestartLeaderAndPause(t *testing.T) {
	o := run(t, scenario{
		workload: "register", wopts: workload.Options{Concurrency: 4, Keys: 3, OpTimeout: time.Second},
		nemesis: "restart-leader,pause", nopts: nemesis.Options{Interval: 600 * time.Millisecond, Rounds: 3},
		load: 7 * time.Second,
	})
	got := fs(t, o.nemesisOps(t))
	if got["restart-leader"] == 0 || got["pause"] == 0 || got["pause"] < got["resume"] || len(o.nemesisOps(t)) != 3 {
		t.Errorf("nemesis did %v, want 3 actions: restart-leader and pause, each pause before its resume", got)
	}
}

func TestSetUnderKill(t *testing.T) {
	o := run(t, scenario{
		workload: "set", wopts: workload.Options{Concurrency: 4, OpTimeout: time.Second},
		nemesis: "kill", nopts: nemesis.Options{Interval: 700 * time.Millisecond, Rounds: 4},
		load: 5 * time.Second,
	})
	if got := fs(t, o.nemesisOps(t)); got["kill"] != 2 || got["start"] != 2 {
		t.Errorf("nemesis did %v, want kill, start, kill, start", got)
	}
	if o.count("read-all", history.OK) != 1 || o.count("add", history.OK) == 0 {
		t.Errorf("want ok adds and one ok read-all")
	}
}

func TestBankUnderAlternateKill(t *testing.T) {
	o := run(t, scenario{
		workload: "bank", wopts: workload.Options{Concurrency: 4, OpTimeout: 3 * time.Second},
		nemesis: "alternate-kill", nopts: nemesis.Options{Interval: 500 * time.Millisecond, Rounds: 2, PauseBeforeCommit: time.Second},
		load: 6 * time.Second,
	})
	ops := o.nemesisOps(t)
	if got := fs(t, ops); got["alternate-kill"] != 2 {
		t.Fatalf("nemesis did %v, want 2 alternate-kill rounds", got)
	}
	for i, op := range ops {
		v, _ := op.Value.(map[string]any)
		want := fmt.Sprintf("p%d", i+1) // p1 on round 1, p2 on round 2
		if v["participant"] != want || v["held_tx"] == "" || v["released"] != true {
			t.Errorf("round %d: %+v, want %s killed while a tx was held, then released", i+1, op, want)
		}
	}
	if o.count("transfer", history.OK) == 0 || o.count("read-balances", history.OK) < 2 || o.count("final-read", history.OK) != 1 {
		t.Errorf("want ok transfers, read-balances and one final-read")
	}
}

func TestRetryUnderDuplicateRetry(t *testing.T) {
	for _, target := range []string{"twopc", "raft"} {
		t.Run(target, func(t *testing.T) {
			o := run(t, scenario{
				workload: "retry", wopts: workload.Options{Concurrency: 4, OpTimeout: time.Second, Target: target},
				// The proxy's fault choices are seeded, so the first requests
				// through it are duplicated and dropped in a fixed pattern; the
				// window only has to let a handful of requests through, even on
				// a loaded machine.
				nemesis: "duplicate-retry", nopts: nemesis.Options{Interval: 1500 * time.Millisecond, Rounds: 2},
				load: 5 * time.Second,
			})
			ops := o.nemesisOps(t)
			if got := fs(t, ops); got["start-duplicate-retry"] != 1 || got["stop-duplicate-retry"] != 1 {
				t.Fatalf("nemesis did %v, want start then stop", got)
			}
			v, _ := ops[1].Value.(map[string]any)
			if dup := asInt(v["duplicated"]); dup == 0 {
				t.Errorf("proxy duplicated no request: %+v", ops[1])
			}
			if drop := asInt(v["dropped"]); drop == 0 {
				t.Errorf("proxy dropped no response: %+v", ops[1])
			}
			// Some tx_id was attempted more than once.
			attempts := map[string]int{}
			most := 0
			for _, op := range o.h {
				if op.Type == history.Invoke && op.TxID != "" {
					attempts[op.TxID]++
					most = max(most, attempts[op.TxID])
				}
			}
			if most < 2 {
				t.Errorf("no tx_id attempted twice")
			}
			for _, r := range checker.SubResults(o.result) {
				if r.Checker == "txid" && r.Counts["ok"] == 0 {
					t.Errorf("txid checker saw no ok transaction: %v", r.Counts)
				}
			}
		})
	}
}

// logErrors logs how often each distinct client error occurred, so a run
// that fails most ops says why.
func logErrors(t *testing.T, h history.History) {
	t.Helper()
	n := map[string]int{}
	for _, op := range h {
		if op.IsClient() && op.Error != "" {
			e := op.Error
			if len(e) > 120 {
				e = e[:120]
			}
			n[op.F+" "+string(op.Type)+": "+e]++
		}
	}
	for e, c := range n {
		if c > 1 {
			t.Logf("%4d × %s", c, e)
		}
	}
}

// asInt reads a number from a recorded op's value (the history keeps
// values as a reader gets them back from the file), 0 if it is none.
func asInt(v any) int64 {
	n, _ := history.Int(v)
	return n
}
