// Package history is the operation record of a chaoscheck run: the Op type
// with Jepsen's semantics, the concurrent Recorder that streams ops to a
// JSONL file as they happen, the readers that load JSONL, JSON arrays and
// Jepsen EDN histories, and the well-formedness validation every checker
// relies on.
//
// Semantics (Jepsen's): every client operation is an invoke followed by at
// most one completion of the same process: ok (it took effect), fail (it
// certainly did not) or info (unknown: it may take effect at any time up to
// the end of the history). A process with an info completion never invokes
// again; its worker continues under a new process number. Process -1 is
// the nemesis.
//
// history imports nothing else from chaoscheck; checker, runner and the
// CLI import it. It must never import the system under test.
package history
