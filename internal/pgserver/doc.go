// Package pgserver boots and faults a real PostgreSQL server for the
// postgres and twopc-postgres targets: initdb into a node directory, the
// postmaster as a sut/cluster.Proc on 127.0.0.1 and a free port, and
// process faults that reach the whole server.
//
// Invariants:
//   - The server listens on 127.0.0.1 only; unix sockets are off, so no
//     system directory is touched. fsync, synchronous_commit and
//     full_page_writes are on: a SIGKILL must be survivable by crash
//     recovery alone.
//   - Kill, Pause and Stop reach every backend. PostgreSQL puts each child
//     in its own session (setsid in InitPostmasterChild), so signalling the
//     postmaster's process group is not enough: Kill stops the postmaster
//     first (it cannot fork while stopped), then kills its children and
//     itself, and waits until they are gone, or the restarted postmaster
//     would find the old shared memory still attached.
//   - PostgreSQL refuses to run as root. When chaoscheck is root, initdb
//     and the server run as the "postgres" user (or "nobody"), the data
//     directory is theirs, and the node directory's ancestors get o+x
//     (traverse, not list) so that user can reach it; all of it is logged.
//
// pgserver imports sut/cluster for process control and pgx for the
// readiness probe; it knows nothing of workloads or targets.
package pgserver
