// Package selftest proves that chaoscheck's checkers catch real bugs. The
// embedded system under test carries seeded bugs (`--sut-bug NAME`: one
// safeguard switched off each); for every one, the bug matrix (matrix.go)
// names what goes wrong, the scenario that exposes it (a workload, a
// nemesis and their schedule) and the anomaly kinds the checkers must
// report. Run drives each bug with each seed through runner.Run, the path
// `chaoscheck run` takes, and the correct system (no bug) on the same
// seeds under every scenario used: a checker that flags everything proves
// nothing, so the correct system must stay valid.
//
// A row of the result says on how many seeds the bug was caught (the
// verdict invalid, with an anomaly of an expected kind), how long into the
// run the first op named by such an anomaly was invoked, and whether the
// correct system stayed valid on the same seeds. Row.OK is the bar the
// selftest command holds every row to.
//
// Runs are stored as `chaoscheck run` stores them, in the store's one
// layout (Store/<workload>-<nemesis>[-sut-bug-<system>_<bug>]/<start>/,
// store.TestName), so `chaoscheck serve --store` lists them; node data is
// kept where the verdict is not valid.
//
// selftest imports runner, checker, history and store; cmd/chaoscheck
// imports it. Nothing the runner uses may import it.
package selftest
