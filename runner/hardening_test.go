package runner

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/target"
)

func TestLatestPointsAtARunFromItsStart(t *testing.T) {
	cfg := fakeConfig(t)
	w := &fakeWorkload{verdict: checker.Valid}
	b := &fakeBoot{w: w}
	var atBoot, want string
	boot := func(ctx context.Context, dir *store.Run, cfg Config) (target.System, error) {
		// A runner killed with SIGKILL here never reaches its end: latest
		// must already lead to this run.
		atBoot, _ = filepath.EvalSymlinks(filepath.Join(cfg.Store, store.LatestLink))
		want = dir.Dir
		return b.boot(ctx, dir, cfg)
	}
	if _, err := runWith(context.Background(), cfg, w, &fakeNemesis{}, boot); err != nil {
		t.Fatal(err)
	}
	if atBoot != want {
		t.Errorf("while booting, latest -> %q; want the run being booted, %s", atBoot, want)
	}
}

func TestHistoryWriteErrorEndsTheRunAtOnce(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full:", err)
	}
	// The history file is /dev/full: every write fails with ENOSPC, as on
	// a full disk.
	orig := createRecorder
	createRecorder = func(path string) (*history.Recorder, error) {
		if err := os.Symlink("/dev/full", path); err != nil {
			return nil, err
		}
		return history.CreateRecorder(path)
	}
	t.Cleanup(func() { createRecorder = orig })

	cfg := fakeConfig(t)
	cfg.TimeLimit, cfg.HealTimeout = time.Hour, time.Hour
	w := &fakeWorkload{verdict: checker.Valid}
	done := make(chan struct{})
	var out Outcome
	var err error
	go func() { defer close(done); out, err = runFake(context.Background(), cfg, w) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("a run whose history cannot be written still runs after 30s of its hour")
	}
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("err %v; want the history's write error", err)
	}
	if out.Results.Interrupted || out.Results.Valid != checker.Unknown {
		t.Errorf("interrupted %v, verdict %s; want not interrupted (nobody pressed Ctrl-C) and unknown", out.Results.Interrupted, out.Results.Valid)
	}
	if !strings.Contains(strings.Join(out.Results.Notes, "\n"), "cannot be written") {
		t.Errorf("notes %q do not say why the run stopped", out.Results.Notes)
	}
}

func TestAStorePathThatIsAFileIsAConfigError(t *testing.T) {
	cfg := fakeConfig(t)
	file := filepath.Join(t.TempDir(), "store")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{file, filepath.Join(file, "sub")} {
		cfg.Store = s
		_, err := runFake(context.Background(), cfg, &fakeWorkload{verdict: checker.Valid})
		if !IsConfigError(err) {
			t.Errorf("--store %s: err %v; want a ConfigError (exit 254)", s, err)
		}
	}
}

func TestConfigBoundsRefuseWhatNoRunCanDo(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"rate NaN", func(c *Config) { c.Rate = nan() }, "rate NaN"},
		{"rate +Inf", func(c *Config) { c.Rate = inf() }, "rate +Inf"},
		{"a billion keys", func(c *Config) { c.Keys = 1_000_000_000 }, "keys 1000000000"},
		{"a million workers", func(c *Config) { c.Concurrency = 1_000_000 }, "concurrency 1000000"},
		{"a hundred nodes", func(c *Config) { c.NodeCount = 100 }, "nodes 100"},
	} {
		c := Defaults()
		tc.mod(&c)
		err := c.Validate()
		if !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v; want a ConfigError naming %q", tc.name, err, tc.want)
		}
	}
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }

// TestRegisterWithMoreKeysThanOneRequestHolds: a register of 2,500 keys
// needs three setup requests on the Raft store (raftsql takes at most
// 1,000 statements a request); before, its one setup request was refused
// and retried until the run was killed.
func TestRegisterWithMoreKeysThanOneRequestHolds(t *testing.T) {
	integration(t)
	cfg := Defaults()
	cfg.Workload, cfg.Nemesis, cfg.Keys, cfg.TimeLimit, cfg.Seed = "register", "none", 2500, 2*time.Second, 11
	cfg.Store, cfg.Log = t.TempDir(), testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := Run(ctx, cfg)
	if err != nil || out.Results.Valid != checker.Valid {
		t.Fatalf("verdict %s, err %v, notes %v; want a valid run", out.Results.Valid, err, out.Results.Notes)
	}
}

// TestBadTargetFlagsWriteNothing: a target flag no run can start from is
// a ConfigError before the run directory exists, so neither a run nor a
// latest link is left behind (before, --isolation bogus exited 255 after
// printing an UNKNOWN verdict, and --nodes 2 for etcd left an unknown run
// that store/latest then pointed at).
func TestBadTargetFlagsWriteNothing(t *testing.T) {
	// Only --version is asked of the binary before boot.
	fakeEtcd := filepath.Join(t.TempDir(), "etcd")
	if err := os.WriteFile(fakeEtcd, []byte("#!/bin/sh\necho 'etcd Version: 3.7.3'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"postgres --isolation bogus", func(c *Config) {
			c.Target, c.Workload, c.Nemesis = "postgres", "list-append", "none"
			c.TargetOptions = map[string]string{"isolation": "bogus"}
		}, `--isolation "bogus"`},
		{"etcd --nodes 2", func(c *Config) {
			c.Target, c.Workload, c.Nemesis, c.NodeCount = "etcd", "register", "none", 2
			c.TargetOptions = map[string]string{"etcd-bin": fakeEtcd}
		}, "--nodes 2"},
		{"etcd --etcd-bin missing", func(c *Config) {
			c.Target, c.Workload, c.Nemesis = "etcd", "register", "none"
			c.TargetOptions = map[string]string{"etcd-bin": "/nonexistent/etcd"}
		}, "not found"},
		{"raft --snapshot-interval x", func(c *Config) {
			c.Target, c.Workload, c.Nemesis = "raft", "register", "none"
			c.TargetOptions = map[string]string{"snapshot-interval": "x"}
		}, "--snapshot-interval"},
		{"process without --config", func(c *Config) {
			c.Target, c.Workload, c.Nemesis = "process", "register", "none"
		}, "--config is required"},
		{"process config that is not there", func(c *Config) {
			c.Target, c.Workload, c.Nemesis = "process", "register", "none"
			c.TargetOptions = map[string]string{"config": "/nonexistent/my.toml"}
		}, "my.toml"},
	} {
		c := Defaults()
		c.Store, c.Log = t.TempDir(), testLogger(t)
		tc.mod(&c)
		out, err := Run(context.Background(), c)
		if !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run() = %v; want a ConfigError naming %q", tc.name, err, tc.want)
		}
		if ents, _ := os.ReadDir(c.Store); out.Dir != "" || len(ents) > 0 {
			t.Errorf("%s: wrote %q, store holds %d entries; want nothing written", tc.name, out.Dir, len(ents))
		}
	}
}
