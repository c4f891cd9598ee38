package workload

import (
	"context"
	"encoding/json"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// Judgement is how a workload's histories are judged: the checkers by
// name and the options they are built with. It is the one statement of
// it: Checkers builds from it, and the runner records it in the run's
// config.json (store.Record), from which analyze of a run directory
// builds the same checkers without knowing the workload.
type Judgement struct {
	Checkers []string
	Options  checker.Options
	// InitialBalance is each account's balance at the start (bank,
	// retry over transfers); 0 otherwise. Recorded for verify.
	InitialBalance int64
}

// Judged is a workload that states its Judgement; every built-in one is.
type Judged interface {
	Judgement() Judgement
}

// checkTimeout bounds the searching checkers (linearizable, Elle) of a
// run; the runner's own --check-timeout bounds them all.
const checkTimeout = 2 * time.Minute

// build returns the checkers j names, with files going to outDir. A
// checker that cannot be built stands in as errChecker, so the verdict is
// unknown rather than silently missing a check.
func (j Judgement) build(outDir string) []checker.Checker {
	o := j.Options
	o.OutDir = outDir
	cs := make([]checker.Checker, 0, len(j.Checkers))
	for _, name := range j.Checkers {
		c, err := checker.New(name, o)
		if err != nil {
			c = errChecker{name, err}
		}
		cs = append(cs, c)
	}
	return cs
}

func registerJudgement() Judgement {
	// run's register is one register per key, each created at 0 by the
	// driver's Setup: the kv model with init 0.
	return Judgement{Checkers: []string{"linearizable", "stats"},
		Options: checker.Options{Model: "kv", Init: json.Number("0"), Timeout: checkTimeout}}
}

// transferJudgement: money conserved over exactly the accounts, no
// balance below zero (participants vote no on an overdraft), each tx_id
// applied once, and stats.
func transferJudgement(accounts []string, opts Options) Judgement {
	total := int64(len(accounts)) * opts.InitialBalance
	return Judgement{Checkers: []string{"bank", "txid", "stats"},
		Options:        checker.Options{Total: &total, Accounts: accounts},
		InitialBalance: opts.InitialBalance}
}

// errChecker stands in for a checker that could not be built: it judges
// nothing, so its verdict is unknown.
type errChecker struct {
	name string
	err  error
}

func (e errChecker) Name() string { return e.name }
func (e errChecker) Check(_ context.Context, _ history.History) checker.Result {
	return checker.Result{Checker: e.name, Valid: checker.Unknown, Notes: []string{"could not build the checker: " + e.err.Error()}}
}
