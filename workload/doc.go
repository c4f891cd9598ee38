// Package workload holds chaoscheck's workloads: for each, a generator
// (the deterministic, seeded stream of ops to invoke), a client (performs
// one op against the system under test and returns its completion), the
// final reads that observe the whole state once the faults have healed,
// and the checkers that judge the resulting history. Run is the worker
// loop that drives them, Jepsen-style: one worker per concurrent process,
// every invocation and completion recorded as it happens.
//
// Workloads: register (read/write/cas on the Raft store, linearizable),
// set (unique adds, final read-all), bank (transfers over 2PC, money
// conserved, each tx_id applied once) and retry (client-chosen tx_ids
// resubmitted after timeouts and as concurrent duplicates, exactly once).
//
// workload imports history, checker and the SUT's clients (sut/cluster,
// sut/raftsql, sut/twopc); runner and nemesis import it. It must not import
// runner or nemesis.
package workload
