package workload

import (
	"fmt"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func init() { Register("bank", newBank) }

// bank is Jepsen's bank workload: transfers between accounts, each a
// transaction with its own tx_id, and consistent read-balances. Money is
// conserved (bank checker) and every tx_id applied at most once, and
// exactly once when acknowledged (txid checker, on the final-read).
//
// Accounts are named participant/account ("p1/a1", BankAccounts), so a
// 2PC target spreads them over its participants and a single database
// keeps the names as they are.
type bank struct {
	opts     Options
	accounts []string
}

// bankReadShare is the share of read-balances among bank ops.
const bankReadShare = 0.2

func newBank(opts Options) (Workload, error) {
	if opts.Accounts < 2 {
		return nil, fmt.Errorf("bank: %d accounts, need at least 2", opts.Accounts)
	}
	return &bank{opts: opts, accounts: BankAccounts(opts)}, nil
}

func (*bank) Name() string { return "bank" }

func (w *bank) Generator(seed int64) Generator {
	return newTransferGen(seed, w.accounts, bankReadShare)
}

func (*bank) FinalOps() []history.Op { return transferFinalOps() }

func (w *bank) Judgement() Judgement { return transferJudgement(w.accounts, w.opts) }

func (w *bank) Checkers(outDir string) []checker.Checker { return w.Judgement().build(outDir) }

// transferFinalOps: the balances once healed, then per participant how
// many effect rows each tx_id left.
func transferFinalOps() []history.Op {
	return []history.Op{{F: "read-balances"}, {F: "final-read"}}
}
