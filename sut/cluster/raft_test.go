package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/failpoint"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// These tests start real 3-replica clusters (real processes, badger and
// SQLite files, fsync) with a 50 ms tick, and wait on conditions with
// deadlines, never on sleeps.

const (
	testTick    = 50 * time.Millisecond
	healthyWait = 30 * time.Second
)

// testCluster is a RaftCluster driven by one test, with the steps of the
// scenarios as methods. Every failure is fatal to the test.
type testCluster struct {
	t   *testing.T
	rc  *RaftCluster
	ctx context.Context
}

// startTestCluster starts a 3-replica cluster in a temporary directory and
// waits for a leader. Cleanup stops it and fails the test if any replica
// process is left.
func startTestCluster(t *testing.T, cfg RaftConfig) *testCluster {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Tick == 0 {
		cfg.Tick = testTick
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	rc, err := StartRaft(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopAndCheckGone(t, rc) })
	tc := &testCluster{t: t, rc: rc, ctx: ctx}
	tc.WaitHealthy()
	return tc
}

// stopAndCheckGone stops rc and checks that no replica process survived.
func stopAndCheckGone(t *testing.T, rc *RaftCluster) {
	pids := rc.Pids()
	if err := rc.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := rc.Stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("replica process %d still exists after Stop (kill -0: %v)", pid, err)
		}
	}
	if left := rc.Pids(); len(left) > 0 {
		t.Errorf("replicas still running after Stop: %v", left)
	}
}

func (tc *testCluster) WaitHealthy() {
	tc.t.Helper()
	if err := tc.rc.WaitHealthy(tc.ctx, healthyWait); err != nil {
		tc.t.Fatalf("cluster not healthy: %v", err)
	}
}

func (tc *testCluster) Leader() uint64 {
	tc.t.Helper()
	var leader uint64
	err := WaitFor(tc.ctx, healthyWait, 25*time.Millisecond, func(ctx context.Context) (bool, error) {
		l, err := tc.rc.Leader(ctx)
		leader = l
		return err == nil, err
	})
	if err != nil {
		tc.t.Fatalf("leader: %v", err)
	}
	return leader
}

// Write executes one statement under requestID. An indeterminate failure
// (the leader died with the request in flight) is retried with the same
// request id, which the SUT deduplicates; anything else is fatal.
func (tc *testCluster) Write(requestID, sql string, args ...any) raftsql.ExecResult {
	tc.t.Helper()
	var res raftsql.ExecResult
	err := WaitFor(tc.ctx, healthyWait, 50*time.Millisecond, func(ctx context.Context) (bool, error) {
		r, _, err := tc.rc.Client().Exec(ctx, requestID, raftsql.Stmt{SQL: sql, Args: args})
		switch {
		case err == nil:
			res = r
			return true, nil
		case raftsql.IsIndeterminate(err) || raftsql.IsNotLeader(err) || isTimeout(err):
			return false, err
		default:
			tc.t.Fatalf("write %s %q: %v", requestID, sql, err)
			return false, err
		}
	})
	if err != nil {
		tc.t.Fatalf("write %s %q: %v", requestID, sql, err)
	}
	return res
}

func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded")
}

// RestartLeader kills the leader with SIGKILL, starts it again on the same
// data dir, waits until the cluster is healthy and returns the restarted
// replica's id and /status.
func (tc *testCluster) RestartLeader() (uint64, raftsql.Status) {
	tc.t.Helper()
	leader := tc.Leader()
	if err := tc.rc.Restart(leader); err != nil {
		tc.t.Fatalf("restart leader n%d: %v", leader, err)
	}
	tc.WaitHealthy()
	st, err := tc.rc.Status(tc.ctx, leader)
	if err != nil {
		tc.t.Fatalf("status of restarted n%d: %v", leader, err)
	}
	return leader, st
}

// QueryLeaderScalar runs a linearizable query returning one integer.
func (tc *testCluster) QueryLeaderScalar(sql string, args ...any) int64 {
	tc.t.Helper()
	res, _, err := tc.rc.Client().Query(tc.ctx, sql, args...)
	if err != nil {
		tc.t.Fatalf("query %q: %v", sql, err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 {
		tc.t.Fatalf("query %q: want one value, got %v", sql, res.Rows)
	}
	return cellInt(tc.t, res.Rows[0][0])
}

// QueryEachReplica runs sql on every replica's own state (after
// WaitHealthy: all have applied the leader's commit) and returns the rows
// per replica.
func (tc *testCluster) QueryEachReplica(sql string, args ...any) map[uint64][][]any {
	tc.t.Helper()
	out := map[uint64][][]any{}
	for _, id := range tc.rc.IDs() {
		res, err := tc.rc.Client().QueryLocal(tc.ctx, id, sql, args...)
		if err != nil {
			tc.t.Fatalf("query n%d %q: %v", id, sql, err)
		}
		out[id] = res.Rows
	}
	return out
}

// AssertReplicasEqual fails unless every replica returns the same rows.
func (tc *testCluster) AssertReplicasEqual(sql string) [][]any {
	tc.t.Helper()
	rows := tc.QueryEachReplica(sql)
	first := rows[1]
	for id, r := range rows {
		if !reflect.DeepEqual(r, first) {
			tc.t.Fatalf("replicas differ on %q:\n n1: %v\n n%d: %v", sql, first, id, r)
		}
	}
	return first
}

func (tc *testCluster) Status(id uint64) raftsql.Status {
	tc.t.Helper()
	st, err := tc.rc.Status(tc.ctx, id)
	if err != nil {
		tc.t.Fatalf("status n%d: %v", id, err)
	}
	return st
}

func cellInt(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			t.Fatalf("cell %v: %v", v, err)
		}
		return i
	case float64:
		return int64(x)
	}
	t.Fatalf("cell %v (%T) is not an integer", v, v)
	return 0
}

// restartScenario creates a table, inserts 0..19, each under its own
// request id, and restarts the leader (kill -9, start on the same data
// dir) after every third insert. It returns how many restarts recovered
// from a snapshot.
func restartScenario(tc *testCluster) (fromSnapshot int) {
	tc.t.Helper()
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	for i := 0; i < 20; i++ {
		tc.Write(fmt.Sprintf("insert-%d", i), "INSERT INTO t (v) VALUES (?)", i)
		if i%3 == 2 {
			id, st := tc.RestartLeader()
			tc.t.Logf("after insert %d restarted leader n%d: recovered_from_snapshot=%d applied=%d", i, id, st.RecoveredFromSnapshot, st.Applied)
			if st.RecoveredFromSnapshot > 0 {
				fromSnapshot++
			}
		}
	}
	tc.WaitHealthy()
	return fromSnapshot
}

// exactlyOnceViolations checks the restart scenario's outcome: the leader
// counts 20 rows of 20 distinct values, and every replica holds exactly
// the values 0..19.
func exactlyOnceViolations(tc *testCluster) []string {
	tc.t.Helper()
	var bad []string
	if n := tc.QueryLeaderScalar("SELECT COUNT(*) FROM t"); n != 20 {
		bad = append(bad, fmt.Sprintf("leader: COUNT(*) = %d, want 20", n))
	}
	if n := tc.QueryLeaderScalar("SELECT COUNT(DISTINCT v) FROM t"); n != 20 {
		bad = append(bad, fmt.Sprintf("leader: COUNT(DISTINCT v) = %d, want 20", n))
	}
	for id, rows := range tc.QueryEachReplica("SELECT v FROM t ORDER BY v") {
		var vs []int64
		for _, r := range rows {
			vs = append(vs, cellInt(tc.t, r[0]))
		}
		if len(vs) != 20 || vs[0] != 0 || vs[19] != 19 || countDistinct(vs) != 20 {
			bad = append(bad, fmt.Sprintf("n%d holds %d rows: %v", id, len(vs), vs))
		}
	}
	return bad
}

func countDistinct(vs []int64) int {
	m := map[int64]bool{}
	for _, v := range vs {
		m[v] = true
	}
	return len(m)
}

// The applied index is committed in the same SQLite transaction as the
// entry's effects, and a restarted replica tells raft (Config.Applied) to
// redeliver nothing at or below it. If the index were not persisted with
// the data, a restart would re-apply entries already in the database and
// COUNT(*) would exceed 20: TestChaosLeaderRestartForgetAppliedIndexIsCaught
// shows that this test notices.
func TestChaosLeaderRestartPreservesWALSnapshotState(t *testing.T) {
	// A snapshot every 4 entries: the 6 restarts cross snapshot boundaries,
	// so most restarted leaders start from a snapshot plus a log suffix.
	tc := startTestCluster(t, RaftConfig{SnapshotEvery: 4})
	fromSnapshot := restartScenario(tc)
	if bad := exactlyOnceViolations(tc); len(bad) > 0 {
		t.Fatalf("restarts broke exactly-once:\n%s", strings.Join(bad, "\n"))
	}
	if fromSnapshot == 0 {
		t.Fatalf("no restart recovered from a snapshot; the test did not cross a snapshot boundary")
	}
	found := false
	for _, id := range tc.rc.IDs() {
		b, err := os.ReadFile(tc.rc.LogPath(id))
		if err != nil {
			t.Fatal(err)
		}
		found = found || strings.Contains(string(b), "recovered from snapshot index=")
	}
	if !found {
		t.Errorf(`no node.log says "recovered from snapshot index="`)
	}
}

// The same scenario against the seeded bug forget-applied-index must fail
// the exactly-once check: proof that the test above can fail. Snapshots
// are off, because restoring a snapshot at start (a state machine behind
// the log's snapshot) would replace the doubly applied rows.
func TestChaosLeaderRestartForgetAppliedIndexIsCaught(t *testing.T) {
	tc := startTestCluster(t, RaftConfig{ExtraArgs: []string{"--sut-bug", "forget-applied-index", "--snapshot-every", "0"}})
	restartScenario(tc)
	bad := exactlyOnceViolations(tc)
	if len(bad) == 0 {
		t.Fatalf("forget-applied-index went unnoticed: every replica holds exactly 0..19")
	}
	t.Logf("caught, as expected:\n%s", strings.Join(bad, "\n"))
}

// writeOutcome is what a writer learned about one request id.
type writeOutcome int

const (
	acked         writeOutcome = iota // ok: must be present exactly once
	indeterminate                     // info: present at most once
	failed                            // fail: must be absent
)

// Every acknowledged write survives a simultaneous kill -9 of all
// replicas, exactly once; a write whose outcome the client could not know
// is there at most once; a definitely failed one is absent.
func TestAllNodesKilledAtOnceKeepEveryAckedWrite(t *testing.T) {
	tc := startTestCluster(t, RaftConfig{SnapshotEvery: 10})
	tc.Write("create", "CREATE TABLE w (rid TEXT NOT NULL)")

	var (
		mu       sync.Mutex
		outcomes = map[string]writeOutcome{}
		nAcked   int
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	client := tc.rc.Client()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				rid := fmt.Sprintf("w%d-%d", w, seq)
				ctx, cancel := context.WithTimeout(tc.ctx, 2*time.Second)
				_, _, err := client.Exec(ctx, rid, raftsql.Stmt{SQL: "INSERT INTO w (rid) VALUES (?)", Args: []any{rid}})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					outcomes[rid] = acked
					nAcked++
				case raftsql.IsIndeterminate(err):
					outcomes[rid] = indeterminate
				default:
					outcomes[rid] = failed
				}
				mu.Unlock()
			}
		}()
	}

	// Kill every replica at once, mid-load.
	err := WaitFor(tc.ctx, 30*time.Second, 10*time.Millisecond, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return nAcked >= 40, fmt.Errorf("%d writes acknowledged", nAcked)
	})
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	var kwg sync.WaitGroup
	for _, id := range tc.rc.IDs() {
		kwg.Add(1)
		go func() {
			defer kwg.Done()
			if err := tc.rc.Kill(id); err != nil {
				t.Errorf("kill n%d: %v", id, err)
			}
		}()
	}
	kwg.Wait()
	close(stop)
	wg.Wait()
	if left := tc.rc.Pids(); len(left) > 0 {
		t.Fatalf("replicas alive after kill: %v", left)
	}

	for _, id := range tc.rc.IDs() {
		if err := tc.rc.Start(id); err != nil {
			t.Fatalf("start n%d: %v", id, err)
		}
	}
	tc.WaitHealthy()

	res, _, err := client.Query(tc.ctx, "SELECT rid, COUNT(*) FROM w GROUP BY rid")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int64{}
	for _, r := range res.Rows {
		found[r[0].(string)] = cellInt(t, r[1])
	}
	counts := map[writeOutcome]int{}
	for rid, o := range outcomes {
		counts[o]++
		n := found[rid]
		switch {
		case o == acked && n != 1:
			t.Errorf("acknowledged write %s present %d times, want 1", rid, n)
		case o == indeterminate && n > 1:
			t.Errorf("indeterminate write %s present %d times, want at most 1", rid, n)
		case o == failed && n != 0:
			t.Errorf("failed write %s present %d times, want 0", rid, n)
		}
	}
	for rid := range found {
		if _, ok := outcomes[rid]; !ok {
			t.Errorf("row %s was never written", rid)
		}
	}
	t.Logf("writes: %d acked, %d indeterminate, %d failed; %d rows", counts[acked], counts[indeterminate], counts[failed], len(found))
	tc.AssertReplicasEqual("SELECT rid FROM w ORDER BY rid")
}

// A follower that was down while the log was compacted past its last
// entry catches up by installing the leader's snapshot.
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	tc := startTestCluster(t, RaftConfig{SnapshotEvery: 5})
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	leader := tc.Leader()
	follower := tc.rc.IDs()[0]
	if follower == leader {
		follower = tc.rc.IDs()[1]
	}
	behind := tc.Status(follower).Applied
	if err := tc.rc.Kill(follower); err != nil {
		t.Fatal(err)
	}

	// Write until both live replicas compacted their logs past the
	// follower's last entry: only a snapshot can bring it back.
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatalf("log never compacted past index %d", behind)
		}
		tc.Write(fmt.Sprintf("insert-%d", i), "INSERT INTO t (v) VALUES (?)", i)
		compacted := true
		for _, id := range tc.rc.IDs() {
			if id != follower && tc.Status(id).FirstIndex <= behind+1 {
				compacted = false
			}
		}
		if compacted && i >= 30 {
			break
		}
	}

	if err := tc.rc.Start(follower); err != nil {
		t.Fatal(err)
	}
	tc.WaitHealthy()
	st := tc.Status(follower)
	if st.SnapshotsInstalled == 0 || st.InstalledSnapshotIndex <= behind {
		t.Fatalf("n%d caught up without installing a snapshot: %+v", follower, st)
	}
	tc.AssertReplicasEqual("SELECT v FROM t ORDER BY v")
	b, err := os.ReadFile(tc.rc.LogPath(follower))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "installed snapshot from leader") {
		t.Errorf("n%d's node.log does not mention the installed snapshot", follower)
	}
}

// A request id is applied once however often, wherever and whenever it is
// sent: repeats answer with the first result and Duplicate set.
func TestRetriedRequestIDAppliesOnce(t *testing.T) {
	tc := startTestCluster(t, RaftConfig{SnapshotEvery: 8})
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	first := tc.Write("once", "INSERT INTO t (v) VALUES (?)", 1)
	if first.Duplicate {
		t.Fatalf("first application reported as duplicate: %+v", first)
	}
	check := func(how string, res raftsql.ExecResult) {
		t.Helper()
		if !res.Duplicate || res.Index != first.Index {
			t.Errorf("%s: got %+v, want Duplicate with index %d", how, res, first.Index)
		}
	}
	check("repeat", tc.Write("once", "INSERT INTO t (v) VALUES (?)", 1))

	// To each replica, followers forwarding to the leader.
	for _, id := range tc.rc.IDs() {
		c := raftsql.NewClient(map[uint64]string{id: tc.rc.APIAddr(id)}, raftsql.ClientOptions{Timeout: 10 * time.Second})
		res, node, err := c.Exec(tc.ctx, "once", raftsql.Stmt{SQL: "INSERT INTO t (v) VALUES (?)", Args: []any{1}})
		if err != nil {
			t.Fatalf("via n%d: %v", id, err)
		}
		check(fmt.Sprintf("via n%d (served by n%d)", id, node), res)
	}

	// After the leader restarted.
	tc.RestartLeader()
	check("after leader restart", tc.Write("once", "INSERT INTO t (v) VALUES (?)", 1))

	// Concurrently to all replicas: several entries with the same id reach
	// the log; exactly the first applies.
	var wg sync.WaitGroup
	results := make([]raftsql.ExecResult, 6)
	errs := make([]error, 6)
	ids := tc.rc.IDs()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := ids[i%len(ids)]
			c := raftsql.NewClient(map[uint64]string{id: tc.rc.APIAddr(id)}, raftsql.ClientOptions{Timeout: 10 * time.Second})
			results[i], _, errs[i] = c.Exec(tc.ctx, "concurrent", raftsql.Stmt{SQL: "INSERT INTO t (v) VALUES (?)", Args: []any{2}})
		}()
	}
	wg.Wait()
	fresh := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("concurrent send %d: %v", i, errs[i])
		}
		if !res.Duplicate {
			fresh++
		}
		if res.Index != results[0].Index {
			t.Errorf("concurrent sends answered with different first indexes: %+v", results)
		}
	}
	if fresh != 1 {
		t.Errorf("%d of the concurrent sends applied, want exactly 1: %+v", fresh, results)
	}

	tc.WaitHealthy()
	for id, rows := range tc.QueryEachReplica("SELECT v, COUNT(*) FROM t GROUP BY v ORDER BY v") {
		if len(rows) != 2 || cellInt(t, rows[0][1]) != 1 || cellInt(t, rows[1][1]) != 1 {
			t.Errorf("n%d: rows per value %v, want one 1 and one 2", id, rows)
		}
	}
}

// A proposal that can never commit (both followers paused) must not hang
// its client: the leader answers 504, indeterminate, at its request
// timeout; and the command is applied at most once after the heal.
func TestProposalWithoutQuorumTimesOutIndeterminate(t *testing.T) {
	// Elections after 2 s, requests time out after 1 s: the leader is
	// still leader when the proposal times out.
	tc := startTestCluster(t, RaftConfig{ExtraArgs: []string{"--election-ticks", "40", "--request-timeout", "1s"}})
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	leader := tc.Leader()
	var followers []uint64
	for _, id := range tc.rc.IDs() {
		if id != leader {
			followers = append(followers, id)
			if err := tc.rc.Pause(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := raftsql.NewClient(map[uint64]string{leader: tc.rc.APIAddr(leader)}, raftsql.ClientOptions{Timeout: 10 * time.Second})
	start := time.Now()
	_, node, err := c.Exec(tc.ctx, "stuck", raftsql.Stmt{SQL: "INSERT INTO t (v) VALUES (1)"})
	took := time.Since(start)
	var e *raftsql.Error
	if !errors.As(err, &e) || !raftsql.IsIndeterminate(err) || e.Status != 504 || !strings.Contains(err.Error(), "indeterminate") {
		t.Fatalf("exec without quorum: node %d, err %v; want HTTP 504 indeterminate", node, err)
	}
	if took > 5*time.Second {
		t.Errorf("exec without quorum took %v; the request timeout is 1s", took)
	}
	for _, id := range followers {
		if err := tc.rc.Resume(id); err != nil {
			t.Fatal(err)
		}
	}
	tc.WaitHealthy()
	if n := tc.QueryLeaderScalar("SELECT COUNT(*) FROM t"); n > 1 {
		t.Fatalf("indeterminate insert applied %d times", n)
	}
}

// A `panic` failpoint in the Ready loop crashes the replica like a real
// crash; started again, it recovers and converges.
func TestFailpointPanicCrashesReplicaThatThenRecovers(t *testing.T) {
	tc := startTestCluster(t, RaftConfig{SnapshotEvery: 5})
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	leader := tc.Leader()
	victim := tc.rc.IDs()[0]
	if victim == leader {
		victim = tc.rc.IDs()[1]
	}
	if err := failpoint.Enable(nil, "http://"+tc.rc.APIAddr(victim), "raftBeforeApply", `panic("crash before apply")`); err != nil {
		t.Fatal(err)
	}
	tc.Write("insert-1", "INSERT INTO t (v) VALUES (1)")
	exited, _ := tc.rc.Node(victim).Exited()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("n%d still running 10s after its failpoint should have fired", victim)
	}
	b, err := os.ReadFile(tc.rc.LogPath(victim))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "crash before apply") {
		t.Fatalf("n%d's node.log does not show the failpoint panic", victim)
	}
	for i := 2; i <= 10; i++ {
		tc.Write(fmt.Sprintf("insert-%d", i), "INSERT INTO t (v) VALUES (?)", i)
	}
	if err := tc.rc.Start(victim); err != nil {
		t.Fatal(err)
	}
	tc.WaitHealthy()
	rows := tc.AssertReplicasEqual("SELECT v FROM t ORDER BY v")
	if len(rows) != 10 {
		t.Fatalf("replicas hold %d rows, want 10: %v", len(rows), rows)
	}
}
