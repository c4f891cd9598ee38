// Package nemesis injects faults into the system under test while a
// workload runs: SIGKILL and restart of the Raft leader or of a random
// node, SIGSTOP/SIGCONT pauses, a 2PC participant killed inside the
// coordinator's commit window (alternate-kill), and a client-path proxy
// that duplicates requests and drops responses (duplicate-retry).
//
// RunSchedule drives one Nemesis on a seeded schedule and records every
// action in the history as the nemesis process (-1): an invoke, then an
// info completion whose value says what was done (Jepsen's convention: a
// fault's effect on the system is never certain). Heal undoes every
// lasting fault before the final reads.
//
// nemesis imports history, workload (for the Recorder interface) and
// sut/cluster, sut/failpoint and the SUT clients; runner imports it. It
// must not import runner or checker.
package nemesis
