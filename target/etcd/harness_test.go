package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// This file drives the etcd target the way a run does (boot, setup,
// concurrent clients and a nemesis, heal, final ops, checkers), so the
// tests prove the target end to end on real etcd processes.

// etcdBin returns an etcd binary of version, failing the test with how to
// get one when it cannot be built.
func etcdBin(t testing.TB, version string) string {
	t.Helper()
	bin, err := etcdbin.Path(version)
	if err != nil {
		t.Fatalf("no etcd %s binary: %v\n(build one with `go build -C tools/etcd/%s -o \"$PWD/bin/etcd\" .` and set %s)", version, err, version, etcdbin.EnvBin)
	}
	return bin
}

// bootEtcd boots nodes members for w into a temporary dir and stops them
// when the test ends.
func bootEtcd(t testing.TB, bin string, nodes int, w string, opts target.Options) *system {
	t.Helper()
	return bootEtcdVia(t, nil, bin, nodes, w, opts)
}

// bootEtcdVia is bootEtcd with the members' peer links through nw (nil:
// direct), which a partition test cuts.
func bootEtcdVia(t testing.TB, nw *faultnet.Net, bin string, nodes int, w string, opts target.Options) *system {
	t.Helper()
	o := target.Options{FlagBin: bin}
	for k, v := range opts {
		o[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env := target.Env{
		Dir: t.TempDir(), Nodes: nodes, Workload: w, Options: o,
		WorkloadOptions: workload.Options{Keys: 3, OpTimeout: 2 * time.Second},
	}
	if nw != nil {
		env.Net = nw // a nil *faultnet.Net in the interface would not be nil
	}
	sys, err := etcdTarget{}.Boot(ctx, env)
	if err != nil {
		t.Fatalf("boot: %v", err)
	}
	s := sys.(*system)
	t.Cleanup(func() {
		if err := s.Stop(true); err != nil {
			t.Errorf("stop: %v", err)
		}
		for _, m := range s.members {
			if m.proc != nil && m.proc.Running() {
				t.Errorf("%s still running after Stop", m.name)
			}
		}
	})
	return s
}

// testRun is one run's history in the making.
type testRun struct {
	t    testing.TB
	sys  target.System
	rec  *history.Recorder
	path string

	mu       sync.Mutex
	nextProc int64
}

func (r *testRun) client(p int64) (workload.Client, error) { return r.sys.Driver().NewClient(p) }

func newTestRun(t testing.TB, sys target.System) *testRun {
	path := filepath.Join(t.TempDir(), "history.jsonl")
	rec, err := history.CreateRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	return &testRun{t: t, sys: sys, rec: rec, path: path}
}

func (r *testRun) process() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextProc++
	return r.nextProc - 1
}

// load runs concurrency workers on gen for d while nemesis (if any) acts;
// each worker continues as a fresh process after an info, as Jepsen's do.
func (r *testRun) load(gen workload.Generator, concurrency int, d time.Duration, nemesis func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var genMu sync.Mutex
	var wg sync.WaitGroup
	if nemesis != nil {
		wg.Add(1)
		go func() { defer wg.Done(); nemesis(ctx) }()
	}
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := r.process()
			c, err := r.client(p)
			if err != nil {
				r.t.Errorf("client: %v", err)
				return
			}
			for ctx.Err() == nil {
				genMu.Lock()
				op := gen.Next(p)
				genMu.Unlock()
				if done := r.invoke(c, p, op); done.Type == history.Info {
					c.Close()
					p = r.process()
					if c, err = r.client(p); err != nil {
						r.t.Errorf("client: %v", err)
						return
					}
				}
			}
			c.Close()
		}()
	}
	wg.Wait()
}

// invoke records op's invocation and completion as process p.
func (r *testRun) invoke(c workload.Client, p int64, op history.Op) history.Op {
	op.Type, op.Process = history.Invoke, p
	inv := r.rec.Record(op)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	done := c.Invoke(ctx, inv)
	cancel()
	done.Process, done.F, done.Index, done.Time = p, inv.F, 0, 0
	if done.Type == history.Invoke || done.Type == "" {
		r.t.Fatalf("client returned no completion type for %+v", inv)
	}
	return r.rec.Record(done)
}

// nemesisOp records a nemesis action and its outcome.
func (r *testRun) nemesisOp(f, node string, act func() error) {
	r.rec.Record(history.Op{Type: history.Info, Process: history.NemesisProcess, F: f, Value: node})
	if err := act(); err != nil {
		r.t.Errorf("nemesis %s %s: %v", f, node, err)
	}
}

// heal resumes and starts every node, waits until the cluster is healthy
// and performs the final ops (the workload's, then the system's own),
// each until it completes ok.
func (r *testRun) heal(final ...history.Op) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := r.sys
	for _, n := range s.Nodes() {
		if s.Running(n) {
			s.Resume(n)
			continue
		}
		if err := s.Start(ctx, n); err != nil {
			r.t.Fatalf("heal: start %s: %v", n, err)
		}
	}
	if err := s.WaitHealthy(ctx, time.Minute); err != nil {
		r.t.Fatalf("heal: %v", err)
	}
	if o, ok := s.(target.Observer); ok {
		final = append(final, o.FinalOps()...)
	}
	for _, f := range final {
		for {
			p := r.process()
			c, err := s.Driver().NewClient(p)
			if err != nil {
				r.t.Fatal(err)
			}
			done := r.invoke(c, p, f)
			c.Close()
			if done.Type == history.OK {
				break
			}
			if ctx.Err() != nil {
				r.t.Fatalf("final %s never completed ok: %+v", f.F, done)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// check reads the history back from disk (as analyze would) and judges
// it with cs and the system's own checkers; it returns the results.
func (r *testRun) check(cs ...checker.Checker) (history.History, []checker.Result) {
	if err := r.rec.Close(); err != nil {
		r.t.Fatal(err)
	}
	h, _, err := history.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	if o, ok := r.sys.(target.Observer); ok {
		cs = append(cs, o.Checkers()...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var rs []checker.Result
	for _, c := range cs {
		rs = append(rs, c.Check(ctx, h))
	}
	return h, rs
}

// requireValid fails the test unless every result is valid.
func requireValid(t testing.TB, h history.History, rs []checker.Result) {
	t.Helper()
	for _, res := range rs {
		if res.Valid != checker.Valid {
			b, _ := json.MarshalIndent(res, "", "  ")
			t.Errorf("%s: %s on a correct etcd (%d ops)\n%s", res.Checker, res.Valid, len(h), b)
		}
	}
}

// counts tallies completions by f and type ("write/ok": 12).
func counts(h history.History) map[string]int {
	c := map[string]int{}
	for _, op := range h {
		if op.IsClient() && !op.IsInvoke() {
			c[op.F+"/"+string(op.Type)]++
		}
	}
	return c
}

// requireOK fails the test unless each f completed ok at least min times:
// a run in which nothing took effect proves nothing.
func requireOK(t testing.TB, h history.History, min int, fs ...string) {
	t.Helper()
	c := counts(h)
	for _, f := range fs {
		if c[f+"/ok"] < min {
			t.Errorf("only %d %s ops completed ok (want >= %d): %v", c[f+"/ok"], f, min, c)
		}
	}
}

func linearizable(t testing.TB) checker.Checker {
	lin, err := checker.NewLinearizable(checker.LinearizableOptions{Model: "kv", Init: json.Number("0"), Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return lin
}

// generator returns workload w's generator for seed.
func generator(t testing.TB, w string, seed int64) workload.Generator {
	if w == ListAppend {
		return newAppendGen(seed, 4)
	}
	wl, err := workload.ByName(w, workload.Options{Keys: 3})
	if err != nil {
		t.Fatal(err)
	}
	return wl.Generator(seed)
}

// appendGen is a list-append generator for these tests (the workload
// package's own arrives with the runner wiring): 1–3 micro-ops over keys
// 0..keys-1, each appended value unique.
type appendGen struct {
	rng  *rand.Rand
	keys int
	next int64
}

func newAppendGen(seed int64, keys int) *appendGen {
	return &appendGen{rng: rand.New(rand.NewSource(seed)), keys: keys}
}

func (g *appendGen) Next(int64) history.Op {
	n := 1 + g.rng.Intn(3)
	mops := make([]any, n)
	for i := range mops {
		k := int64(g.rng.Intn(g.keys))
		if g.rng.Intn(2) == 0 {
			mops[i] = []any{"r", k, nil}
		} else {
			g.next++
			mops[i] = []any{"append", k, g.next}
		}
	}
	return history.Op{F: "txn", Value: mops}
}

// every calls f every interval until ctx ends (the nemesis's schedule).
func every(ctx context.Context, interval time.Duration, f func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		f()
	}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func pick(rng *rand.Rand, nodes []string) string { return nodes[rng.Intn(len(nodes))] }

func describe(h history.History) string { return fmt.Sprintf("%d ops %v", len(h), counts(h)) }
