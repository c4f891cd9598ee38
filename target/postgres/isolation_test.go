package postgres

import (
	"context"
	"encoding/json"
	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/checker/elle"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/targettest"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// TestListAppendSerializableUnderKill: list-append at SERIALIZABLE with
// the server SIGKILLed every 2s: no two-transaction cycle, no read that
// contradicts another, and the final read holds every acknowledged append
// once and no failed one.
func TestListAppendSerializableUnderKill(t *testing.T) {
	const keys = 4
	wopts := workload.Options{Concurrency: 5, TimeLimit: 8 * time.Second, OpTimeout: 2 * time.Second}
	s := bootSystem(t, "list-append", target.Options{FlagIsolation: "serializable"}, wopts)
	l := targettest.NewLoad(t, s.Driver(), newLAGen(1, keys, mixedTxn), wopts)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { nemesis(ctx, t, s, l.Rec, "kill", 2*time.Second) })
	st := l.Run(t)
	stop()
	wg.Wait()
	t.Logf("%d txns: %d ok, %d fail, %d info", st.Invoked, st.OK, st.Fail, st.Info)
	if st.OK == 0 || st.Fail == 0 {
		t.Errorf("want ok and failed transactions, got %+v", st)
	}
	var all []any
	for k := range keys {
		all = append(all, []any{"r", int64(k), nil})
	}
	final := l.FinalOp(t, history.Op{F: "txn", Value: all})
	h := l.Rec.History()
	cycles, incompatible := twoCycles(h)
	for _, c := range cycles {
		if c.kind == "G1c" {
			t.Errorf("%s at serializable: %s", c.kind, c.why)
		} else {
			t.Logf("PostgreSQL's own %s at serializable (docs/postgres.md): %s", c.kind, c.why)
		}
	}
	for _, s := range incompatible {
		t.Errorf("incompatible read: %s", s)
	}
	checkAppends(t, h, final)
	r := elleCheck(t, h, "strict-serializable")
	if r.Valid == checker.Valid {
		return
	}
	var ours []string
	for _, k := range r.AnomalyKinds() {
		if !antiDependencyCycle[k] {
			ours = append(ours, k)
		}
	}
	if len(ours) > 0 || r.Valid != checker.Invalid {
		t.Errorf("elle at strict-serializable: %v %v %v", r.Valid, r.AnomalyKinds(), r.Notes)
	} else {
		t.Logf("PostgreSQL's own anomaly at serializable (docs/postgres.md): %v", r.AnomalyKinds())
	}
	logAnomalies(t, r)
}

// antiDependencyCycle names the cycles that contain a read-write
// anti-dependency: what SERIALIZABLE lets through when PostgreSQL's SSI
// misses one rw-conflict. PostgreSQL 15.18 does, rarely: about one
// 8-second run of the test above in 90, a G2-item of three transactions
// (testdata/postgres-serializable-g2-item.jsonl); Jepsen reported the
// same anomaly with the same INSERT … ON CONFLICT appends to pgsql-bugs
// for PostgreSQL 18.4 ("Possible G2-item at SERIALIZABLE"). chaoscheck
// reports it in a run, as it should. The test guards against false
// alarms of our own (an error classified wrongly, a read misparsed, an
// append lost or duplicated: G0, G1a/b/c, internal, incompatible order
// and the final read's check), so it logs these in full and fails on
// every other anomaly.
var antiDependencyCycle = map[string]bool{
	"G2-item": true, "G2-item-realtime": true, "G2-item-process": true,
	"G2": true, "G2-realtime": true, "G2-process": true,
	"G-single": true, "G-single-realtime": true, "G-single-process": true,
	"G-nonadjacent": true, "G-nonadjacent-realtime": true, "G-nonadjacent-process": true,
}

// logAnomalies logs the first anomalies in full (the cycle and its ops),
// so that a failure seen once, in CI, can be understood from its log.
func logAnomalies(t *testing.T, r checker.Result) {
	t.Helper()
	for i, a := range r.Anomalies {
		if i == 3 {
			t.Logf("… and %d more", len(r.Anomalies)-i)
			break
		}
		b, _ := json.Marshal(a)
		t.Logf("anomaly %d: %s", i+1, b)
	}
}

// elleCheck judges a list-append history with checker/elle against model.
func elleCheck(t *testing.T, h history.History, model string) checker.Result {
	t.Helper()
	c, err := elle.NewChecker(elle.Options{Workload: "list-append", Models: []string{model}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c.Check(context.Background(), h)
}

// checkAppends: every ok append is in the final read once, every failed
// one is absent, and nothing appears that no op appended.
func checkAppends(t *testing.T, h history.History, final history.Op) {
	t.Helper()
	seen := map[[2]int64]int{}
	for _, m := range final.Value.([]any) {
		mop := m.([]any)
		for _, v := range mop[2].([]any) {
			seen[[2]int64{num(mop[1]), num(v)}]++
		}
	}
	outcome := map[[2]int64]history.Type{}
	for _, op := range h {
		if op.F != "txn" || op.Type == history.Invoke || op.Process == final.Process {
			continue
		}
		for _, m := range op.Value.([]any) {
			if mop := m.([]any); mop[0] == "append" {
				outcome[[2]int64{num(mop[1]), num(mop[2])}] = op.Type
			}
		}
	}
	var ok, info int
	for kv, typ := range outcome {
		switch n := seen[kv]; {
		case typ == history.OK && n != 1:
			t.Errorf("acknowledged append %d to key %d is in the final read %d times", kv[1], kv[0], n)
		case typ == history.Fail && n != 0:
			t.Errorf("failed append %d to key %d is in the final read", kv[1], kv[0])
		case n > 1:
			t.Errorf("append %d to key %d is in the final read %d times", kv[1], kv[0], n)
		case typ == history.OK:
			ok++
		case typ == history.Info && n == 1:
			info++
		}
	}
	for kv := range seen {
		if _, ok := outcome[kv]; !ok {
			t.Errorf("final read holds %d in key %d, which no op appended", kv[1], kv[0])
		}
	}
	t.Logf("final read: %d acknowledged appends, %d info appends that took effect", ok, info)
}

// TestIsolationLevels runs the transaction shapes that expose each level's
// documented anomalies on one server and checks that PostgreSQL shows
// exactly what its documentation allows (Transaction Isolation, table
// 13.1, and "Serializable Isolation Level"): write skew (G2-item) at
// repeatable read, read skew (G-single) at read committed, neither at
// serializable, and no read skew at repeatable read.
func TestIsolationLevels(t *testing.T) {
	wopts := workload.Options{Concurrency: 10, TimeLimit: 3 * time.Second, OpTimeout: 2 * time.Second}
	s := bootSystem(t, "list-append", nil, wopts)
	for _, tc := range []struct {
		iso   string
		shape txnShape
		kind  string // anomaly that must appear, or ""
		none  []string
		// elle: the strongest model the history must satisfy, and one it
		// must violate ("" when none).
		holds, breaks string
	}{
		{"repeatable-read", writeSkewTxn, "G2-item", []string{"G-single", "G1c"}, "snapshot-isolation", "serializable"},
		{"serializable", writeSkewTxn, "", []string{"G2-item", "G-single", "G1c"}, "strict-serializable", ""},
		{"read-committed", readSkewTxn, "G-single", []string{"G1c"}, "read-committed", "snapshot-isolation"},
		{"repeatable-read", readSkewTxn, "", []string{"G2-item", "G-single", "G1c"}, "snapshot-isolation", ""},
		{"serializable", readSkewTxn, "", []string{"G2-item", "G-single", "G1c"}, "strict-serializable", ""},
	} {
		iso, _ := ParseIsolation(tc.iso)
		drv, err := NewDriver("list-append", s.dsn, iso, Node, wopts)
		if err != nil {
			t.Fatal(err)
		}
		l := targettest.NewLoad(t, drv, newLAGen(3, 4, tc.shape), wopts)
		st := l.Run(t)
		cycles, incompatible := twoCycles(l.Rec.History())
		kinds := countKinds(cycles)
		t.Logf("%s: %d txns (%d ok, %d fail, %d info): cycles %v", tc.iso, st.Invoked, st.OK, st.Fail, st.Info, kinds)
		for _, s := range incompatible {
			t.Errorf("%s: incompatible read: %s", tc.iso, s)
		}
		if tc.kind != "" && kinds[tc.kind] == 0 {
			t.Errorf("%s: no %s in %d txns; PostgreSQL documents that it allows it", tc.iso, tc.kind, st.Invoked)
		}
		h := l.Rec.History()
		if r := elleCheck(t, h, tc.holds); r.Valid != checker.Valid {
			t.Errorf("%s: elle says %s is %v: %v", tc.iso, tc.holds, r.Valid, r.AnomalyKinds())
		}
		if tc.breaks != "" {
			if r := elleCheck(t, h, tc.breaks); r.Valid != checker.Invalid || !slices.Contains(r.AnomalyKinds(), tc.kind) {
				t.Errorf("%s: elle on %s: %v %v, want invalid with %s", tc.iso, tc.breaks, r.Valid, r.AnomalyKinds(), tc.kind)
			} else {
				t.Logf("%s: elle rules out %s: %v", tc.iso, tc.breaks, r.AnomalyKinds())
			}
		}
		for _, k := range tc.none {
			if kinds[k] > 0 {
				for _, c := range cycles {
					if c.kind == k {
						t.Errorf("%s: %s, which this level rules out: %s", tc.iso, k, c.why)
						break
					}
				}
			}
		}
	}
}

// The evidence behind antiDependencyCycle: four transactions of a run of
// TestListAppendSerializableUnderKill on PostgreSQL 15.18 at SERIALIZABLE
// (the three of the cycle, and a later read that places 5124 after 5117).
// A read-only transaction saw T3's append to key 0 but not T2's to key 1,
// while T2 had not seen T3's: no serial order gives those reads.
func TestPostgresSerializableG2ItemEvidence(t *testing.T) {
	h, _, err := history.ReadFile("testdata/postgres-serializable-g2-item.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	r := elleCheck(t, h, "serializable")
	if r.Valid != checker.Invalid || !slices.Equal(r.AnomalyKinds(), []string{"G2-item"}) {
		t.Fatalf("elle at serializable: %v %v, want invalid with G2-item only", r.Valid, r.AnomalyKinds())
	}
	if got := r.Anomalies[0].Ops; !slices.Equal(slices.Sorted(slices.Values(got)), []int64{3, 4, 5}) {
		t.Errorf("cycle ops %v, want 3, 4 and 5", got)
	}
	if r := elleCheck(t, h, "snapshot-isolation"); r.Valid != checker.Valid {
		t.Errorf("elle at snapshot-isolation: %v %v, want valid (the cycle needs two anti-dependencies)", r.Valid, r.AnomalyKinds())
	}
}
