package process

import (
	"context"
	"math/rand"
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

func TestPykvValidUnderKillAndPartition(t *testing.T) {
	cases := []struct {
		name, workload, fault string
	}{
		{"register/kill", "register", "kill"},
		{"register/partition", "register", "partition"},
		{"register/pause", "register", "pause"},
		{"set/kill+partition", "set", "both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := newLinkNet(t)
			opts := workload.Options{Concurrency: 5, Keys: 3, Seed: 7, OpTimeout: 2 * time.Second}
			s := bootConfig(t, pykvConfig(t, ""), tc.workload, opts, ln)
			var nem nemesis
			switch tc.fault {
			case "kill":
				nem = killRestart(s)
			case "partition":
				nem = isolateHeal(s, ln)
			case "pause":
				nem = pauseResume(s)
			case "both":
				k, p := killRestart(s), isolateHeal(s, ln)
				nem = func(ctx context.Context, rec workload.Recorder, rng *rand.Rand) {
					if rng.Intn(2) == 0 {
						k(ctx, rec, rng)
					} else {
						p(ctx, rec, rng)
					}
				}
			}
			res, _ := runChecked(t, s, tc.workload, opts, 8*time.Second, nem, func() {
				for _, n := range s.names {
					ln.isolate(n, false)
				}
			})
			if res.Valid != checker.Valid {
				t.Fatalf("pykv as written judged %s, want valid", verdictSummary(res))
			}
		})
	}
}

func TestPykvSeededBugsAreCaught(t *testing.T) {
	cases := []struct {
		name, bug, workload, fault, anomaly string
	}{
		// A read from the local acceptor misses changes a majority chose
		// without it, most of all on the isolated node.
		{"local-read/register/partition", "local-read", "register", "partition", "nonlinearizable"},
		// Choosing with one acceptor: proposers on different nodes
		// overwrite each other's adds.
		{"no-quorum/set/kill", "no-quorum", "set", "kill", "lost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := newLinkNet(t)
			opts := workload.Options{Concurrency: 5, Keys: 3, Seed: 11, OpTimeout: 2 * time.Second}
			s := bootConfig(t, pykvConfig(t, tc.bug), tc.workload, opts, ln)
			nem := killRestart(s)
			if tc.fault == "partition" {
				nem = isolateHeal(s, ln)
			}
			res, _ := runChecked(t, s, tc.workload, opts, 8*time.Second, nem, func() {
				for _, n := range s.names {
					ln.isolate(n, false)
				}
			})
			if res.Valid != checker.Invalid {
				t.Fatalf("pykv with PYKV_BUG=%s judged %s, want invalid", tc.bug, verdictSummary(res))
			}
			found := false
			for _, r := range checker.SubResults(res) {
				found = found || countAnomalies(r, tc.anomaly) > 0
			}
			if !found {
				t.Fatalf("invalid, but no %s anomaly: %s", tc.anomaly, verdictSummary(res))
			}
		})
	}
}

func countAnomalies(r checker.Result, kind string) int {
	n := 0
	for _, a := range r.Anomalies {
		if a.Kind == kind {
			n++
		}
	}
	return n
}
