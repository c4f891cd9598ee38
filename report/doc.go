// Package report presents results to a person: the summary printed at the
// end of `chaoscheck run` and by analyze and verify (summary.go), the
// self-contained report.html with the op timeline, latency and throughput
// plots with fault windows shaded (html*.go, templates/), the read-only
// store server behind `chaoscheck serve` (serve.go), and the mapping from a
// verdict to Jepsen's exit codes.
//
// report imports checker, history and store; it never imports the SUT,
// runner, workload or nemesis.
package report
