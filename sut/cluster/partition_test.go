package cluster

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/faultnet"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// These tests run the embedded Raft cluster with every peer link through a
// faultnet.Net (real processes, real loopback proxies) and cut it with
// grudges. Clients dial the nodes directly, as in Jepsen.

// partitionTick is the raft tick of the partition tests: elections and
// CheckQuorum step-downs take 1–2 s (10 ticks), time enough for a client
// to reach a leader that does not yet know it is cut off.
const partitionTick = 100 * time.Millisecond

// startPartitionable starts a 3-replica cluster whose peer links all go
// through a new faultnet.Net, closed (after the cluster stops) at cleanup.
func startPartitionable(t *testing.T, cfg RaftConfig) (*testCluster, *faultnet.Net) {
	t.Helper()
	fn := faultnet.New(nil)
	t.Cleanup(func() {
		if err := fn.Close(); err != nil {
			t.Errorf("close faultnet: %v", err)
		}
	})
	cfg.Via = fn.Via
	if cfg.Tick == 0 {
		cfg.Tick = partitionTick
	}
	return startTestCluster(t, cfg), fn
}

func raftNames(ids []uint64) []string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = raftNodeName(id)
	}
	return names
}

// others lists the replicas other than id.
func (tc *testCluster) others(id uint64) []uint64 {
	var out []uint64
	for _, o := range tc.rc.IDs() {
		if o != id {
			out = append(out, o)
		}
	}
	return out
}

// pinnedClient is a client of the given replicas only.
func (tc *testCluster) pinnedClient(ids ...uint64) *raftsql.Client {
	apis := map[uint64]string{}
	for _, id := range ids {
		apis[id] = tc.rc.APIAddr(id)
	}
	return raftsql.NewClient(apis, raftsql.ClientOptions{Timeout: 15 * time.Second})
}

// waitLeaderAmong waits until every replica in ids names the same leader,
// one of ids, and that leader says it leads; it returns it.
func (tc *testCluster) waitLeaderAmong(ids []uint64, timeout time.Duration) uint64 {
	tc.t.Helper()
	var leader uint64
	err := WaitFor(tc.ctx, timeout, 20*time.Millisecond, func(ctx context.Context) (bool, error) {
		leader = 0
		for _, id := range ids {
			st, err := tc.rc.Status(ctx, id)
			if err != nil {
				return false, err
			}
			if st.Leader == 0 || (leader != 0 && st.Leader != leader) {
				return false, fmt.Errorf("n%d follows %d", id, st.Leader)
			}
			leader = st.Leader
		}
		for _, id := range ids {
			if id == leader {
				st, err := tc.rc.Status(ctx, id)
				return err == nil && st.State == "StateLeader", err
			}
		}
		return false, fmt.Errorf("leader n%d is outside %v", leader, ids)
	})
	if err != nil {
		tc.t.Fatalf("no leader among %v: %v", ids, err)
	}
	return leader
}

func TestPartitionedLeaderIsReplacedAndConvergesAfterHeal(t *testing.T) {
	tc, fn := startPartitionable(t, RaftConfig{ExtraArgs: []string{"--request-timeout", "2s"}})
	tc.Write("create", "CREATE TABLE t (v INTEGER NOT NULL)")
	tc.Write("before", "INSERT INTO t (v) VALUES (1)")
	old := tc.Leader()
	names := raftNames(tc.rc.IDs())

	fn.Partition(faultnet.Isolate(names, raftNodeName(old)))
	// At once, while n<old> still believes it leads: its proposal cannot
	// commit, so the client must learn nothing definite.
	_, _, err := tc.pinnedClient(old).Exec(tc.ctx, "cut-off", raftsql.Stmt{SQL: "INSERT INTO t (v) VALUES (2)"})
	var e *raftsql.Error
	if !raftsql.IsIndeterminate(err) || !errors.As(err, &e) || e.Status != 504 {
		t.Fatalf("write to the isolated leader n%d: %v; want HTTP 504 indeterminate (an info op), not a definite answer", old, err)
	}

	majority := tc.others(old)
	leader := tc.waitLeaderAmong(majority, 20*time.Second)
	if _, _, err := tc.pinnedClient(majority...).Exec(tc.ctx, "majority", raftsql.Stmt{SQL: "INSERT INTO t (v) VALUES (3)"}); err != nil {
		t.Fatalf("write to the majority side (leader n%d): %v", leader, err)
	}
	for _, id := range majority {
		if c := fn.Counts(raftNodeName(old), raftNodeName(id)); c.Dropped == 0 {
			t.Errorf("no byte from n%d to n%d was dropped: the peer links do not go through faultnet (%+v)", old, id, c)
		}
	}

	fn.Heal()
	tc.WaitHealthy()
	st := tc.Status(old)
	if st.State == "StateLeader" || st.Leader == old || st.Leader == 0 {
		t.Errorf("old leader n%d after heal: %s following %d; want it stepped down and following the new leader", old, st.State, st.Leader)
	}
	rows := tc.AssertReplicasEqual("SELECT v FROM t ORDER BY v")
	want := [][]any{{int64(1)}, {int64(3)}}
	if got := intRows(t, rows); !reflect.DeepEqual(got, want) {
		// The cut-off write was only ever in n<old>'s log at the old term;
		// the new leader's entries overwrite it (Raft's log matching).
		t.Fatalf("replicas hold %v, want %v: the majority's write and not the isolated leader's", got, want)
	}
}

func intRows(t *testing.T, rows [][]any) [][]any {
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = make([]any, len(r))
		for j, v := range r {
			out[i][j] = cellInt(t, v)
		}
	}
	return out
}

// staleReadRound is what one round of the deposed-leader experiment saw.
type staleReadRound struct {
	window bool   // the old leader still said it led after the new leader acknowledged a write
	stale  bool   // the old leader answered a read with the value before that write
	read   string // what the read at the old leader returned
}

// deposedLeaderRead isolates the leader, waits for the majority to elect
// another and acknowledge a new value, then reads at the old leader. It
// heals and waits for a healthy cluster before it returns.
func deposedLeaderRead(tc *testCluster, fn *faultnet.Net, round int) staleReadRound {
	tc.t.Helper()
	var res staleReadRound
	old := tc.Leader()
	before, after := int64(2*round), int64(2*round+1)
	tc.Write(fmt.Sprintf("r%d-before", round), "UPDATE reg SET v = ? WHERE k = 1", before)
	tc.WaitHealthy() // every replica, the old leader included, has `before`

	fn.Partition(faultnet.Isolate(raftNames(tc.rc.IDs()), raftNodeName(old)))
	defer func() {
		fn.Heal()
		tc.WaitHealthy()
	}()
	majority := tc.others(old)
	tc.waitLeaderAmong(majority, 20*time.Second)
	if _, _, err := tc.pinnedClient(majority...).Exec(tc.ctx, fmt.Sprintf("r%d-after", round),
		raftsql.Stmt{SQL: "UPDATE reg SET v = ? WHERE k = 1", Args: []any{after}}); err != nil {
		tc.t.Fatalf("round %d: write on the majority side: %v", round, err)
	}
	st := tc.Status(old)
	res.window = st.State == "StateLeader"
	if !res.window {
		return res // n<old> already stepped down: nothing to see this round
	}
	ctx, cancel := context.WithTimeout(tc.ctx, 3*time.Second)
	defer cancel()
	q, node, err := tc.pinnedClient(old).Query(ctx, "SELECT v FROM reg WHERE k = 1")
	switch {
	case err != nil:
		res.read = "error: " + err.Error()
	case len(q.Rows) == 1 && len(q.Rows[0]) == 1:
		v := cellInt(tc.t, q.Rows[0][0])
		res.read = fmt.Sprintf("v=%d from n%d", v, node)
		res.stale = v == before
		if v == after {
			tc.t.Fatalf("round %d: n%d, cut off, read %d, a value it cannot have", round, old, v)
		}
	default:
		res.read = fmt.Sprintf("rows %v", q.Rows)
	}
	return res
}

// runDeposedLeaderReads runs rounds until one shows the leader window and
// stop says so, or maxRounds pass.
func runDeposedLeaderReads(t *testing.T, bugs []string, stop func(staleReadRound) bool) []staleReadRound {
	args := []string{"--request-timeout", "2s"}
	for _, b := range bugs {
		args = append(args, "--sut-bug", b)
	}
	tc, fn := startPartitionable(t, RaftConfig{ExtraArgs: args})
	tc.Write("create", "CREATE TABLE reg (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
	tc.Write("init", "INSERT INTO reg (k, v) VALUES (1, 0)")
	const maxRounds = 20
	var rounds []staleReadRound
	for i := 1; i <= maxRounds; i++ {
		r := deposedLeaderRead(tc, fn, i)
		rounds = append(rounds, r)
		t.Logf("round %d: old leader still leading after the new write: %v; read at it: %s", i, r.window, r.read)
		if stop(r) {
			return rounds
		}
	}
	t.Fatalf("%d rounds without the window in which the deposed leader still believes it leads: %+v", maxRounds, rounds)
	return nil
}

// The seeded bug local-leader-read: a deposed leader, cut off from the
// majority that has already acknowledged a newer value, answers a read
// from its own state.
func TestLocalLeaderReadServesStaleReadFromDeposedLeader(t *testing.T) {
	rounds := runDeposedLeaderReads(t, []string{"local-leader-read"}, func(r staleReadRound) bool { return r.window && r.read != "" && !isReadError(r) })
	last := rounds[len(rounds)-1]
	if !last.stale {
		t.Fatalf("deposed leader with local-leader-read answered %s; want the stale value", last.read)
	}
}

// The correct SUT, same experiment: in the window where the deposed leader
// still believes it leads, its ReadIndex cannot reach a quorum and the
// read fails instead of answering stale.
func TestDeposedLeaderRefusesReadWithoutQuorum(t *testing.T) {
	rounds := runDeposedLeaderReads(t, nil, func(r staleReadRound) bool { return r.window })
	last := rounds[len(rounds)-1]
	if last.stale || !isReadError(last) {
		t.Fatalf("deposed leader answered %s inside the window; want an error (no quorum for ReadIndex)", last.read)
	}
}

func isReadError(r staleReadRound) bool { return len(r.read) >= 6 && r.read[:6] == "error:" }
