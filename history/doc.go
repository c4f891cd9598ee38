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
// again; its worker continues under a new process number (readers give a
// hand-written history that reuses one a new number, and warn). Process -1
// is the nemesis. In EDN, Jepsen's format, an op without :process belongs
// to Jepsen's process nil, one process like any other. A transaction
// written without invocation (Elle's test histories) is given one at the
// start of the history, on a process of its own: like Elle, nothing then
// precedes it in real time.
//
// Files: op.go (Op, History), pairs.go (invocations with completions),
// recorder.go (Recorder, WriteJSONL), reader.go (Read, format detection,
// the memory limit of ReadFileWithin), json.go and edn.go (the two
// syntaxes), json_scan.go (the one-pass fast path for JSON op lines, which
// must agree with json.go on every line it accepts), validate.go
// (Validate, and the op-by-op validator it runs), stream.go (Stream: a
// JSONL history decoded on every core and handed out op by op, not held;
// it takes only input Read accepts without a warning, op for op as Read
// gives it, and declines everything else with ErrNotStreamed, so errors
// are always Read's), processes.go (Processes, per-process state in a
// slice), normal.go (NormalValue: the one shape values arrive in),
// valuekey.go (ValueKey and Int: the one rule for when two values are the
// same value, which every checker compares by; docs/values.md).
//
// On disk a history is JSON Lines, one op per line in index order. The
// Recorder writes each line with a single Write, so a crash leaves at most
// one truncated last line; readers drop such a line with a Warning and
// treat every other defect as a *ParseError naming file and line. Whatever
// the source format, values reach checkers in one shape (see Op).
//
// A history is UTF-8 text. Readers refuse invalid UTF-8 and \u escapes of
// lone UTF-16 surrogates instead of replacing them with U+FFFD, which
// would make different keys or values one (a wrong verdict); and refuse
// binary input from its first line, so an endless device is not read to
// its end.
//
// history imports nothing else from chaoscheck; checker, runner and the
// CLI import it. It must never import the system under test.
package history
