// Package twopc is the embedded two-phase-commit system under test: a
// coordinator with a badger decision log and participants that keep
// accounts in SQLite. Each runs as its own process (`chaoscheck node
// coordinator|participant`); this package holds the nodes, their HTTP/JSON
// protocol (protocol.go), and the Client that workloads, nemeses and tests
// use. It may import sut/failpoint and storage libraries; it must not
// import sut/cluster, workload, checker or history.
//
// # Protocol (presumed abort)
//
// POST /txn on the coordinator runs one transaction:
//
//  1. The tx_id and a hash of its ops are written to the decision log
//     (synced) before any participant hears of the tx: the durable dedup
//     record. A repeated tx_id gets the first attempt's outcome (waiting
//     while it is in flight); the same tx_id with other ops is refused.
//  2. Prepare on every participant, in parallel. A participant votes yes
//     only after recording the tx PREPARED with its ops in one synced
//     SQLite transaction; the accounts stay locked (no-wait: a conflicting
//     prepare votes no, it never waits, so no deadlock spans participants).
//  3. All yes: the COMMIT decision is forced to badger before any commit
//     message leaves. Any no, error or timeout: abort, recorded and sent.
//  4. Commits go to every participant; one that does not acknowledge gets
//     its commit re-driven with backoff, also after a coordinator restart.
//     "committed" is answered once the decision is durable.
//
// Invariants, each named where it is kept:
//   - Presumed abort: no decision record ⇒ aborted. A started record whose
//     attempt is no longer running is aborted, never committed; a restart
//     aborts every started record before serving.
//   - A participant applies a tx's ops exactly when it marks it COMMITTED,
//     in one local transaction, with one effect row per application; a
//     repeated commit is a no-op. Effect rows carry the tx_id, so an
//     observer counts applications without trusting any dedup table.
//   - In-doubt (prepared) txs survive participant restarts with their locks
//     and are resolved by asking GET /decision/<tx_id> on the coordinator
//     (at once after a restart, after ResolveAfter otherwise), or by the
//     coordinator's re-driven commit.
//   - A tx_id runs at most once (durable dedup on the coordinator; the
//     participants key their records by it too).
//
// Reads: POST /read-balances on the coordinator is a read-only 2PC with
// shared locks held until every participant has been read (strict 2PL), so
// its balances are a serializable snapshot across participants: a transfer
// is seen on both sides or on neither. A read is refused where a tx is
// prepared, so a read that succeeds after a commit was acknowledged sees
// it (strict serializability). Under load reads can be refused (409
// read_locked after a few retries); a read never blocks a transfer for
// longer than its lease (5s) even if the coordinator dies mid-read.
//
// Failpoints (failpoints.go) open the windows nemeses aim at, above all
// coordinatorBeforeCommit: decision durable, no commit sent, the held
// tx_id on GET /status as paused_tx_id. Seeded bugs (bugs.go) switch off
// one safeguard each, to show that checkers catch the failure.
package twopc
