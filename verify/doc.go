// Package verify judges a cluster by its data directories instead of by a
// history: `chaoscheck verify` opens each node's files read-only, whether
// the nodes still run or are stopped, and checks the invariants that the
// final state alone can prove or refute.
//
//   - replicas: every Raft replica that has applied the same index holds
//     the same content (raftsql.InspectStateMachine: applied index and
//     content hash read in one SQLite snapshot). Replicas behind the most
//     advanced one are lagging, not divergent, unless Strict.
//   - in-doubt: no participant holds a transaction PREPARED and undecided.
//     One that does is pending, not wrong: 2PC finishes it by itself, so
//     a cluster stopped mid-commit is unknown here (and in atomicity and
//     conservation, which it also affects) until it has settled.
//   - applied-once: no participant has more than one effect row for a
//     tx_id (effect rows are counted, not the dedup records).
//   - conservation: the balances of all participants sum to the expected
//     total; no balance is negative.
//   - atomicity: a tx_id the coordinator's decision log says committed is
//     applied on all the participants it lists or on none; no tx_id is
//     applied without a commit decision (presumed abort).
//
// Verdicts are checker.Result values, merged as checker.Merge does, so
// verify's output reads like analyze's. A check that lacks what it needs
// (no expected total, a running coordinator whose badger directory is
// locked, a participant without a data dir) is unknown, never valid.
//
// Invariant: verify writes nothing into a data dir. SQLite files are
// opened mode=ro or immutable (the one write is SQLite's shared-memory WAL
// index, the -shm file, where every reader records its read mark); the
// coordinator's badger directory is copied under a shared flock (which a
// running coordinator's exclusive lock refuses) and the copy is opened.
//
// This package may import checker, history, store, report and the SUT's
// read-only inspection helpers (sut/raftsql, sut/twopc); its code must not
// import runner, workload, nemesis or sut/cluster (its tests boot clusters
// with sut/cluster): it judges any cluster's files, however they were
// made.
package verify
