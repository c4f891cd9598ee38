// Package twopcpostgres is the twopc-postgres target: chaoscheck's own 2PC
// coordinator (sut/twopc, a `chaoscheck node coordinator` process,
// unchanged) drives N real PostgreSQL servers as participants, preparing
// with PREPARE TRANSACTION '<tx_id>' and committing with COMMIT PREPARED.
//
// Architecture, and why: each participant is a PostgreSQL server
// (internal/pgserver) fronted by a PostgreSQL participant
// (sut/twopc.PGParticipant) that speaks the coordinator's participant
// protocol and keeps nothing of its own: accounts, effect rows and the
// prepared transactions all live in PostgreSQL. So
//   - the coordinator, its durable decision log, dedup, re-drive and
//     failpoints are the ones the embedded 2PC system is tested with, not a
//     second implementation (no edit to the coordinator);
//   - the thing a nemesis kills as "participant p1" is p1's PostgreSQL
//     server, as in production XA where the database is the resource
//     manager; its prepared transactions survive in pg_prepared_xacts and
//     are resolved against the coordinator's decision log after restart;
//   - the front runs inside the runner process: being stateless it needs
//     no process of its own, and it is not what the faults are about.
//
// The alternative, a PostgreSQL client inside the coordinator, would have
// meant a second participant interface in coordinator code another helper
// edits at the same time.
//
// Invariants: every transfer's effect row on a participant carries its
// tx_id (final-read counts them per participant for the txid checker);
// nothing is left in pg_prepared_xacts once WaitHealthy returns; Stop
// leaves no process (coordinator, postmaster or backend) behind.
//
// twopcpostgres imports target, workload, sut/twopc, sut/cluster,
// sut/failpoint and internal/pgserver.
package twopcpostgres
