package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/checker/elle"
	"github.com/chaoscheck/chaoscheck/store"
)

// TestAnalyzeElleTestdataNamesTheExactAnomaly is stricter than
// TestAnalyzeTestdataVerdicts for the transactional histories: a bad file
// is named <workload>-<anomaly>.<ext>, and analyze must report exactly
// that anomaly (G0 for a G0 file, not G0-realtime), with a cycle in the
// details for the cycle kinds. Good twins must be valid under the same
// arguments.
func TestAnalyzeElleTestdataNamesTheExactAnomaly(t *testing.T) {
	root := filepath.Join("..", "..", "testdata")
	seen := 0
	for _, dir := range []string{"good", "bad"} {
		for _, file := range historyFiles(t, filepath.Join(root, dir)) {
			name := filepath.Base(file)
			w := testdataWorkload(t, name)
			if !slices.Contains(elle.Workloads(), w) {
				continue
			}
			seen++
			t.Run(dir+"/"+name, func(t *testing.T) {
				args := append([]string{"analyze", "--json", "--workload", w}, sidecarArgs(t, file)...)
				stdout, stderr, code := chaoscheck(t, append(args, file)...)
				var a store.Results
				if err := json.Unmarshal([]byte(stdout), &a); err != nil {
					t.Fatalf("exit %d, output is not JSON: %v\n%s", code, err, stderr)
				}
				var res checker.Result
				for _, r := range a.Checkers {
					if r.Checker == w {
						res = r
					}
				}
				if dir == "good" {
					if code != exitValid || res.Valid != checker.Valid {
						t.Fatalf("exit %d, %s verdict %v; want valid\n%s", code, w, res.Valid, stdout)
					}
					return
				}
				want := strings.TrimPrefix(strings.TrimSuffix(name, filepath.Ext(name)), w+"-")
				if code != exitInvalid || !slices.Contains(res.AnomalyKinds(), want) {
					t.Fatalf("exit %d, anomalies %v; want %s\n%s", code, res.AnomalyKinds(), want, stdout)
				}
				if !strings.Contains(want, "G0") && !strings.Contains(want, "G1c") && !strings.HasPrefix(want, "G-") && !strings.HasPrefix(want, "G2") {
					return
				}
				b, _ := json.Marshal(res.Details)
				var d elle.Details
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				for _, c := range d.Cycles {
					if c.Kind == want && len(c.Steps) == len(c.Txns) && len(c.Txns) >= 2 {
						return
					}
				}
				t.Fatalf("no %s cycle with its steps in the details: %s", want, b)
			})
		}
	}
	if seen < 40 {
		t.Fatalf("only %d list-append/rw-register histories in testdata", seen)
	}
}

func TestAnalyzeUnknownConsistencyModelExits254(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "good", "list-append-G0-writes-agree.edn")
	_, stderr, code := chaoscheck(t, "analyze", "--workload", "list-append", "--consistency-models", "serialisable", file)
	if code != exitBadInput || !strings.Contains(stderr, `unknown consistency model "serialisable"`) {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

// Elle's own histories leave out :f and, holding completions only,
// :process: analyze reads them as transactions and judges them.
func TestAnalyzeReadsElleHistoriesWithoutFOrProcess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "elle.edn")
	in := "[{:type :ok, :value [[:append 1 1] [:r 2 [1]]]}\n{:type :ok, :value [[:append 2 1] [:r 1 [1]]]}]\n"
	if err := os.WriteFile(file, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := chaoscheck(t, "analyze", "--workload", "list-append", file)
	if code != 1 || !strings.Contains(stdout, "G1c") {
		t.Fatalf("exit %d, want 1 naming G1c (each txn read the other's append)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
