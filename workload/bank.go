package workload

import (
	"context"
	"fmt"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/sut/cluster"
)

func init() { constructors["bank"] = newBank }

// bank is Jepsen's bank workload over 2PC: transfers between accounts
// spread over the participants, each a transaction with its own tx_id,
// and consistent read-balances through the coordinator. Money is
// conserved (bank checker) and every tx_id applied at most once, and
// exactly once when acknowledged (txid checker).
type bank struct {
	opts         Options
	participants []string
	accounts     []string
	procs        processes
}

// bankReadShare is the share of read-balances among bank ops.
const bankReadShare = 0.2

func newBank(opts Options) (Workload, error) {
	ps := participantNames(opts.Participants)
	if opts.Accounts < 2 {
		return nil, fmt.Errorf("bank: %d accounts, need at least 2", opts.Accounts)
	}
	return &bank{opts: opts, participants: ps, accounts: accountNames(opts.Accounts, ps)}, nil
}

func (*bank) Name() string { return "bank" }

func (w *bank) Boot() BootSpec {
	return BootSpec{TwoPC: &TwoPCSpec{Participants: w.participants, Accounts: w.accounts, InitialBalance: w.opts.InitialBalance}}
}

// Setup waits until the coordinator can read every account.
func (w *bank) Setup(ctx context.Context, t *cluster.Target) error {
	return setupTransfers(ctx, t, w.accounts, w.opts)
}

func (w *bank) Generator(seed int64) Generator {
	return newTransferGen(seed, w.accounts, bankReadShare)
}

func (w *bank) NewClient(t *cluster.Target, process int64) (Client, error) {
	w.procs.saw(process)
	return newTransferClient(t, w.opts.OpTimeout)
}

func (w *bank) FinalReads(ctx context.Context, t *cluster.Target, rec Recorder) error {
	return finalTransfers(ctx, t, rec, &w.procs, w.opts.OpTimeout, true)
}

func (w *bank) Checkers(string) []checker.Checker { return transferCheckers(w.accounts, w.opts) }

// transferCheckers: money conserved over exactly the accounts, no balance
// below zero (participants vote no on an overdraft), each tx_id applied
// once, and stats.
func transferCheckers(accounts []string, opts Options) []checker.Checker {
	total := int64(len(accounts)) * opts.InitialBalance
	return []checker.Checker{
		checker.NewBank(checker.BankOptions{Total: &total, Accounts: accounts, AllowNegative: false}),
		checker.NewTxID(),
		checker.NewStats(),
	}
}

// setupTransfers waits until the coordinator reads every account.
func setupTransfers(ctx context.Context, t *cluster.Target, accounts []string, opts Options) error {
	c, err := newTransferClient(t, opts.OpTimeout)
	if err != nil {
		return err
	}
	return retryUntil(ctx, "read the bank's accounts", func(ctx context.Context) error {
		b, err := c.c.ReadBalances(ctx)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			if _, ok := b[a]; !ok {
				return fmt.Errorf("account %s missing from %v", a, b)
			}
		}
		return nil
	})
}
