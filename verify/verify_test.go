package verify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

var binPath string

// TestMain builds the chaoscheck binary once: the clusters the tests
// verify are real node processes.
func TestMain(m *testing.M) {
	bin, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build chaoscheck:", err)
		os.Exit(1)
	}
	binPath = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// The fixture's 2PC cluster: two participants, three accounts of 100 each.
const fixtureTotal = 600

// bootRun starts a 3-replica Raft cluster and a 2PC cluster in one run
// directory's nodes/ (the runner's layout), writes rows and transfers,
// waits until both are quiet, and returns the run dir with both clusters
// still running. t.Cleanup stops them and checks no process is left.
func bootRun(t *testing.T) (run string, rc *cluster.RaftCluster, tc *cluster.TwoPCCluster) {
	t.Helper()
	ctx := context.Background()
	run = t.TempDir()
	nodes := filepath.Join(run, store.NodesDir)
	config := `{"workload":"bank","accounts":["p1/a1","p1/a2","p1/a3","p2/a1","p2/a2","p2/a3"],"initial_balance":100}`
	if err := os.WriteFile(filepath.Join(run, store.ConfigFile), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := cluster.StartRaft(ctx, cluster.RaftConfig{N: 3, Dir: nodes, Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopClusters(t, rc, nil) })
	tc, err = cluster.StartTwoPC(ctx, cluster.TwoPCConfig{Dir: nodes, Participants: []string{"p1", "p2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopClusters(t, nil, tc) })
	if err := rc.WaitHealthy(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}

	stmts := []raftsql.Stmt{{SQL: `CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`}}
	for i := range 10 {
		stmts = append(stmts, raftsql.Stmt{SQL: `INSERT INTO kv (k, v) VALUES (?, ?)`, Args: []any{fmt.Sprintf("k%d", i), i}})
	}
	for i, s := range stmts {
		if _, _, err := rc.Client().Exec(ctx, fmt.Sprintf("r%d", i), s); err != nil {
			t.Fatalf("exec %s: %v", s.SQL, err)
		}
	}
	for i := range 8 {
		tx := twopc.Txn{TxID: fmt.Sprintf("t%d", i), Ops: map[string][]twopc.Op{
			"p1": {{Account: fmt.Sprintf("a%d", i%3+1), Delta: -int64(i + 1)}},
			"p2": {{Account: fmt.Sprintf("a%d", (i+1)%3+1), Delta: int64(i + 1)}},
		}}
		out, err := tc.Client().Submit(ctx, tx)
		if err != nil || out.Outcome != twopc.Committed {
			t.Fatalf("transfer %s: %+v, %v", tx.TxID, out, err)
		}
		if i == 0 { // a client retry: deduplicated, still one effect row
			if out, err := tc.Client().Submit(ctx, tx); err != nil || !out.Duplicate {
				t.Fatalf("retry of %s: %+v, %v", tx.TxID, out, err)
			}
		}
	}
	if err := rc.WaitHealthy(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tc.WaitHealthy(ctx, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	return run, rc, tc
}

// stopClusters stops the clusters given and fails the test if a node
// process outlives Stop.
func stopClusters(t *testing.T, rc *cluster.RaftCluster, tc *cluster.TwoPCCluster) {
	t.Helper()
	if rc != nil {
		if err := rc.Stop(); err != nil {
			t.Error(err)
		}
		if pids := rc.Pids(); len(pids) > 0 {
			t.Errorf("raft processes left after Stop: %v", pids)
		}
	}
	if tc != nil {
		if err := tc.Stop(); err != nil {
			t.Error(err)
		}
		if pids := tc.Leftovers(); len(pids) > 0 {
			t.Errorf("processes left after Stop: %v", pids)
		}
	}
}

func verifyRun(t *testing.T, run string, mutate func(*Options)) Report {
	t.Helper()
	o, err := FromRunDir(run)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(&o)
	}
	return Verify(context.Background(), o)
}

// verdicts maps each check to its verdict, for one-line comparisons.
func verdicts(rep Report) map[string]checker.Validity {
	m := map[string]checker.Validity{}
	for _, c := range rep.Checkers {
		m[c.Checker] = c.Valid
	}
	return m
}

func allValid() map[string]checker.Validity {
	return map[string]checker.Validity{"replicas": checker.Valid, "in-doubt": checker.Valid, "applied-once": checker.Valid,
		"conservation": checker.Valid, "atomicity": checker.Valid}
}

func summary(rep Report) string {
	var b bytes.Buffer
	_ = WriteSummary(&b, rep)
	return b.String()
}

func wantVerdicts(t *testing.T, rep Report, want map[string]checker.Validity) {
	t.Helper()
	got := verdicts(rep)
	for name, v := range want {
		if got[name] != v {
			t.Errorf("check %s is %s, want %s\n%s", name, got[name], v, summary(rep))
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("checks %v, want %v", got, want)
	}
}

// anomaly returns the first anomaly of kind in check, failing without one.
func anomaly(t *testing.T, rep Report, check, kind string) checker.Anomaly {
	t.Helper()
	for _, c := range rep.Checkers {
		for _, a := range c.Anomalies {
			if c.Checker == check && a.Kind == kind {
				return a
			}
		}
	}
	t.Fatalf("no %s anomaly in check %s\n%s", kind, check, summary(rep))
	return checker.Anomaly{}
}

// fileStamps records every file's size and modification time under dir.
func fileStamps(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m[p] = fmt.Sprintf("%d %s", fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyRun copies a stopped run's data dirs to a fresh run dir, for a test
// to corrupt.
func copyRun(t *testing.T, run string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(run, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(run, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// execSQL changes a stopped node's SQLite file behind its back.
func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", path, s, err)
		}
	}
}

func TestVerifyRealClusters(t *testing.T) {
	run, rc, tc := bootRun(t)

	t.Run("running cluster: replicas and participants judged, coordinator locked", func(t *testing.T) {
		rep := verifyRun(t, run, nil)
		want := allValid()
		want["atomicity"] = checker.Unknown
		wantVerdicts(t, rep, want)
		if !strings.Contains(summary(rep), "coordinator "+filepath.Join(run, "nodes", "coordinator", "data")+": running") {
			t.Errorf("atomicity does not say the coordinator runs:\n%s", summary(rep))
		}
	})

	// Crash the Raft replicas and the coordinator (kill -9 leaves SQLite
	// WALs and badger's unfinished write-ahead log behind), stop the
	// participants cleanly (their databases checkpointed, no WAL): verify
	// must read both kinds of leftovers.
	for _, id := range rc.IDs() {
		if err := rc.Kill(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.Kill(cluster.TwoPCCoordinator); err != nil {
		t.Fatal(err)
	}
	stopClusters(t, rc, tc)
	for _, f := range []string{"n1/state.db-wal", "coordinator/data/00001.mem"} {
		if _, err := os.Stat(filepath.Join(run, "nodes", f)); err != nil {
			t.Fatalf("the crash left no %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "nodes", "p1", "data", "participant.db-wal")); err == nil {
		t.Fatal("the clean stop left p1's WAL")
	}
	before := fileStamps(t, run)

	t.Run("stopped cluster is valid", func(t *testing.T) {
		rep := verifyRun(t, run, nil)
		wantVerdicts(t, rep, allValid())
		if rep.Valid != checker.Valid {
			t.Errorf("verdict %s, want valid", rep.Valid)
		}
		for _, c := range rep.Checkers {
			if c.Checker == "replicas" && c.Counts["compared"] != 3 {
				t.Errorf("replicas compared %d, want 3", c.Counts["compared"])
			}
			if c.Checker == "conservation" && c.Details.(Conservation).Sum != fixtureTotal {
				t.Errorf("conservation found %+v, want sum %d", c.Details, fixtureTotal)
			}
			if c.Checker == "atomicity" && c.Counts["committed"] != 8 {
				t.Errorf("atomicity saw %d committed txs, want 8", c.Counts["committed"])
			}
		}
	})

	t.Run("verify writes nothing into the data dirs", func(t *testing.T) {
		after := fileStamps(t, run)
		for p, s := range before {
			// SQLite's shared-memory WAL index is the exception: every
			// reader records its read mark there, and a reader after a
			// crash rebuilds it from the WAL.
			if after[p] != s && !strings.HasSuffix(p, "-shm") {
				t.Errorf("%s changed: %s → %s", p, s, after[p])
			}
		}
		for p := range after {
			if _, ok := before[p]; !ok {
				t.Errorf("verify created %s", p)
			}
		}
	})

	t.Run("a changed row in one replica is a divergence naming it", func(t *testing.T) {
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "n2", "state.db"), `UPDATE kv SET v = v + 1 WHERE k = 'k3'`)
		rep := verifyRun(t, c, nil)
		want := allValid()
		want["replicas"] = checker.Invalid
		wantVerdicts(t, rep, want)
		if a := anomaly(t, rep, "replicas", "divergence"); a.Key != "n2" || !strings.Contains(a.Detail, "n1, n3") {
			t.Errorf("divergence %+v, want n2 against n1, n3", a)
		}
	})

	t.Run("a replica behind is lagging, a failure only when strict", func(t *testing.T) {
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "n3", "state.db"), `UPDATE _chaoscheck_applied SET idx = idx - 1`)
		rep := verifyRun(t, c, nil)
		wantVerdicts(t, rep, allValid())
		if !strings.Contains(summary(rep), "lagging: n3") {
			t.Errorf("no lagging note for n3:\n%s", summary(rep))
		}
		rep = verifyRun(t, c, func(o *Options) { o.Strict = true })
		if a := anomaly(t, rep, "replicas", "lagging"); a.Key != "n3" {
			t.Errorf("strict: lagging %+v, want n3", a)
		}
	})

	t.Run("a second effect row is applied twice, naming the tx_id", func(t *testing.T) {
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "p1", "data", "participant.db"),
			`INSERT INTO effects (tx_id, xid, ops, applied_ns) SELECT tx_id, xid, '[]', applied_ns FROM effects WHERE tx_id = 't5'`)
		rep := verifyRun(t, c, nil)
		want := allValid()
		want["applied-once"] = checker.Invalid
		wantVerdicts(t, rep, want)
		if a := anomaly(t, rep, "applied-once", "applied-twice"); a.Key != "t5" || !strings.Contains(a.Detail, "p1") {
			t.Errorf("applied twice %+v, want t5 on p1", a)
		}
	})

	t.Run("a prepared tx is pending, naming node and tx_id", func(t *testing.T) {
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "p2", "data", "participant.db"),
			`INSERT INTO txs (xid, tx_id, state, ops, updated_ns) VALUES ('t-doubt', 't-doubt', 'prepared', '[]', 1)`)
		rep := verifyRun(t, c, nil)
		want := allValid()
		want["in-doubt"] = checker.Unknown
		wantVerdicts(t, rep, want)
		for _, r := range rep.Checkers {
			if r.Checker != "in-doubt" {
				continue
			}
			if notes := strings.Join(r.Notes, "\n"); !strings.Contains(notes, "p2 holds t-doubt") || !strings.Contains(notes, "no record") {
				t.Errorf("in-doubt notes %q; want t-doubt on p2, unknown to the coordinator", notes)
			}
		}
	})

	t.Run("a changed balance is not conserved", func(t *testing.T) {
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "p1", "data", "participant.db"), `UPDATE accounts SET balance = balance + 7 WHERE name = 'a2'`)
		rep := verifyRun(t, c, nil)
		want := allValid()
		want["conservation"] = checker.Invalid
		wantVerdicts(t, rep, want)
		if a := anomaly(t, rep, "conservation", "not-conserved"); !strings.Contains(a.Detail, fmt.Sprint(fixtureTotal+7)) || !strings.Contains(a.Detail, "config.json") {
			t.Errorf("not conserved %+v, want sum %d against config.json's total", a, fixtureTotal+7)
		}
	})

	t.Run("a committed tx missing on one participant is a partial commit", func(t *testing.T) {
		c := copyRun(t, run)
		// Undo t4 on p2 entirely (effect row and balance), so only
		// atomicity can see it: t4 moved 5 into p2/a3.
		execSQL(t, filepath.Join(c, "nodes", "p2", "data", "participant.db"),
			`DELETE FROM effects WHERE tx_id = 't4'`, `UPDATE accounts SET balance = balance - 5 WHERE name = 'a3'`)
		execSQL(t, filepath.Join(c, "nodes", "p1", "data", "participant.db"), `UPDATE accounts SET balance = balance + 5 WHERE name = 'a2'`)
		execSQL(t, filepath.Join(c, "nodes", "p1", "data", "participant.db"),
			`INSERT INTO effects (tx_id, xid, ops, applied_ns) VALUES ('t-ghost', 't-ghost', '[]', 1)`)
		rep := verifyRun(t, c, nil)
		want := allValid()
		want["atomicity"] = checker.Invalid
		wantVerdicts(t, rep, want)
		if a := anomaly(t, rep, "atomicity", "partial-commit"); a.Key != "t4" || !strings.Contains(a.Detail, "applied on p1; not on p2") {
			t.Errorf("partial commit %+v, want t4 applied on p1, not on p2", a)
		}
		if a := anomaly(t, rep, "atomicity", "applied-without-commit"); a.Key != "t-ghost" {
			t.Errorf("applied without commit %+v, want t-ghost", a)
		}
	})

	t.Run("the command exits 0 on the stopped run and 1 on a corrupted copy", func(t *testing.T) {
		out, code := runCLI(t, "verify", run)
		if code != 0 || !strings.Contains(out, "verdict: VALID") {
			t.Errorf("exit %d, want 0:\n%s", code, out)
		}
		c := copyRun(t, run)
		execSQL(t, filepath.Join(c, "nodes", "n1", "state.db"), `DELETE FROM kv WHERE k = 'k1'`)
		out, code = runCLI(t, "verify", "--json", "--raft", filepath.Join(c, "nodes", "n1")+","+filepath.Join(c, "nodes", "n2"))
		var rep Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("--json output: %v\n%s", err, out)
		}
		if code != 1 || rep.Valid != checker.Invalid || len(rep.Checkers) != 1 {
			t.Errorf("exit %d, report %+v; want 1 and one invalid check", code, rep)
		}
	})
}

func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}
