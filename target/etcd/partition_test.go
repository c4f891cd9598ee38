package etcd

import (
	"context"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/target"
)

// bootPartitionable boots three members for the register workload with
// their peer links through a faultnet.Net, and sets the workload up.
func bootPartitionable(t *testing.T, opts target.Options) (*faultnet.Net, *system, *testRun) {
	nw := faultnet.New(nil)
	t.Cleanup(func() { nw.Close() })
	s := bootEtcdVia(t, nw, etcdBin(t, etcdbin.Default), 3, Register, opts)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	return nw, s, r
}

// TestRegisterPartition boots the members with their peer links through
// faultnet, isolates the leader under load (the majority must elect
// another, proving the cut works through the front doors), then splits
// the cluster in halves, heals, and requires no false alarm.
func TestRegisterPartition(t *testing.T) {
	t.Parallel()
	nw, s, r := bootPartitionable(t, nil)
	var isolated, successor string
	r.load(generator(t, Register, 9), 6, 10*time.Second, func(ctx context.Context) {
		lctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l, err := s.Leader(lctx)
		if err != nil {
			t.Errorf("leader: %v", err)
			return
		}
		isolated = l
		g := faultnet.Isolate(s.Nodes(), l)
		r.nemesisOp("partition", g.String(), func() error { nw.Partition(g); return nil })
		err = cluster.WaitFor(lctx, 15*time.Second, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			for _, m := range s.members {
				if m.name == l {
					continue
				}
				st, err := s.status(ctx, m)
				if err != nil {
					return false, err
				}
				if n, ok := s.nameOf(st.Leader); st.Leader != 0 && ok && n != l {
					successor = n
					return true, nil
				}
			}
			return false, fmt.Errorf("the majority still follows %s", l)
		})
		if err != nil {
			t.Errorf("isolating leader %s: %v", l, err)
		}
		sleepCtx(ctx, time.Second)
		r.nemesisOp("heal", "", func() error { nw.Heal(); return nil })
		sleepCtx(ctx, 2*time.Second)
		g = faultnet.Halves(s.Nodes(), rand.New(rand.NewSource(9)))
		r.nemesisOp("partition", g.String(), func() error { nw.Partition(g); return nil })
		sleepCtx(ctx, 2*time.Second)
		r.nemesisOp("heal", "", func() error { nw.Heal(); return nil })
	})
	nw.Heal()
	r.heal()
	h, rs := r.check(linearizable(t))
	requireValid(t, h, rs)
	requireOK(t, h, 5, "read", "write")
	if successor == "" {
		t.Errorf("no new leader while %s was isolated: the partition did not cut the peer links", isolated)
	}
	var dropped int64
	for _, a := range s.Nodes() {
		for _, b := range s.Nodes() {
			if a != b {
				dropped += nw.Counts(a, b).Dropped
			}
		}
	}
	if dropped == 0 {
		t.Error("faultnet dropped nothing: peer traffic does not go through it")
	}
	t.Logf("%s; isolated %s, %s took over; %d chunks dropped", describe(h), isolated, successor, dropped)
}

// TestSerializableReadsCaughtStale is the other side of the partition
// test: with --serializable-reads (etcd's documented non-linearizable
// mode) a member answers reads from its own state, which lags the leader
// (and, cut off from the others for 5 s, falls far behind while the
// majority accepts writes); the linearizable checker must say so.
func TestSerializableReadsCaughtStale(t *testing.T) {
	t.Parallel()
	nw, s, r := bootPartitionable(t, target.Options{FlagSerializable: "true"})
	r.load(generator(t, Register, 10), 6, 8*time.Second, func(ctx context.Context) {
		sleepCtx(ctx, time.Second)
		g := faultnet.Isolate(s.Nodes(), "n1")
		r.nemesisOp("partition", g.String(), func() error { nw.Partition(g); return nil })
		sleepCtx(ctx, 5*time.Second)
		r.nemesisOp("heal", "", func() error { nw.Heal(); return nil })
	})
	nw.Heal()
	r.heal()
	h, rs := r.check(linearizable(t))
	if rs[0].Valid != checker.Invalid {
		t.Fatalf("serializable reads from an isolated member: linearizable %s, want invalid (%s)", rs[0].Valid, describe(h))
	}
	if rs[1].Valid != checker.Valid {
		t.Errorf("replica-hash %s after heal: the members must still agree", rs[1].Valid)
	}
	t.Logf("%s; %s", describe(h), rs[0].Anomalies[0].Detail)
}
