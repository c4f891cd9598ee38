// Package target is the seam between chaoscheck and a system under test:
// Jepsen's DB and client protocols in one place. A Target boots a System
// (the nodes, with process control) and provides, for each workload it
// supports, a workload.Driver (setup and Jepsen's client). The runner and
// the nemeses know only this package's interfaces; no code outside a
// target's own package switches on a target's name.
//
// A target lives in a package of its own (target/raft and target/twopc
// for the embedded systems, target/etcd, target/postgres, target/process)
// and registers itself in init with Register; target/all imports every
// built-in one. A user's own target, in another module, does the same.
//
// Invariants a System keeps:
//   - every node runs on 127.0.0.1 and keeps its data and log under
//     Env.Dir/<node>/ (the run directory holds all the evidence);
//   - when Env.Net is set, every node-to-node connection goes through
//     Net.Via, so the partition layer can cut it; client connections do not;
//   - Start returns only once the node serves again (or with an error);
//   - Stop leaves no process behind, whatever state the nodes are in.
//
// Optional abilities are interfaces a System may also implement (Leader,
// CommitWindow, ClientRouter); a Target announces them ahead of boot as
// Features, so a nemesis that needs one is refused before anything starts.
// Observer is a System with final observations and checkers of its own
// (etcd compares its members).
//
// target imports workload, checker and history only; workload, checker
// and history never import target.
package target
