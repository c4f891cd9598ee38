// Package raftsql is one replica of chaoscheck's embedded system under test:
// a Raft-replicated SQLite store. Each replica is its own OS process
// (`chaoscheck node raft …`) with its own data directory.
//
// The package has two storage layers under the node loop:
//
//   - LogStore keeps what raft itself must not forget: the log, the hard
//     state, the conf state and the latest snapshot. It is a raft.Storage
//     shaped like etcd's: an append-only WAL file of CRC-checked records
//     for durability, the whole log since the last compaction in memory
//     (logstore.go: open, replay and the raft.Storage reads;
//     logstore_save.go: the writes, in crash-safe order; logstore_wal.go:
//     the record format; logstore_replay.go: reading it back, torn tail
//     against damage; logstore_generation.go: the rewrite that bounds the
//     file); snapshot data lives beside it as a file (snapfile.go).
//   - StateMachine is the SQLite database the log is applied to, together
//     with the bookkeeping that makes applying exactly once: the applied
//     index and each request id's first result (statemachine.go: apply and
//     query; dedup.go: the request table; snapshot.go: snapshot and
//     restore; contenthash.go: the content hash `verify` compares, also
//     read from a replica's files by inspect.go).
//
// Commands (command.go) are JSON: a client-chosen request id and a list of
// SQL statements with arguments. sqlcheck.go rejects statements that two
// replicas could evaluate differently (random(), datetime('now'), …), because
// every replica applies the same entry on its own.
//
// Around them: node.go is the Ready loop, the appender and the applier
// (the order below), rawraft.go raft's RawNode behind a mutex, stepped by
// the goroutine that holds each message, config.go and bugs.go the replica's settings and seeded bugs,
// transport.go streams raft messages to peers over HTTP without ever
// blocking the loop, api.go serves clients (/exec proposes and waits for the apply, /query
// reads through ReadIndex, /query?local=true reads this replica's own state
// unlinearized, /status, /failpoints/), client.go is the Go client
// workloads use, with retry to the leader and indeterminate outcomes told
// apart from failures, over its own keep-alive HTTP/1.1 connections
// (clientconn.go).
//
// # Invariants and who keeps them
//
// raft docs: entries, hard state and snapshot are durable before any
// message that depends on them is sent (with AsyncStorageWrites: before the
// MsgStorageAppend's responses are delivered). LogStore.Save writes all three
// as one batch of WAL records with one write, which replay applies whole or
// not at all (its records are also in an order that keeps every prefix a
// valid log), and fdatasyncs before it returns when asked to
// (Ready.MustSync), in the calling goroutine.
//
// Exactly once: StateMachine.Apply runs an entry's statements, stores the
// entry's index as the applied index and records the request id's result in
// ONE SQLite transaction. Two guards, each for one hazard:
//   - re-delivery of an entry (restart with an older raft Applied, a
//     replayed Ready) is caught by the applied index: index ≤ applied is a
//     no-op;
//   - a client retry (the same request id proposed again, so a NEW entry) is
//     caught by the request table: a request id first recorded at an earlier
//     index returns that first result with Duplicate set and applies nothing.
//
// Atomicity: an entry's statements run inside one savepoint of that
// transaction, so a failing statement undoes its entry and nothing else,
// and no reader (the read-only pool serving /query, which sees committed
// states only) ever sees an entry half applied. A statement that reads
// (SELECT …) returns its rows in the entry's result: they are read at the
// entry's point of the log, the same on every replica, and are stored with
// the request id's result like the rest of it.
//
// The deliberate bugs in Options each remove one guard (ForgetAppliedIndex,
// NoDedup), make it volatile (MemoryDedup), or break atomicity (SplitTxn:
// a commit between an entry's statements), so a nemesis can show that the
// checkers notice.
//
// # What the node must do, in order
//
//  1. On start: open both stores; set raft.Config.Applied to
//     StateMachine.AppliedIndex(); if LogStore.Snapshot() is newer than that,
//     Restore it into the state machine first (a crash may fall between
//     saving a snapshot and restoring it).
//  2. raft runs with AsyncStorageWrites (raft's doc.go, "Usage with
//     Asynchronous Storage Writes"). Per Ready, the Ready loop sends the
//     messages for peers at once, queues the MsgStorageAppend for the
//     appender and the MsgStorageApply for the applier, and answers read
//     states; there is no Advance. raft holds back every message that
//     needs this node's log durable (a follower's MsgAppResp, a vote) as a
//     response of the MsgStorageAppend; a leader's MsgApp goes out while
//     the leader persists the same entries, and raft counts the leader's
//     own copy only once the appender answers.
//     The appender (or, on a follower whose appender is idle, the Ready
//     loop itself, after sending the Ready's other messages):
//     LogStore.Save(hard state, entries, snapshot) for the
//     MsgStorageAppend messages queued together (one Save, one fsync,
//     when they continue each other), synced when an entry, the term or
//     the vote changed (Ready.MustSync's rule); a snapshot waits until the
//     applier is idle and is installed in the state machine before the
//     responses go; then the responses (to raft itself or to peers).
//     raft gives the applier only entries this node holds durably.
//  3. In the applier, per MsgStorageApply: runs of normal entries as one
//     StateMachine.ApplyBatch (one SQLite transaction: many entries, one
//     commit); a conf change alone:
//     raft's ApplyConfChange, LogStore.SaveConfState (the conf state must
//     be durable before the index that caused it is recorded as applied,
//     or a restart would skip it), then ApplyNoop. Waiting clients get
//     their results once decided, just before the SQLite COMMIT
//     (ApplyBatchDecided: the result is fixed by the committed entry, and
//     a crash that takes the COMMIT back re-applies it from the log to
//     the same result); the applied index, which reads wait for, moves
//     after the COMMIT; then the message's responses go back to raft.
//     A leader leaves the transaction open up to 5 ms (ApplyBatchOpen,
//     CommitOpen): one COMMIT for many batches. A read waiting for the
//     applied index, a snapshot, a conf change or a follower's batch
//     commits it first.
//  4. Every N applied entries, in the applier: StateMachine.Snapshot(), then
//     LogStore.CreateSnapshot(index, confState, data), then
//     LogStore.Compact(index - keep) (Compact refuses to pass the snapshot).
//
// Durability: the raft log is the source of truth, fdatasynced before any
// entry of it is applied or acknowledged to a peer. A crash can cut short
// only the last write (each is synced before the next): open truncates it
// away; damage followed by a later write is refused, never cut. SQLite runs
// with synchronous=NORMAL: a commit survives kill -9, and a power cut may
// roll the state machine back by whole transactions, applied index
// included, which the log then re-delivers (etcd treats bbolt alike).
//
// A Go error from either store means the disk cannot be trusted: the node
// must stop (crash) rather than go on. A statement that fails (constraint,
// syntax) is not a Go error but a deterministic outcome recorded in the
// ExecResult.
//
// This package may import go.etcd.io/raft/v3, modernc.org/sqlite and
// sut/failpoint; it must not import the runner, workloads, checkers or
// history: the SUT knows nothing of the test that drives it.
package raftsql
