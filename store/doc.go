// Package store lays out run directories on disk and finds them again.
// It is the one layout every writer (run, soak, selftest) and every
// reader (serve, analyze of a run directory, verify, latest) shares:
//
//	<store>/<test>/<20261125T180405.123>/
//	  config.json  history.jsonl  results.json  report.html  linear.html
//	  nodes/<node>/node.log  (and the node's data, kept unless valid)
//	<store>/latest         -> the newest run of any test
//	<store>/<test>/latest  -> the newest run of that test
//	<store>/soak.json      (a soak's summary, when a soak wrote here)
//
// where <test> is TestName: <workload>-<nemesis>, plus -sut-bug-<bug> for
// each seeded bug of a self-test run.
//
// config.json is the run's Record (what was run, how to rerun it, how to
// judge its history), written first; results.json is Results, written
// last. A run directory without results.json is a run still going or one
// that was killed: CutShort says so, and analyze and the runner apply the
// same rule to it.
//
// Invariants: a run directory is never reused (its name is its start time,
// bumped by a millisecond on collision); the latest links point at a run
// from the moment it starts (so a runner killed with SIGKILL leaves latest
// at its own partial run) and are replaced atomically (symlink to a
// temporary name, then rename), so a reader sees the old run or the new
// one, never a missing link; JSON files are written with
// internal/atomicfile (temporary file, fsync, rename, fsync of the
// directory), so neither a reader nor a crash sees half of one.
//
// store imports checker (for the verdict types in results.json) and
// history; it must not import runner, workload, nemesis or sut.
package store
