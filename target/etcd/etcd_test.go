package etcd

import (
	"context"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
	"github.com/chaoscheck/chaoscheck/target"
)

// These tests run real etcd members (the release etcdbin.Default, built
// from tools/etcd or given as $CHAOSCHECK_ETCD_BIN) and require no false
// alarm: a correct etcd under each fault must be judged valid by the
// workload's checker and by the member comparison.

const loadTime = 6 * time.Second

// setupCtx bounds a driver's Setup, which retries until its ctx ends.
func setupCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// killRestart kills node and starts it again after down.
func killRestart(r *testRun, node string, down time.Duration) {
	r.nemesisOp("kill", node, func() error { return r.sys.Kill(node) })
	time.Sleep(down)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r.nemesisOp("start", node, func() error { return r.sys.Start(ctx, node) })
}

func TestRegisterKill(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Register, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	r.load(generator(t, Register, 1), 6, loadTime, func(ctx context.Context) {
		every(ctx, time.Second, func() { killRestart(r, pick(rng, s.Nodes()), 700*time.Millisecond) })
	})
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	t.Log(describe(h))
}

func TestRegisterRestartLeader(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Register, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	leaders := map[string]bool{}
	r.load(generator(t, Register, 2), 6, 10*time.Second, func(ctx context.Context) {
		every(ctx, 300*time.Millisecond, func() {
			lctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			l, err := s.Leader(lctx)
			if err != nil {
				t.Errorf("leader: %v", err)
				return
			}
			leaders[l] = true
			// Down until the others elect a new leader, so every round
			// is a real failover.
			r.nemesisOp("kill", l, func() error { return s.Kill(l) })
			for lctx.Err() == nil {
				if n, err := s.Leader(lctx); err == nil && n != l {
					break
				}
			}
			r.nemesisOp("start", l, func() error { return s.Start(lctx, l) })
		})
	})
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	if len(leaders) < 2 {
		t.Errorf("leaders restarted: %v; want at least two distinct (each kill must hand leadership over)", leaders)
	}
	t.Log(describe(h), "leaders restarted:", leaders)
}

func TestRegisterPause(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Register, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(3))
	r.load(generator(t, Register, 3), 6, loadTime, func(ctx context.Context) {
		every(ctx, 500*time.Millisecond, func() {
			n := pick(rng, s.Nodes())
			r.nemesisOp("pause", n, func() error { return s.Pause(n) })
			time.Sleep(2500 * time.Millisecond) // beyond the op timeout and the election timeout
			r.nemesisOp("resume", n, func() error { return s.Resume(n) })
		})
	})
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	t.Log(describe(h))
}

func TestSetKillAll(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Set, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	r.load(generator(t, Set, 4), 6, loadTime, func(ctx context.Context) {
		sleepCtx(ctx, 2*time.Second)
		for _, n := range s.Nodes() {
			r.nemesisOp("kill", n, func() error { return s.Kill(n) })
		}
		sleepCtx(ctx, time.Second)
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// One at a time, as a kill-all nemesis restarts them: the first
		// has no quorum, so Start must not wait for it to serve.
		for _, n := range s.Nodes() {
			r.nemesisOp("start", n, func() error { return s.Start(sctx, n) })
		}
	})
	r.heal(history.Op{F: "read-all"})
	h, rs := r.check(checker.NewSet())
	requireValid(t, h, rs)
	requireOK(t, h, 20, "add")
	t.Log(describe(h))
}

func TestSingleNodeKill(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 1, Register, nil)
	if got := s.Nodes(); len(got) != 1 {
		t.Fatalf("nodes = %v, want one", got)
	}
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	r.load(generator(t, Register, 5), 4, loadTime, func(ctx context.Context) {
		every(ctx, 1500*time.Millisecond, func() { killRestart(r, "n1", 200*time.Millisecond) })
	})
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	t.Log(describe(h))
}

func TestListAppendKill(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, ListAppend, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(6))
	r.load(generator(t, ListAppend, 6), 5, loadTime, func(ctx context.Context) {
		every(ctx, 1500*time.Millisecond, func() { killRestart(r, pick(rng, s.Nodes()), 500*time.Millisecond) })
	})
	r.heal()
	h, rs := r.check()
	requireValid(t, h, rs)
	requireOK(t, h, 10, "txn")
	checkAppendsConsistent(t, h)
	t.Log(describe(h))
}

// checkAppendsConsistent is a small stand-in for Elle until checker/elle
// lands: every ok read of a key is a prefix of the longest ok read of that
// key, appended values are never read twice, and every element read was
// appended by some op that did not fail.
func checkAppendsConsistent(t *testing.T, h history.History) {
	t.Helper()
	appended := map[string]bool{} // value → appended by an ok or info op
	longest := map[string][]string{}
	var reads [][2]any // key, list
	for _, op := range h {
		if op.F != "txn" || op.IsInvoke() || op.IsFail() {
			continue
		}
		mops, _ := op.Value.([]any)
		for _, m := range mops {
			mm := m.([]any)
			switch mm[0] {
			case "append":
				appended[toStr(mm[2])] = true
			case "r":
				if op.IsOK() && mm[2] != nil {
					reads = append(reads, [2]any{mm[1], mm[2]})
				}
			}
		}
	}
	for _, r := range reads {
		k := toStr(r[0])
		var l []string
		seen := map[string]bool{}
		for _, v := range r[1].([]any) {
			s := toStr(v)
			if seen[s] {
				t.Errorf("key %s: read %v holds %s twice", k, r[1], s)
			}
			seen[s] = true
			if !appended[s] {
				t.Errorf("key %s: read %v holds %s, which no op appended", k, r[1], s)
			}
			l = append(l, s)
		}
		if len(l) > len(longest[k]) {
			longest[k] = l
		}
	}
	for _, r := range reads {
		k := toStr(r[0])
		for i, v := range r[1].([]any) {
			if longest[k][i] != toStr(v) {
				t.Errorf("key %s: read %v is not a prefix of %v", k, r[1], longest[k])
				break
			}
		}
	}
	if len(reads) == 0 {
		t.Error("no ok read saw a list")
	}
}

func toStr(v any) string {
	n, err := history.Int(v)
	if err != nil {
		return "?" + strings.TrimSpace(err.Error())
	}
	return strconv.FormatInt(n, 10)
}

// TestAttach drives a cluster chaoscheck did not start: the target
// attaches with --endpoints, refuses process faults and still checks.
func TestAttach(t *testing.T) {
	t.Parallel()
	owner := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Register, nil)
	var eps []string
	for _, m := range owner.members {
		eps = append(eps, strings.TrimPrefix(m.clientURL, "http://"))
	}
	opts := target.Options{FlagEndpoints: strings.Join(eps, ",")}
	if fs := (etcdTarget{}).Features(opts); len(fs) != 1 || fs[0] != target.LeaderFeature {
		t.Fatalf("attached features = %v, want only leader", fs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := etcdTarget{}.Boot(ctx, target.Env{Dir: t.TempDir(), Workload: Register, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Stop(false)
	for _, fault := range []func(string) error{sys.Kill, sys.Pause, sys.Resume} {
		if err := fault("n1"); err != target.ErrNoProcessControl {
			t.Errorf("attached fault: %v, want ErrNoProcessControl", err)
		}
	}
	if err := sys.Start(ctx, "n1"); err != target.ErrNoProcessControl {
		t.Errorf("attached Start: %v, want ErrNoProcessControl", err)
	}
	if _, err := sys.(target.Leader).Leader(ctx); err != nil {
		t.Errorf("attached Leader: %v", err)
	}
	r := newTestRun(t, sys)
	if err := sys.Driver().Setup(ctx); err != nil {
		t.Fatal(err)
	}
	r.load(generator(t, Register, 7), 5, 3*time.Second, nil)
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	if err := sys.Stop(false); err != nil {
		t.Fatal(err)
	}
	for _, m := range owner.members {
		if !m.proc.Running() {
			t.Errorf("stopping the attached system stopped %s, which it does not own", m.name)
		}
	}
}
