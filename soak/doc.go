// Package soak runs chaoscheck over and over, as a nightly job does: the
// runner's scenarios in turn, each run with a fresh seed derived from the
// soak's own (recorded, so a soak replays), each a normal stored run. It
// stops at a run count or a duration, at the first invalid run unless told
// to keep going, or when asked to (after the current run is stored). As it
// goes it writes soak.json (every run's scenario, seed, verdict, duration,
// ops, directory, anomalies and the command that reproduces it) and a
// JUnit XML file, one testcase per run, so CI systems show the soak
// natively.
//
// Invariant: memory stays flat however long the soak lasts. A run's
// history and checker results are released when the run returns; the
// soak keeps only a small, capped summary per run (RunSummary).
//
// soak imports runner, report, store and checker; only cmd/chaoscheck
// imports soak.
package soak
