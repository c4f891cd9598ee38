package etcd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/target"
)

// fakeEtcd writes a script that prints version as `etcd --version` does.
func fakeEtcd(t *testing.T, version string) string {
	p := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho 'etcd Version: "+version+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBootRefusesBadConfig: every bad flag or size is an error naming
// the problem, before any member starts.
func TestBootRefusesBadConfig(t *testing.T) {
	cases := []struct {
		name  string
		nodes int
		w     string
		opts  target.Options
		want  string
	}{
		{"two nodes", 2, Register, target.Options{FlagBin: fakeEtcd(t, "3.7.3")}, "want 1, 3 or 5"},
		{"unknown workload", 3, "bank", target.Options{FlagBin: fakeEtcd(t, "3.7.3")}, `no driver for workload "bank"`},
		{"etcd too old", 3, Register, target.Options{FlagBin: fakeEtcd(t, "3.4.20")}, "older than 3.5"},
		{"not etcd", 3, Register, target.Options{FlagBin: "/bin/true"}, "not an etcd binary"},
		{"missing binary", 3, Register, target.Options{FlagBin: "/nonexistent/etcd"}, "tools/etcd/v3.7.3"},
		{"bad serializable-reads", 3, Register, target.Options{FlagBin: fakeEtcd(t, "3.7.3"), FlagSerializable: "maybe"}, "--serializable-reads"},
		{"bad guarded-adds", 3, Set, target.Options{FlagBin: fakeEtcd(t, "3.7.3"), FlagGuardedAdds: "2x"}, "--guarded-adds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sys, err := etcdTarget{}.Boot(context.Background(), target.Env{Dir: t.TempDir(), Nodes: c.nodes, Workload: c.w, Options: c.opts})
			if err == nil {
				sys.Stop(true)
				t.Fatalf("booted; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
			var ce *target.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %q is not a *target.ConfigError (the CLI's exit 254)", err)
			}
			// The runner asks the same before it makes the run directory.
			if err := (etcdTarget{}).CheckOptions(c.opts, c.nodes, c.w, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckOptions: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestRelativeBinIsMadeAbsolute: members run in their node directories,
// so --etcd-bin ./bin/etcd must not be resolved there.
func TestRelativeBinIsMadeAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\necho 'etcd Version: 3.7.3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	s, err := parseSettings(target.Options{FlagBin: "./etcd"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etcd"); s.bin != want {
		t.Fatalf("bin = %q, want %q", s.bin, want)
	}
}

func TestFeatures(t *testing.T) {
	own := etcdTarget{}.Features(target.Options{})
	for _, f := range []target.Feature{target.Kill, target.Pause, target.LeaderFeature, target.Partition} {
		if !slices.Contains(own, f) {
			t.Errorf("features of a booted cluster %v lack %s", own, f)
		}
	}
	att := etcdTarget{}.Features(target.Options{FlagEndpoints: "127.0.0.1:2379"})
	if _, ok := target.Has(att, target.Kill); ok {
		t.Errorf("attached features %v offer kill", att)
	}
	if _, ok := target.Has(att, target.Partition); ok {
		t.Errorf("attached features %v offer partitions", att)
	}
	if reg, err := target.ByName("etcd"); err != nil || reg.Name() != "etcd" {
		t.Errorf("target etcd not registered: %v", err)
	}
}

// TestWorkersStayOnTheirMember: a worker keeps its member across infos
// (process p, p+concurrency, p+2·concurrency …), and the workers spread
// over every member. Bound by p mod N, a worker moved on every info and
// all five ended on the one member no partition had cut off.
func TestWorkersStayOnTheirMember(t *testing.T) {
	const concurrency, members = 5, 3
	seen := map[int]bool{}
	for w := int64(0); w < concurrency; w++ {
		m := memberOf(w, concurrency, members)
		seen[m] = true
		for info := int64(1); info <= 10; info++ {
			if got := memberOf(w+info*concurrency, concurrency, members); got != m {
				t.Fatalf("worker %d: process %d on member %d, its first process on %d", w, w+info*concurrency, got, m)
			}
		}
	}
	if len(seen) != members {
		t.Fatalf("%d workers cover %d of %d members", concurrency, len(seen), members)
	}
}
