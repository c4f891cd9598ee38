// Package raft is the target "raft": chaoscheck's embedded Raft-replicated
// SQLite store (sut/raftsql), N replicas started as `chaoscheck node raft`
// processes by sut/cluster. It has drivers for the register,
// register-per-node, set and retry workloads, a leader, the Raft
// failpoints lag-follower stalls, a client path a proxy can sit on, and
// seeded bugs for the self-test.
//
// It imports sut/cluster and sut/raftsql; nothing outside target/ imports
// it but target/all.
package raft
