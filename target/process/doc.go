// Package process is the process target: a system chaoscheck did not
// write, described by a TOML file, tested with no Go code. chaoscheck
// starts the user's nodes as child processes (cluster.Proc: own process
// group, parent-death signal), asks them whether they are healthy and who
// leads over HTTP, TCP or a command, and drives them through the user's
// client program, started once per history process and spoken to in JSON
// lines on its stdin and stdout (protocol.go; docs/own-system.md).
//
// Invariants:
//   - a node's ports are chosen once at boot and kept across restarts, so
//     its peers' addresses stay valid; node-to-node addresses reach a node
//     only through the {peers…} placeholders, which go through Env.Net;
//   - an op's completion is what the program answered for that op's index,
//     or info: a timeout, a crash, garbage, a wrong index or an unknown
//     field leave the outcome unknown, and the program that caused it is
//     killed so the next op starts from a fresh one (a new history
//     process, as after every info);
//   - every program and node is in its own process group and is killed by
//     Stop; none outlives chaoscheck (parent-death signal).
//
// process imports target, workload, history and sut/cluster (for process
// control); nothing imports it but target/all.
package process
