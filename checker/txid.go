package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewTxID returns the exactly-once checker for transactions. Every client
// op with a tx_id is one attempt at that transaction; clients retry and
// the nemesis duplicates requests, so a tx_id may be invoked many times,
// by several processes. The system must apply it at most once, and must
// apply it if it said so.
//
// A tx_id's outcome folds its attempts the way Jepsen folds one op's
// completion: ok if any attempt completed ok, fail if every attempt
// completed fail, otherwise indeterminate (info, or unfinished when the
// history ended).
//
// The judge is the last ok "final-read": per participant, tx_id → number
// of effect rows found. Against it:
//   - duplicated: more than one effect row on a participant;
//   - lost: outcome ok, yet no effect row on a listed participant (or, with
//     no participants listed, on any);
//   - failed-applied: outcome fail, yet an effect row somewhere;
//   - never-invoked: effect rows for a tx_id no op invoked;
//   - partial: indeterminate, several participants listed, applied on some
//     but not all — atomicity broken, whatever the outcome was;
//   - conflicting-outcomes: one attempt ok and another fail; fail means
//     "certainly did not happen", so the two answers contradict.
//
// Participants come from the invocation's value.participants; when a
// retry lists different ones, the first attempt that lists any wins.
func NewTxID() Checker { return txidChecker{} }

type txidChecker struct{}

func (txidChecker) Name() string { return "txid" }

// txState is what the history says about one tx_id. Its attempts are a
// linked list through txidChecker's next slice, so a million attempts cost
// no per-tx slice.
type txState struct {
	id           string
	first, last  int32 // positions in pairs of its first and last attempt
	ok, fail     int32 // attempts completed ok / fail
	indet        int32 // attempts completed info or unfinished
	participants []string
}

// txidKinds are the anomaly kinds, in the order a tx_id is judged.
var txidKinds = []string{"conflicting-outcomes", "duplicated", "lost", "failed-applied", "partial", "never-invoked", "malformed"}

func (txidChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "txid", Counts: map[string]int{
		"tx_ids": 0, "ok": 0, "fail": 0, "indeterminate": 0, "applied-once": 0,
	}}
	for _, k := range txidKinds {
		res.Counts[k] = 0
	}
	pairs := history.Pairs(h)

	byID := make(map[string]int32)
	var txs []txState
	next := make([]int32, len(pairs)) // next attempt of the same tx_id, or -1
	final := -1
	for i, p := range pairs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		if p.Invoke.F == "final-read" && p.Completed && p.Completion.IsOK() {
			final = i
		}
		if p.Invoke.TxID == "" {
			continue
		}
		next[i] = -1
		t, seen := byID[p.Invoke.TxID]
		if !seen {
			t = int32(len(txs))
			byID[p.Invoke.TxID] = t
			txs = append(txs, txState{id: p.Invoke.TxID, first: int32(i), last: int32(i)})
		} else {
			next[txs[t].last] = int32(i)
			txs[t].last = int32(i)
		}
		tx := &txs[t]
		switch {
		case !p.Completed || p.Completion.IsInfo():
			tx.indet++
		case p.Completion.IsOK():
			tx.ok++
		case p.Completion.IsFail():
			tx.fail++
		}
		if tx.participants == nil {
			ps, err := participantsOf(p.Invoke.Value)
			if err != nil {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(p.Invoke, err.Error()))
			}
			tx.participants = ps
		}
	}
	res.Counts["tx_ids"] = len(txs)

	// attemptOps lists a tx_id's invocations and completions, then extra.
	attemptOps := func(tx *txState, extra ...int64) []int64 {
		var ops []int64
		for i := tx.first; i >= 0; i = next[i] {
			ops = append(ops, pairs[i].Invoke.Index)
			if pairs[i].Completed {
				ops = append(ops, pairs[i].Completion.Index)
			}
		}
		return append(ops, extra...)
	}
	add := func(kind string, tx *txState, detail string, extra ...int64) {
		res.Counts[kind]++
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: kind, Key: tx.id, Ops: attemptOps(tx, extra...), Detail: detail})
	}

	// Outcomes need no final read; contradictory answers are an anomaly
	// even when nothing was read.
	for i := range txs {
		tx := &txs[i]
		switch {
		case tx.ok > 0:
			res.Counts["ok"]++
			if tx.fail > 0 {
				add("conflicting-outcomes", tx, fmt.Sprintf("%d attempts completed ok and %d completed fail", tx.ok, tx.fail))
			}
		case tx.indet == 0:
			res.Counts["fail"]++
		default:
			res.Counts["indeterminate"]++
		}
	}

	if final < 0 {
		res.Notes = append(res.Notes, "no ok final-read: without it the txid checker cannot tell what was applied")
		res.Counts["malformed"] = countKind(res.Anomalies, "malformed")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		return res
	}
	read := pairs[final].Completion
	counts, badIDs, readErrs := effectCounts(read.Value)
	for _, e := range readErrs {
		res.Anomalies = append(res.Anomalies, malformedAnomaly(read, e))
	}
	unjudged := len(readErrs) > 0 || countKind(res.Anomalies, "malformed") > 0

	// A participant some tx lists but the final read lacks was not read:
	// what it holds is unknown, which is not the same as empty.
	unread := map[string]bool{}
	for i := range txs {
		for _, p := range txs[i].participants {
			if _, ok := counts[p]; !ok {
				unread[p] = true
			}
		}
	}
	if len(unread) > 0 {
		unjudged = true
		res.Notes = append(res.Notes, fmt.Sprintf("final-read (op %d) lacks participants %s: their transactions were not fully judged",
			read.Index, strings.Join(slices.Sorted(maps.Keys(unread)), ", ")))
	}
	parts := slices.Sorted(maps.Keys(counts)) // stable anomaly order

	for i := range txs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		tx := &txs[i]
		if badIDs[tx.id] {
			continue // its count was malformed somewhere: already reported
		}
		appliedOn, dup := 0, false
		for _, p := range parts {
			n := counts[p][tx.id]
			if n > 1 {
				dup = true
				add("duplicated", tx, fmt.Sprintf("participant %s holds %d effect rows", p, n), read.Index)
			}
			if n > 0 {
				appliedOn++
			}
		}
		// Listed participants the tx was (not) applied on, among those
		// read; fully read when every participant it may touch was read.
		var missing, present []string
		fullyRead := len(unread) == 0
		for _, p := range tx.participants {
			switch {
			case unread[p]:
			case counts[p][tx.id] > 0:
				present = append(present, p)
			default:
				missing = append(missing, p)
			}
		}
		if tx.participants != nil {
			fullyRead = len(present)+len(missing) == len(tx.participants)
		}
		switch {
		case tx.ok > 0 && len(missing) > 0:
			add("lost", tx, fmt.Sprintf("acknowledged ok, but no effect rows on %s", strings.Join(missing, ", ")), read.Index)
		case tx.ok > 0 && tx.participants == nil && appliedOn == 0 && fullyRead:
			add("lost", tx, "acknowledged ok, but no participant holds its effect rows", read.Index)
		case tx.ok == 0 && tx.indet == 0 && appliedOn > 0:
			add("failed-applied", tx, fmt.Sprintf("every attempt failed, yet %d participants hold its effect rows", appliedOn), read.Index)
		case tx.ok == 0 && tx.indet > 0 && len(tx.participants) > 1 && len(present) > 0 && len(missing) > 0:
			add("partial", tx, fmt.Sprintf("indeterminate; applied on %s but not on %s",
				strings.Join(present, ", "), strings.Join(missing, ", ")), read.Index)
		case !dup && appliedOn > 0 && fullyRead:
			res.Counts["applied-once"]++
		}
	}

	// Effect rows of transactions nobody invoked.
	for _, p := range parts {
		ids := slices.Sorted(maps.Keys(counts[p]))
		for _, id := range ids {
			if _, invoked := byID[id]; invoked || counts[p][id] <= 0 {
				continue
			}
			res.Counts["never-invoked"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "never-invoked", Key: id, Ops: []int64{read.Index},
				Detail: fmt.Sprintf("participant %s holds %d effect rows of a tx_id no op invoked", p, counts[p][id])})
		}
	}

	res.Counts["malformed"] = countKind(res.Anomalies, "malformed")
	if unjudged && res.Counts["malformed"] > 0 {
		res.Notes = append(res.Notes, "malformed values were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// participantsOf reads value.participants of a transaction's invocation:
// nil when absent (any participant), an error when it is not a list of
// strings (then also nil, so the tx is judged as "any participant").
func participantsOf(v any) ([]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, nil
	}
	raw, ok := m["participants"]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("participants %s is not a list", valueForDetail(raw))
	}
	if len(list) == 0 {
		return nil, nil
	}
	ps := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("participants %s holds a non-string", valueForDetail(raw))
		}
		if !slices.Contains(ps, s) {
			ps = append(ps, s)
		}
	}
	return ps, nil
}

// effectCounts reads a final-read value: participant → tx_id → count of
// effect rows. Entries of the wrong shape are skipped and described; a
// participant whose entry is not a map is left out (unread), and a tx_id
// with a malformed count is returned in bad, so that neither is mistaken
// for "no effect rows".
func effectCounts(v any) (counts map[string]map[string]int64, bad map[string]bool, errs []string) {
	bad = map[string]bool{}
	m, ok := v.(map[string]any)
	if !ok {
		return map[string]map[string]int64{}, bad, []string{
			fmt.Sprintf("final-read value %s is not a map of participant to tx_id counts", valueForDetail(v))}
	}
	out := make(map[string]map[string]int64, len(m))
	for _, p := range slices.Sorted(maps.Keys(m)) {
		rows, ok := m[p].(map[string]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("final-read participant %s: %s is not a map of tx_id to count", p, valueForDetail(m[p])))
			continue
		}
		counts := make(map[string]int64, len(rows))
		for id, c := range rows {
			n, ok := integerValue(c)
			if !ok || n < 0 {
				bad[id] = true
				errs = append(errs, fmt.Sprintf("final-read participant %s tx_id %s: count %s is not a non-negative integer", p, id, valueForDetail(c)))
				continue
			}
			counts[id] = n
		}
		out[p] = counts
	}
	slices.Sort(errs)
	return out, bad, errs
}
