// Package twopc is the target "twopc": chaoscheck's embedded
// two-phase-commit system (sut/twopc), a coordinator and N SQLite
// participants started as `chaoscheck node …` processes by sut/cluster.
// It has drivers for the bank and retry workloads, holds the commit
// window open for the commit-window nemeses (target.CommitWindow, through
// the coordinator's coordinatorBeforeCommit failpoint), lets the client
// path go through a proxy, and carries seeded bugs for the self-test.
//
// It imports sut/cluster and sut/twopc; nothing outside target/ imports
// it but target/all.
package twopc
