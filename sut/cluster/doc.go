// Package cluster is local process control for the embedded system under
// test: it starts `chaoscheck node …` children on 127.0.0.1, each with its
// own data dir and node.log, and kills (SIGKILL), restarts, pauses
// (SIGSTOP) and resumes them, which is what nemeses act on.
//
// Invariant: no node outlives its parent. Every child runs in its own
// process group with a parent-death signal (SIGKILL), and Stop/Kill signal
// the whole group and reap it.
//
// cluster imports the SUT packages' clients; checker and history never
// import cluster.
package cluster
