// Package bugs is the one registry of the embedded systems' seeded bugs:
// deliberate defects a self-test switches on (--sut-bug) to show that the
// checkers catch them. Each bug is {system, name, doc}; its ID is
// "system/name" (raft/stale-read, twopc/no-dedup), the spelling the
// README, help text and errors use. Everywhere a user names a bug (run
// --sut-bug, node --sut-bug, selftest --bugs) the ID is accepted, and the
// bare name where it is unambiguous.
//
// Invariant: the names listed for a system are exactly the names that
// system's nodes act on (sut/raftsql.BugNames, sut/twopc.BugNames); a test
// holds them equal, so adding a bug means adding its `if` in the system
// and its line here.
//
// bugs imports only the standard library; sut/twopc and the CLI import it.
package bugs
