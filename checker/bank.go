package checker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// BankOptions configures the bank checker.
type BankOptions struct {
	// Total is the money the bank holds. Nil: the sum of the first ok read,
	// noted as inferred (a read that was already wrong would hide the
	// error behind the others, so say so).
	Total *int64
	// Accounts are the accounts that exist. Empty: those of the first ok
	// read.
	Accounts []string
	// AllowNegative accepts negative balances (a workload without an
	// overdraft check).
	AllowNegative bool
}

// NewBank returns Jepsen's bank checker: transfers move money between
// accounts, so every ok "read-balances" — during the run and the final one —
// must see the same total, over exactly the known accounts, none below zero
// unless allowed. A read that sees a transfer half-done breaks the total:
// that is a snapshot-isolation violation, the anomaly this checker is for.
// "transfer" ops are not judged here; the txid checker judges them.
func NewBank(opts BankOptions) Checker {
	return bankChecker{opts: opts}
}

type bankChecker struct{ opts BankOptions }

func (bankChecker) Name() string { return "bank" }

func (c bankChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "bank", Counts: map[string]int{"reads": 0, "bad-reads": 0, "malformed": 0}}
	var (
		total    int64
		haveTot  = c.opts.Total != nil
		accounts map[string]bool
		sorted   []string // accounts, sorted, for stable missing-account output
		unjudged bool
	)
	if haveTot {
		total = *c.opts.Total
	}
	if len(c.opts.Accounts) > 0 {
		accounts, sorted = accountSet(c.opts.Accounts)
	}

	for i, p := range history.Pairs(h) {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		if p.Invoke.F != "read-balances" || !p.Completed || !p.Completion.IsOK() {
			continue
		}
		read := p.Completion
		balances, err := balancesOf(read.Value)
		if err != nil {
			res.Anomalies = append(res.Anomalies, malformedAnomaly(read, err.Error()))
			unjudged = true
			continue
		}
		res.Counts["reads"]++
		if accounts == nil {
			names := make([]string, 0, len(balances))
			for a := range balances {
				names = append(names, a)
			}
			accounts, sorted = accountSet(names)
		}
		if !haveTot {
			sum, ok := sumBalances(balances)
			if !ok {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(read,
					"balances sum beyond int64: cannot infer the total"))
				unjudged = true
				continue
			}
			total, haveTot = sum, true
			res.Notes = append(res.Notes, fmt.Sprintf(
				"total %d inferred from the first read (op %d): give the total to catch a first read that is already wrong", total, read.Index))
		}

		before := len(res.Anomalies)
		res.Anomalies = append(res.Anomalies, c.judgeRead(read, balances, total, accounts, sorted)...)
		if len(res.Anomalies) > before {
			res.Counts["bad-reads"]++
		}
	}

	res.Counts["malformed"] = countKind(res.Anomalies, "malformed")
	if res.Counts["reads"] == 0 {
		res.Notes = append(res.Notes, "no ok read-balances: the bank checker has nothing to judge")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		return res
	}
	if unjudged {
		res.Notes = append(res.Notes, "malformed reads were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// judgeRead returns the anomalies of one well-formed read, in a stable
// order: wrong-total, then per known account (sorted), then unknown
// accounts (sorted).
func (c bankChecker) judgeRead(read history.Op, balances map[string]int64, total int64,
	accounts map[string]bool, sorted []string) []Anomaly {
	var as []Anomaly
	at := []int64{read.Index}
	if sum, ok := sumBalances(balances); !ok || sum != total {
		got := fmt.Sprint(sum)
		if !ok {
			got = "more than int64 holds"
		}
		as = append(as, Anomaly{Kind: "wrong-total", Ops: at,
			Detail: fmt.Sprintf("balances sum to %s, want %d", got, total)})
	}
	negative := func(a string, b int64) {
		if b < 0 && !c.opts.AllowNegative {
			as = append(as, Anomaly{Kind: "negative-balance", Ops: at, Key: a,
				Detail: fmt.Sprintf("account %s has balance %d", a, b)})
		}
	}
	known := 0
	for _, a := range sorted {
		b, ok := balances[a]
		if !ok {
			as = append(as, Anomaly{Kind: "missing-account", Ops: at, Key: a,
				Detail: fmt.Sprintf("known account %s is absent from the read", a)})
			continue
		}
		known++
		negative(a, b)
	}
	if known == len(balances) {
		return as
	}
	var unknown []string
	for a := range balances {
		if !accounts[a] {
			unknown = append(unknown, a)
		}
	}
	slices.Sort(unknown) // map order is random; anomalies should not be
	for _, a := range unknown {
		as = append(as, Anomaly{Kind: "unknown-account", Ops: at, Key: a,
			Detail: fmt.Sprintf("account %s is not one of the %d known accounts", a, len(accounts))})
		negative(a, balances[a])
	}
	return as
}

// sumBalances adds balances, reporting false if the sum leaves int64.
func sumBalances(balances map[string]int64) (int64, bool) {
	var sum int64
	for _, b := range balances {
		s := sum + b
		if (b > 0 && s < sum) || (b < 0 && s > sum) {
			return 0, false
		}
		sum = s
	}
	return sum, true
}

func accountSet(names []string) (map[string]bool, []string) {
	set := make(map[string]bool, len(names))
	for _, a := range names {
		set[a] = true
	}
	sorted := make([]string, 0, len(set))
	for a := range set {
		sorted = append(sorted, a)
	}
	slices.Sort(sorted)
	return set, sorted
}

// balancesOf reads a read-balances value: a map from account to an
// integer balance.
func balancesOf(v any) (map[string]int64, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("read-balances value %s is not a map of account to balance", valueForDetail(v))
	}
	out := make(map[string]int64, len(m))
	var bad []string
	for a, bv := range m {
		b, ok := integerValue(bv)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s=%s", a, valueForDetail(bv)))
			continue
		}
		out[a] = b
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, fmt.Errorf("read-balances has non-integer balances: %s", strings.Join(bad, ", "))
	}
	return out, nil
}
