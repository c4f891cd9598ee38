package selftest

import (
	"fmt"
	"slices"
	"time"

	"github.com/chaoscheck/chaoscheck/runner"
	"github.com/chaoscheck/chaoscheck/sut/bugs"
)

// Scenario is a run configuration that exposes one or more seeded bugs:
// a workload, a nemesis and the schedule that makes the fault bite.
type Scenario struct {
	Name string
	// Why says what the fault does to the system, in one line.
	Why string
	set func(*runner.Config)
}

// Config returns the scenario's run configuration (the runner's defaults
// with the scenario's values) for seed, stored under store.
func (s Scenario) Config(seed int64, store string) runner.Config {
	c := runner.Defaults()
	s.set(&c)
	c.Seed, c.Store = seed, store
	return c
}

// Bug is one row of the matrix: a seeded bug and how it is caught.
type Bug struct {
	// ID names the row: the system and the --sut-bug name, e.g.
	// "raft/no-dedup" (raftsql and the 2PC coordinator both have a
	// no-dedup and a memory-dedup).
	ID string
	// Name is the --sut-bug name.
	Name string
	// Wrong says what goes wrong in the system, in one line.
	Wrong string
	// Scenario is the name of the scenario that exposes it.
	Scenario string
	// Expect lists the anomalies that count as catching it, as
	// "checker:kind" (e.g. "set:lost"); any one of them will do.
	Expect []string
}

// Scenarios are the configurations the matrix uses. Their time limits are
// short on purpose: the whole matrix runs on every commit.
var Scenarios = []Scenario{
	{
		Name: "set-kill-all",
		Why:  "set; every Raft node SIGKILLed at once 2s in (followers lagging in apply), restarted with the former leader last",
		set: func(c *runner.Config) {
			// One power cut: a second one would hit a cluster that
			// unsynced-log has already split (the former leader keeps
			// entries the others lost), which can then elect no leader
			// and answer no final read. The default rate keeps the run
			// below 1000 log entries, the nodes' first snapshot:
			// restoring one hides forget-applied-index. unsynced-log
			// leaves a cluster that never becomes healthy: a short heal
			// wait (a correct cluster is healthy again in a few seconds).
			c.Workload, c.Nemesis = "set", "kill-all"
			c.NemesisInterval, c.Rounds, c.TimeLimit = 2*time.Second, 1, 8*time.Second
			c.HealTimeout = 15 * time.Second
		},
	},
	{
		Name: "register-lag-follower",
		Why:  "register with clients bound to replicas; one follower's apply stalled for 2s, then caught up",
		set: func(c *runner.Config) {
			c.Workload, c.Nemesis = "register-per-node", "lag-follower"
			c.NemesisInterval, c.TimeLimit = 2*time.Second, 8*time.Second
		},
	},
	{
		Name: "retry-raft-kill-all",
		Why:  "retry on Raft (tx_id as request id, resubmitted and duplicated); every node SIGKILLed at once every 2s",
		set: func(c *runner.Config) {
			c.Workload, c.Target, c.Nemesis = "retry", "raft", "kill-all"
			c.NemesisInterval, c.TimeLimit = 2*time.Second, 8*time.Second
			// Long enough to outlast a restart of the whole cluster: an op
			// that gives up while every node is down is a fail, and a
			// failed retry of an acknowledged tx_id reads as a
			// contradiction to the txid checker.
			c.OpTimeout = 8 * time.Second
		},
	},
	{
		Name: "retry-twopc-restart-coordinator",
		Why:  "retry on 2PC through a duplicating proxy; the coordinator SIGKILLed and restarted about every 1.4s",
		set: func(c *runner.Config) {
			// duplicate-retry's proxy also answers "not delivered" (502,
			// indeterminate) while the coordinator is down, where a bare
			// refused connection would make a retry a fail.
			// A restart catches memory-dedup only if a retry of a tx_id
			// committed before it comes after it. The retry workload
			// resubmits one of its last 8 tx_ids on a fifth of its ops, so
			// about 6 restarts in 10 are followed by one before the ring
			// has moved on: 5 restarts per run (at 1.5s intervals, 2 in 5
			// runs went unnoticed).
			c.Workload, c.Target, c.Nemesis = "retry", "twopc", "duplicate-retry,restart-coordinator"
			c.NemesisInterval, c.TimeLimit = 700*time.Millisecond, 8*time.Second
		},
	},
	{
		Name: "bank-coordinator-crash",
		Why:  "bank; a participant SIGKILLed between prepare and commit, the coordinator SIGKILLed in its commit window, both restarted",
		set: func(c *runner.Config) {
			// forget-prepared leaves a cluster that never becomes
			// healthy: a short heal wait.
			c.Workload, c.Nemesis = "bank", "coordinator-crash"
			c.NemesisInterval, c.TimeLimit, c.HealTimeout = time.Second, 8*time.Second, 15*time.Second
		},
	},
	{
		Name: "register-deposed-leader",
		Why:  "register with clients bound to replicas; the Raft leader cut off and frozen until the others elect a new one, thawed still cut off, three times",
		set: func(c *runner.Config) {
			// A deposed leader serves stale reads only while it still
			// believes it leads. partition-leader shows that state only
			// when the majority commits before the old leader's
			// CheckQuorum fires (about one cut in seven, with reads
			// landing): deposed-leader freezes the old leader through
			// the election, so every thaw gives it one to two election
			// timeouts of believing it leads. Clients bound to it must
			// read in that window: ops time out fast (a write it cannot
			// commit holds its client 500ms, not 2s) and 15 workers keep
			// 5 on each replica; 8 keys spread the info'd writes the
			// checker must place, and the check is bounded because a
			// key with many of them can take the search minutes.
			c.Workload, c.Nemesis, c.Target = "register-per-node", "deposed-leader", "raft"
			c.NemesisInterval, c.TimeLimit, c.CheckTimeout = 3*time.Second, 30*time.Second, 20*time.Second
			c.Rate, c.Concurrency, c.OpTimeout, c.Keys = 0, 15, 500*time.Millisecond, 8
		},
	},
	{
		Name: "bank-partition-coordinator",
		Why:  "bank; the coordinator cut from p1 (then p2) for 6s while a transaction spanning it is held in the commit window",
		set: func(c *runner.Config) {
			// A participant that gives up on the coordinator leaves the
			// held transaction partial for good: the cluster never heals,
			// so the heal wait is short.
			c.Workload, c.Nemesis, c.Target = "bank", "partition-coordinator", "twopc"
			c.NemesisInterval, c.Rounds, c.TimeLimit = time.Second, 2, 0
			c.PauseBeforeCommit, c.HealTimeout = time.Second, 15*time.Second
		},
	},
	{
		Name: "prepare-commit-alternate",
		Why:  "bank; the mission's scenario: p1, p2, p1, p2 SIGKILLed inside the commit window, each holding a transaction that spans it",
		set: func(c *runner.Config) {
			c.Workload, c.Nemesis, c.Target = "bank", "alternate-kill", "twopc"
			c.NemesisInterval, c.Rounds, c.TimeLimit = 2*time.Second, 4, 0
			c.HealTimeout = 15 * time.Second
		},
	},
	{
		Name: "list-append-raft",
		Why:  "list-append on Raft: txns of appends and reads, each one request; a random node SIGKILLed every 3s and restarted",
		set: func(c *runner.Config) {
			// Unlimited rate and 3 active keys: many multi-key txns per
			// second, and read-only txns that meet them mid-apply.
			c.Workload, c.Nemesis, c.Target = "list-append", "kill", "raft"
			c.NemesisInterval, c.TimeLimit = 3*time.Second, 10*time.Second
			c.Rate, c.Concurrency, c.Keys = 0, 10, 3
		},
	},
	{
		Name: "bank-kill",
		Why:  "bank; a random 2PC node SIGKILLed, started again a second later, and so on",
		set: func(c *runner.Config) {
			c.Workload, c.Nemesis = "bank", "kill"
			c.NemesisInterval, c.TimeLimit = time.Second, 8*time.Second
		},
	},
}

// Matrix is every seeded bug with the scenario that exposes it.
var Matrix = []Bug{
	{ID: "raft/forget-applied-index", Name: "forget-applied-index",
		Wrong:    "applied index not stored with the data: a restarted replica applies its log again",
		Scenario: "set-kill-all", Expect: []string{"set:duplicated"}},
	{ID: "raft/ack-before-commit", Name: "ack-before-commit",
		Wrong:    "writes acknowledged once proposed, before a majority has them",
		Scenario: "set-kill-all", Expect: []string{"set:lost"}},
	{ID: "raft/unsynced-log", Name: "unsynced-log",
		Wrong:    "the Raft log is never fsynced: a crash of every replica loses acknowledged entries",
		Scenario: "set-kill-all", Expect: []string{"set:lost"}},
	{ID: "raft/stale-read", Name: "stale-read",
		Wrong:    "any replica answers reads from its own state, without ReadIndex",
		Scenario: "register-lag-follower", Expect: []string{"linearizable:nonlinearizable"}},
	{ID: "raft/local-leader-read", Name: "local-leader-read",
		Wrong:    "a node that believes it leads answers reads from its own state, without ReadIndex",
		Scenario: "register-deposed-leader", Expect: []string{"linearizable:nonlinearizable"}},
	{ID: "raft/split-txn", Name: "split-txn",
		Wrong:    "a replica commits between the statements of one entry: a txn is seen, and left by a crash, half applied",
		Scenario: "list-append-raft", Expect: []string{"list-append:G1b", "list-append:G1c", "list-append:G-single", "list-append:G-single-realtime",
			"list-append:G-nonadjacent", "list-append:G2-item", "list-append:incompatible-order"}},
	{ID: "raft/no-dedup", Name: "no-dedup",
		Wrong:    "request ids not deduplicated: a retried request is applied again",
		Scenario: "retry-raft-kill-all", Expect: []string{"txid:duplicated"}},
	{ID: "raft/memory-dedup", Name: "memory-dedup",
		Wrong:    "request id dedup kept in memory: a retry after a restart is applied again",
		Scenario: "retry-raft-kill-all", Expect: []string{"txid:duplicated"}},
	{ID: "twopc/no-dedup", Name: "no-dedup",
		Wrong:    "coordinator forgets tx_ids: every retry runs as a new transaction",
		Scenario: "retry-twopc-restart-coordinator", Expect: []string{"txid:duplicated"}},
	{ID: "twopc/memory-dedup", Name: "memory-dedup",
		Wrong:    "coordinator keeps tx_id dedup in memory: a retry after its restart runs again",
		Scenario: "retry-twopc-restart-coordinator", Expect: []string{"txid:duplicated"}},
	{ID: "twopc/forget-prepared", Name: "forget-prepared",
		Wrong:    "a restarted participant aborts its prepared transactions on its own",
		Scenario: "bank-coordinator-crash", Expect: []string{"txid:partial", "txid:lost", "bank:wrong-total"}},
	{ID: "twopc/forget-prepared", Name: "forget-prepared",
		Wrong:    "a restarted participant aborts its prepared transactions on its own",
		Scenario: "prepare-commit-alternate", Expect: []string{"txid:partial", "txid:lost", "bank:wrong-total"}},
	{ID: "twopc/unilateral-abort", Name: "unilateral-abort",
		Wrong:    "a prepared participant that cannot reach the coordinator aborts on its own",
		Scenario: "bank-partition-coordinator", Expect: []string{"txid:partial", "txid:lost", "bank:wrong-total"}},
	{ID: "twopc/commit-before-decision", Name: "commit-before-decision",
		Wrong:    "coordinator sends commits before forcing its decision, and forgets it in a crash",
		Scenario: "bank-coordinator-crash", Expect: []string{"txid:partial", "bank:wrong-total"}},
	{ID: "twopc/one-phase", Name: "one-phase",
		Wrong:    "coordinator commits participants one by one, no prepare: a refusal or crash midway is partial",
		Scenario: "bank-kill", Expect: []string{"txid:partial", "txid:failed-applied", "bank:wrong-total"}},
}

// ScenarioNamed returns the scenario called name.
func ScenarioNamed(name string) (Scenario, bool) {
	i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return Scenarios[i], true
}

// BugIDs lists the matrix's row IDs, in matrix order.
func BugIDs() []string {
	ids := make([]string, len(Matrix))
	for i, b := range Matrix {
		ids[i] = b.ID
	}
	return ids
}

// Select returns the matrix rows names asks for: "all" (or none) for
// every row; otherwise each name is a bug's ID ("twopc/no-dedup") or its
// bare name where only one system has it ("one-phase"), resolved by the
// seeded-bug registry (sut/bugs).
func Select(names []string) ([]Bug, error) {
	if len(names) == 0 || len(names) == 1 && names[0] == "all" {
		return slices.Clone(Matrix), nil
	}
	want := map[string]bool{}
	for _, n := range names {
		b, err := bugs.Lookup(n)
		if err != nil {
			return nil, fmt.Errorf("%w (or all)", err)
		}
		if !slices.ContainsFunc(Matrix, func(r Bug) bool { return r.ID == b.ID() }) {
			return nil, fmt.Errorf("seeded bug %s has no row in the matrix", b.ID())
		}
		want[b.ID()] = true
	}
	var rows []Bug
	for _, r := range Matrix {
		if want[r.ID] {
			rows = append(rows, r)
		}
	}
	return rows, nil
}
