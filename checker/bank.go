package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// BankOptions configures the bank checker.
type BankOptions struct {
	// Total is the money the bank holds. Nil: the sum of the first ok read,
	// with a Note saying so — if that read was already wrong, the correct
	// reads after it are the ones reported.
	Total *int64
	// Accounts are the accounts that exist. Empty: those of the first ok
	// read.
	Accounts []string
	// AllowNegative accepts negative balances (a workload without an
	// overdraft check).
	AllowNegative bool
}

// NewBank returns Jepsen's bank checker: transfers move money between
// accounts, so every ok "read-balances" (Jepsen's bank workload calls it
// "read": {:f :read, :value {0 100, 1 0}}) — during the run and the final one —
// must see the same total, over exactly the known accounts, none below zero
// unless allowed, none nil (Jepsen's nil-balance: the account's row was not
// found). A read that sees a transfer half-done breaks the total:
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

	// Like Jepsen's bank checker, judge the ok reads as they stand in the
	// history: a read's completion carries everything, so no pairing.
	for i := range h {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		read := &h[i]
		if read.F != "read-balances" && read.F != "read" || !read.IsOK() || !read.IsClient() {
			continue
		}
		balances, sum, nils, err := balancesOf(read.Value)
		if err != nil {
			res.Anomalies = append(res.Anomalies, malformedAnomaly(*read, err.Error()))
			unjudged = true
			continue
		}
		res.Counts["reads"]++
		if len(nils) > 0 {
			// Jepsen's nil-balance: the read found no balance for an
			// account (a row gone); it has no total to judge.
			res.Counts["bad-reads"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "nil-balance", Ops: []int64{read.Index}, Key: nils[0],
				Detail: fmt.Sprintf("the read has no balance (nil) for account %s", strings.Join(nils, ", "))})
			continue
		}
		if accounts == nil {
			accounts, sorted = accountSet(slices.Collect(maps.Keys(balances)))
		}
		if !haveTot {
			if sum == nil {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*read,
					"balances sum beyond int64: cannot infer the total"))
				unjudged = true
				continue
			}
			total, haveTot = *sum, true
			res.Notes = append(res.Notes, fmt.Sprintf(
				"total %d inferred from the first read (op %d): give the total to catch a first read that is already wrong", total, read.Index))
		}

		before := len(res.Anomalies)
		res.Anomalies = c.judgeRead(res.Anomalies, read.Index, balances, sum, total, accounts, sorted)
		if len(res.Anomalies) > before {
			res.Counts["bad-reads"]++
		}
	}

	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	if res.Counts["reads"] == 0 {
		res.Notes = append(res.Notes, "no ok read-balances (or read): the bank checker has nothing to judge")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		return res
	}
	if unjudged {
		res.Notes = append(res.Notes, "malformed reads were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// judgeRead appends the anomalies of one well-formed read (sum nil: beyond
// int64), in a stable order: wrong-total, then per known account (sorted),
// then unknown accounts (sorted).
func (c bankChecker) judgeRead(as []Anomaly, read int64, balances map[string]any, sum *int64, total int64,
	accounts map[string]bool, sorted []string) []Anomaly {
	if sum == nil || *sum != total {
		got := "more than int64 holds"
		if sum != nil {
			got = fmt.Sprint(*sum)
		}
		as = append(as, Anomaly{Kind: "wrong-total", Ops: []int64{read},
			Detail: fmt.Sprintf("balances sum to %s, want %d", got, total)})
	}
	negative := func(a string, v any) {
		if b, _ := integerValue(v); b < 0 && !c.opts.AllowNegative {
			as = append(as, Anomaly{Kind: "negative-balance", Ops: []int64{read}, Key: a,
				Detail: fmt.Sprintf("account %s has balance %d", a, b)})
		}
	}
	known := 0
	for _, a := range sorted {
		v, ok := balances[a]
		if !ok {
			as = append(as, Anomaly{Kind: "missing-account", Ops: []int64{read}, Key: a,
				Detail: fmt.Sprintf("known account %s is absent from the read", a)})
			continue
		}
		known++
		negative(a, v)
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
		as = append(as, Anomaly{Kind: "unknown-account", Ops: []int64{read}, Key: a,
			Detail: fmt.Sprintf("account %s is not one of the %d known accounts", a, len(accounts))})
		negative(a, balances[a])
	}
	return as
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

// balancesOf checks a read-balances value — a map from account to an
// integer balance — and sums it; sum is nil when it leaves int64, nils
// lists (sorted) the accounts whose balance is nil. The map is used as it
// is: copying 10 balances of each of 200,000 reads costs more than judging
// them.
func balancesOf(v any) (balances map[string]any, sum *int64, nils []string, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil, nil, fmt.Errorf("read-balances value %s is not a map of account to balance", valueForDetail(v))
	}
	var total int64
	overflow := false
	var bad []string
	for a, bv := range m {
		if bv == nil {
			nils = append(nils, a)
			continue
		}
		b, ok := integerValue(bv)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s=%s", a, valueForDetail(bv)))
			continue
		}
		s := total + b
		overflow = overflow || (b > 0 && s < total) || (b < 0 && s > total)
		total = s
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return nil, nil, nil, fmt.Errorf("read-balances has non-integer balances: %s", strings.Join(bad, ", "))
	}
	slices.Sort(nils)
	if overflow {
		return m, nil, nils, nil
	}
	return m, &total, nils, nil
}
