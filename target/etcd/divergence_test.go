package etcd

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/etcdbin"
)

// TestDivergedMemberIsCaught restarts one member on a data file whose
// keyspace differs from the others' at the same revision, the state etcd
// issue #13766 left members in, and requires the final member comparison
// to say so and name that member. The member is real and so is its file:
// it is stopped, its bbolt backend is rewritten on disk (the latest value
// of one key changed, its revision and consistent index untouched, so
// Raft sees nothing wrong), and it is started again.
func TestDivergedMemberIsCaught(t *testing.T) {
	t.Parallel()
	s := bootEtcd(t, etcdBin(t, etcdbin.Default), 3, Register, nil)
	r := newTestRun(t, s)
	if err := s.Driver().Setup(setupCtx(t)); err != nil {
		t.Fatal(err)
	}
	r.load(generator(t, Register, 8), 4, 2*time.Second, nil)

	victim := s.byName["n3"]
	if err := victim.proc.Stop(stopGrace); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(filepath.Dir(victim.proc.Spec().LogPath), "data", "member", "snap", "db")
	if err := rewriteLatest(db, []byte(keyPrefix(Register)+"k0"), []byte("424242")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Start(ctx, "n3"); err != nil {
		t.Fatal(err)
	}

	r.heal()
	h, rs := r.check()
	if len(rs) != 1 || rs[0].Checker != "replica-hash" {
		t.Fatalf("results = %+v, want the replica-hash checker's", rs)
	}
	res := rs[0]
	if res.Valid != checker.Invalid || len(res.Anomalies) != 1 || res.Anomalies[0].Key != "n3" {
		t.Fatalf("replica-hash on a diverged n3: %s %+v (%s)", res.Valid, res.Anomalies, describe(h))
	}
	t.Log(res.Anomalies[0].Detail)
}

// rewriteLatest sets the value of key's newest revision in the etcd
// backend file path (bucket "key": revision → mvccpb.KeyValue).
func rewriteLatest(path string, key, value []byte) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("%s: no key bucket", path)
		}
		c := b.Cursor()
		for rev, raw := c.Last(); rev != nil; rev, raw = c.Prev() {
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(raw, &kv); err != nil {
				return fmt.Errorf("%s: revision %x: %w", path, rev, err)
			}
			if !bytes.Equal(kv.Key, key) {
				continue
			}
			kv.Value = value
			out, err := proto.Marshal(&kv)
			if err != nil {
				return err
			}
			return b.Put(append([]byte(nil), rev...), out)
		}
		return fmt.Errorf("%s: key %s not found", path, key)
	})
}
