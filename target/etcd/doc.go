// Package etcd is the etcd target (--target etcd): real etcd members
// started from a binary the user brings (--etcd-bin, any release >= 3.5),
// or a running cluster chaoscheck attaches to (--endpoints), driven
// through go.etcd.io/etcd/client/v3.
//
// Booted members run on 127.0.0.1 with free ports, each with its data dir
// and node.log under Env.Dir/<node>/, as sut/cluster.Procs (kill -9,
// SIGSTOP, parent-death signal). With Env.Net set, peer traffic goes
// through per-member front doors that splice each connection onto
// Net.Via(dialer, member, addr) (peers.go says why and what they cannot
// cut).
//
// Workloads: register (Get / Put / Txn compare-and-set per key), set
// (a key per element, a final range read) and Elle's list-append (a
// read-only Txn, then a Txn guarded by the mod revisions read). After the
// workload's final reads, the System, a target.Observer, records a
// final-hash op with every member's revision and HashKV;
// checker.NewReplicaHash judges it.
//
// Invariants:
//   - an op completes fail only when the error proves etcd did not apply
//     it (errors.go lists each such error and where etcd returns it);
//     a timeout, a lost connection or an unknown error is info;
//   - every key the workloads write is under "chaoscheck/<workload>/";
//   - Stop leaves no member process behind (an attached cluster is not
//     ours and keeps running).
//
// It imports target, workload, checker, history and sut/cluster (for
// process control); nothing imports it but target/all.
package etcd
