// Package runner performs one chaoscheck run end to end:
//
//	make the run directory → config.json → boot the SUT the workload needs
//	(node data and logs under the run directory) → workload setup →
//	workload load and nemesis schedule together, every op recorded in
//	history.jsonl → heal → final reads → stop the cluster → check →
//	results.json → report.html → latest links → drop node data when valid
//
// Invariants: every run that got a run directory ends with a results.json,
// whatever stopped it (time limit, Ctrl-C, a failed boot); no node
// outlives Run; a run cut short is judged on what was recorded, and its
// verdict is never valid on observations it did not make (no final read
// leaves the checkers that need one unknown). Every random choice derives
// from Config.Seed, which is recorded.
//
// runner imports workload, nemesis, sut/cluster (and the SUT packages for
// their seeded-bug names), checker, history, store and report; only cmd/chaoscheck
// imports runner.
package runner
