package process

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/workload"
)

// The pykv example (examples/pykv) through the real processes: three
// Python nodes, the Python client program, kill and partition faults.
// Valid as written; invalid with each seeded bug switched on.

func pykvConfig(t *testing.T, bug string) *Config {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 not on PATH (the CI image has it; apt-get install python3): %v", err)
	}
	cfg, err := LoadConfig(exampleConfig(t, "pykv/pykv.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if bug != "" {
		if cfg.Node.Env == nil {
			cfg.Node.Env = map[string]string{}
		}
		cfg.Node.Env["PYKV_BUG"] = bug
	}
	return cfg
}

func verdictSummary(res checker.Result) string {
	var b strings.Builder
	b.WriteString(res.Valid.String())
	for _, r := range checker.SubResults(res) {
		b.WriteString("; " + r.Checker + "=" + r.Valid.String())
		for i, a := range r.Anomalies {
			if i == 3 {
				break
			}
			b.WriteString(" [" + a.Kind + ": " + a.Detail + "]")
		}
	}
	return b.String()
}

// Partitions go through faultnet and the harness (the runner's partition
// nemesis is not on main yet); kill and pause through the runner itself
// (runner_test.go).

func TestPykvValidUnderPartition(t *testing.T) {
	for _, w := range []string{"register", "set"} {
		t.Run(w, func(t *testing.T) {
			fn := newFaultnet(t)
			opts := workload.Options{Concurrency: 5, Keys: 3, Seed: 7, OpTimeout: 2 * time.Second}
			s := bootConfig(t, pykvConfig(t, ""), w, opts, fn)
			res, _ := runChecked(t, s, w, opts, 8*time.Second, partitionHeal(s, fn), fn.Heal)
			if res.Valid != checker.Valid {
				t.Fatalf("pykv as written judged %s, want valid", verdictSummary(res))
			}
		})
	}
}

// A read from the local acceptor misses what a majority chose without
// it, most of all on the isolated node.
func TestPykvLocalReadCaughtUnderPartition(t *testing.T) {
	fn := newFaultnet(t)
	opts := workload.Options{Concurrency: 5, Keys: 3, Seed: 11, OpTimeout: 2 * time.Second}
	s := bootConfig(t, pykvConfig(t, "local-read"), "register", opts, fn)
	res, _ := runChecked(t, s, "register", opts, 8*time.Second, partitionHeal(s, fn), fn.Heal)
	if res.Valid != checker.Invalid || !hasAnomaly(res, "nonlinearizable") {
		t.Fatalf("pykv with PYKV_BUG=local-read judged %s, want invalid (nonlinearizable)", verdictSummary(res))
	}
}

func hasAnomaly(res checker.Result, kind string) bool {
	for _, r := range checker.SubResults(res) {
		for _, a := range r.Anomalies {
			if a.Kind == kind {
				return true
			}
		}
	}
	return false
}
