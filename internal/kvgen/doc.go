// Package kvgen generates kv histories with known verdicts for benchmarks
// and tests: linearizable histories of any size (a simulation of real
// registers with overlapping clients, fail and info ops), and adversarial
// ones that make a linearizability search expensive.
//
// It imports history only; nothing outside tests and benchmark programs
// imports it.
package kvgen
