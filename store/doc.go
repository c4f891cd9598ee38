// Package store lays out run directories on disk and finds them again:
//
//	<store>/<workload>-<nemesis>/<20261125T180405.123>/
//	  config.json  history.jsonl  results.json  linear.html
//	  nodes/<node>/node.log  (and the node's data, kept unless valid)
//	<store>/latest                    -> the newest run of any test
//	<store>/<workload>-<nemesis>/latest -> the newest run of that test
//
// Invariants: a run directory is never reused (its name is its start time,
// bumped by a millisecond on collision); the latest links are replaced
// atomically (symlink to a temporary name, then rename), so a reader sees
// the old run or the new one, never a missing link; JSON files are written
// to a temporary file and renamed, so a reader never sees half of one.
//
// store imports checker (for the verdict types in results.json) and
// history; it must not import runner, workload, nemesis or sut.
package store
