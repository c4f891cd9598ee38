package postgres

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chaoscheck/chaoscheck/history"
)

// phase is how far a transaction got when it failed.
type phase int

const (
	// beforeCommit: connecting, BEGIN, or a statement; COMMIT not sent.
	beforeCommit phase = iota
	// atCommit: COMMIT was sent (or may have been).
	atCommit
)

func (p phase) String() string {
	if p == atCommit {
		return "commit"
	}
	return "before commit"
}

// classify turns a transaction's error into its completion type.
//
// PostgreSQL commits an explicit transaction only when it receives
// COMMIT (docs: "BEGIN … all statements after a BEGIN command will be
// executed in a single transaction until an explicit COMMIT or ROLLBACK";
// a session that ends in a transaction block rolls it back). So whatever
// went wrong before COMMIT was sent — a statement's error, a timeout, a
// broken connection — the transaction did not and will not commit: fail.
//
// Once COMMIT is sent, only an answer proves anything. The server answers
// a COMMIT that it turned into a rollback either with an error of class
// 40 (transaction rollback: 40001 serialization failure, 40P01 deadlock)
// or class 23 (a deferred constraint), or with the command tag ROLLBACK
// (pgx.ErrTxCommitRollback). Everything else at COMMIT — a lost
// connection, a timeout, an error we do not know — is info: the commit
// may have happened.
func classify(err error, ph phase) history.Type {
	if ph == beforeCommit {
		return history.Fail
	}
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return history.Fail
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 {
		switch pe.Code[:2] {
		case "40", "23":
			return history.Fail
		}
	}
	return history.Info
}

// definiteFailure is a transaction its body chose to roll back (a cas
// whose compare did not hold, an overdraft): fail, with reason as error.
type definiteFailure struct{ reason string }

func (f definiteFailure) Error() string { return f.reason }
