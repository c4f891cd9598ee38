package target

import (
	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// Observer is a System with final observations and checks of its own,
// beyond its workload's (etcd compares its members' revisions and KV
// hashes). After the workload's final ops, the runner performs each of
// FinalOps through a fresh client of the System's Driver, retried until
// it completes ok like the workload's, and judges the history with
// Checkers as well as the workload's checkers.
type Observer interface {
	FinalOps() []history.Op
	Checkers() []checker.Checker
}
