// Package postgres is the postgres target: one real PostgreSQL server
// (package internal/pgserver boots it in the run directory, or --dsn
// attaches to one) driven by Elle's list-append and rw-register, bank,
// register and set workloads, every op one SQL transaction at the
// isolation level --isolation names.
//
// Invariants:
//   - One op is one transaction (BEGIN ISOLATION LEVEL …; statements;
//     COMMIT), read-only ops included: under SERIALIZABLE a read is only
//     safe to report once its transaction has committed.
//   - A completion is fail only when PostgreSQL cannot have committed it
//     (errors.go): COMMIT was never sent, or the server answered it with a
//     rollback (serialization failure 40001, deadlock 40P01). A COMMIT
//     whose answer was lost is info.
//   - Every write is traceable in the final state: list-append keeps each
//     key's list as the text "1,2,3" and appends with one upsert; set adds
//     rows without a unique constraint, so a duplicate shows; bank records
//     one effect row per participant (account prefix) a transfer touches,
//     so the txid checker can count applications.
//   - Attached to a server (--dsn) the target has no process control, and
//     Setup drops and recreates its own tables (named cc_*), nothing else.
//
// postgres imports target, workload, history, internal/pgserver and pgx.
package postgres
