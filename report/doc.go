// Package report presents results to a person: the summary printed at the
// end of `chaoscheck run` (and reusable by analyze), and the mapping from
// a verdict to the process exit code.
//
// report reads results (store.Results, checker.Result); it judges nothing
// and never changes a verdict. It imports checker, history and store; it
// must not import runner, workload, nemesis or sut.
package report
