package checker

import (
	"cmp"
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
//   - conflicting-outcomes: one attempt ok while the system answered
//     another attempt that the transaction aborted. Only such a stated
//     abort contradicts the ok: a retry that failed without reaching the
//     system (connection refused, a proxy's "not delivered") says only
//     that this attempt did nothing, which is what exactly-once wants.
//     A fail states the abort when its error begins with "aborted"
//     (StatesAbort).
//
// Participants come from the invocation's value.participants; when a
// retry lists different ones, the first attempt that lists any wins.
func NewTxID() Checker { return txidChecker{} }

type txidChecker struct{}

func (txidChecker) Name() string { return "txid" }

// txState is what the history says about one tx_id. Its attempts are a
// linked list of pair positions (Check's next), so a million attempts
// cost no slice each.
type txState struct {
	id          string
	first, last int32 // positions in pairs of its first and last attempt
	ok, fail    int32 // attempts completed ok / fail
	aborted     int32 // … of the fails, those where the system stated the tx aborted
	indet       int32 // attempts completed info or unfinished
	parts       int32 // its participants: an index into partSets.lists, 0 = none listed (any)

	// From the final read.
	appliedOn     int32 // participants holding ≥ 1 effect row
	appliedListed int32 // … of them, listed in participants
	bad           bool  // a count of it was malformed: not judged
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
	pairs := history.PairIndexes(h)

	// Sized for one tx_id per attempt, the most there can be: growing
	// them costs more than capacity nobody touches.
	byID := make(map[string]int32, len(pairs))
	txs := make([]txState, 0, len(pairs))
	next := make([]int32, len(pairs)) // next attempt of the same tx_id, or -1
	sets := newPartSets()
	final := -1
	for i, p := range pairs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		inv := &h[p.Inv]
		if inv.F == "final-read" && p.Done >= 0 && h[p.Done].IsOK() {
			final = i
		}
		if inv.TxID == "" || inv.F == "final-read" {
			continue
		}
		next[i] = -1
		t, seen := byID[inv.TxID]
		if !seen {
			t = int32(len(txs))
			byID[inv.TxID] = t
			txs = append(txs, txState{id: inv.TxID, first: int32(i), last: int32(i)})
		} else {
			next[txs[t].last] = int32(i)
			txs[t].last = int32(i)
		}
		tx := &txs[t]
		switch {
		case p.Done < 0 || h[p.Done].IsInfo():
			tx.indet++
		case h[p.Done].IsOK():
			tx.ok++
		case h[p.Done].IsFail():
			tx.fail++
			if StatesAbort(h[p.Done]) {
				tx.aborted++
			}
		}
		if tx.parts == 0 {
			k, err := sets.of(inv.Value)
			if err != nil {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*inv, err.Error()))
			}
			tx.parts = k
		}
	}
	res.Counts["tx_ids"] = len(txs)

	// attemptOps lists a tx_id's invocations and completions, then extra.
	attemptOps := func(tx *txState, extra ...int64) []int64 {
		var ops []int64
		for i := tx.first; i >= 0; i = next[i] {
			ops = append(ops, h[pairs[i].Inv].Index)
			if pairs[i].Done >= 0 {
				ops = append(ops, h[pairs[i].Done].Index)
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
			if tx.aborted > 0 {
				add("conflicting-outcomes", tx, fmt.Sprintf("%d attempts completed ok, yet the system answered %d attempts that the transaction aborted", tx.ok, tx.aborted))
			}
		case tx.indet == 0:
			res.Counts["fail"]++
		default:
			res.Counts["indeterminate"]++
		}
	}

	if final < 0 {
		res.Notes = append(res.Notes, "no ok final-read: without it the txid checker cannot tell what was applied")
		res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		return res
	}
	read := h[pairs[final].Done]
	fr := readEffects(read.Value, byID, txs, sets)
	for _, e := range fr.errs {
		res.Anomalies = append(res.Anomalies, malformedAnomaly(read, e))
	}
	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	if fr.raw == nil {
		res.Notes = append(res.Notes, "the final-read is malformed: the txid checker cannot tell what was applied")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		return res
	}
	unjudged := res.Counts["malformed"] > 0

	// A participant some tx lists but the final read lacks was not read:
	// what it holds is unknown, which is not the same as empty.
	for _, list := range sets.lists {
		for _, p := range list {
			if !fr.read[p] {
				fr.unread[p] = true
			}
		}
	}
	readListed := make([]int32, len(sets.lists)) // per set, its participants that were read
	for k, list := range sets.lists {
		for _, p := range list {
			if !fr.unread[p] {
				readListed[k]++
			}
		}
	}
	if len(fr.unread) > 0 {
		unjudged = true
		res.Notes = append(res.Notes, fmt.Sprintf("final-read (op %d) lacks participants %s: their transactions were not fully judged",
			read.Index, strings.Join(slices.Sorted(maps.Keys(fr.unread)), ", ")))
	}

	dups := fr.dups
	for i := range txs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		tx := &txs[i]
		dup := false
		for len(dups) > 0 && dups[0].tx == int32(i) {
			dup = true
			add("duplicated", tx, fmt.Sprintf("participant %s holds %d effect rows", dups[0].participant, dups[0].n), read.Index)
			dups = dups[1:]
		}
		if tx.bad {
			continue // a count of it was malformed: reported above
		}
		listed := sets.lists[tx.parts]
		fullyRead := readListed[tx.parts] == int32(len(listed))
		if tx.parts == 0 {
			fullyRead = len(fr.unread) == 0 // it may sit on any participant
		}
		missing := readListed[tx.parts] - tx.appliedListed // read, listed, lacking its rows
		switch {
		case tx.ok > 0 && missing > 0:
			add("lost", tx, fmt.Sprintf("acknowledged ok, but no effect rows on %s", fr.describe(tx, listed, false)), read.Index)
		case tx.ok > 0 && tx.parts == 0 && tx.appliedOn == 0 && fullyRead:
			add("lost", tx, "acknowledged ok, but no participant holds its effect rows", read.Index)
		case tx.ok == 0 && tx.indet == 0 && tx.appliedOn > 0:
			add("failed-applied", tx, fmt.Sprintf("every attempt failed, yet %d participants hold its effect rows", tx.appliedOn), read.Index)
		case tx.ok == 0 && tx.indet > 0 && len(listed) > 1 && tx.appliedListed > 0 && missing > 0:
			add("partial", tx, fmt.Sprintf("indeterminate; applied on %s but not on %s",
				fr.describe(tx, listed, true), fr.describe(tx, listed, false)), read.Index)
		case !dup && tx.appliedOn > 0 && fullyRead:
			res.Counts["applied-once"]++
		}
	}

	// Effect rows of transactions nobody invoked.
	for _, g := range fr.ghosts {
		res.Counts["never-invoked"]++
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "never-invoked", Key: g.id, Ops: []int64{read.Index},
			Detail: fmt.Sprintf("participant %s holds %d effect rows of a tx_id no op invoked", g.participant, g.n)})
	}

	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	if res.Counts["malformed"] > 0 {
		res.Notes = append(res.Notes, "malformed values were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// finalEffects is what txid's final read says, folded into the txStates
// in one pass: the read holds an entry per participant per tx_id, so a
// second map of it would cost as much as the rest of the check.
type finalEffects struct {
	raw    map[string]any  // the read's value, for anomaly details
	read   map[string]bool // participants read (their entry is a map)
	unread map[string]bool // participants whose entry is missing or malformed
	dups   []effectRows    // counts > 1 of invoked tx_ids, by tx then participant
	ghosts []effectRows    // counts > 0 of tx_ids no op invoked, by participant then tx_id
	errs   []string        // malformed entries, sorted
}

type effectRows struct {
	tx              int32
	participant, id string
	n               int64
}

// readEffects reads a final-read value: participant → tx_id → count of
// effect rows, recording counts into txs. A participant whose entry is not
// a map is unread, and a tx_id with a malformed count is marked bad, so
// that neither is mistaken for "no effect rows".
func readEffects(v any, byID map[string]int32, txs []txState, sets *partSets) finalEffects {
	fr := finalEffects{read: map[string]bool{}, unread: map[string]bool{}}
	m, ok := v.(map[string]any)
	if !ok {
		fr.errs = []string{fmt.Sprintf("final-read value %s is not a map of participant to tx_id counts", valueForDetail(v))}
		return fr
	}
	fr.raw = m
	for _, p := range slices.Sorted(maps.Keys(m)) {
		rows, ok := m[p].(map[string]any)
		if !ok {
			fr.unread[p] = true
			fr.errs = append(fr.errs, fmt.Sprintf("final-read participant %s: %s is not a map of tx_id to count", p, valueForDetail(m[p])))
			continue
		}
		fr.read[p] = true
		listedIn := sets.containing(p)
		for id, c := range rows {
			n, ok := integerValue(c)
			t, invoked := byID[id]
			if !ok || n < 0 {
				if invoked {
					txs[t].bad = true
				}
				fr.errs = append(fr.errs, fmt.Sprintf("final-read participant %s tx_id %s: count %s is not a non-negative integer", p, id, valueForDetail(c)))
				continue
			}
			switch {
			case n == 0:
			case !invoked:
				fr.ghosts = append(fr.ghosts, effectRows{participant: p, id: id, n: n})
			default:
				tx := &txs[t]
				tx.appliedOn++
				if listedIn[tx.parts] {
					tx.appliedListed++
				}
				if n > 1 {
					fr.dups = append(fr.dups, effectRows{tx: t, participant: p, id: id, n: n})
				}
			}
		}
	}
	slices.Sort(fr.errs)
	slices.SortFunc(fr.ghosts, func(a, b effectRows) int {
		return cmp.Or(strings.Compare(a.participant, b.participant), strings.Compare(a.id, b.id))
	})
	slices.SortFunc(fr.dups, func(a, b effectRows) int {
		return cmp.Or(cmp.Compare(a.tx, b.tx), strings.Compare(a.participant, b.participant))
	})
	return fr
}

// describe lists tx's read participants that hold its effect rows
// (applied) or lack them, for an anomaly's detail.
func (fr finalEffects) describe(tx *txState, listed []string, applied bool) string {
	var ps []string
	for _, p := range listed {
		if fr.unread[p] {
			continue
		}
		rows, _ := fr.raw[p].(map[string]any)
		n, _ := integerValue(rows[tx.id])
		if (n > 0) == applied {
			ps = append(ps, p)
		}
	}
	return strings.Join(ps, ", ")
}

// partSets interns the participant lists of transactions: a workload
// touches few distinct sets ({p1,p2}, {p2,p3} …), so a tx holds a small
// index, and "is p listed" is a look-up in a table that stays in cache
// rather than a scan of a slice per tx.
type partSets struct {
	byKey   map[string]int32
	lists   [][]string // lists[0] is nil: no participants listed
	scratch []string
	key     []byte
}

func newPartSets() *partSets {
	return &partSets{byKey: map[string]int32{}, lists: [][]string{nil}}
}

// of returns the set index of value.participants of a transaction's
// invocation: 0 when absent or empty (any participant), and also 0 with
// an error when it is not a list of strings.
func (ps *partSets) of(v any) (int32, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return 0, nil
	}
	raw, ok := m["participants"]
	if !ok || raw == nil {
		return 0, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return 0, fmt.Errorf("participants %s is not a list", valueForDetail(raw))
	}
	ps.scratch, ps.key = ps.scratch[:0], ps.key[:0]
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return 0, fmt.Errorf("participants %s holds a non-string", valueForDetail(raw))
		}
		if !slices.Contains(ps.scratch, s) {
			ps.scratch = append(ps.scratch, s)
			ps.key = append(append(ps.key, s...), 0)
		}
	}
	if len(ps.scratch) == 0 {
		return 0, nil
	}
	if k, ok := ps.byKey[string(ps.key)]; ok { // no allocation on a hit
		return k, nil
	}
	k := int32(len(ps.lists))
	ps.byKey[string(ps.key)] = k
	ps.lists = append(ps.lists, slices.Clone(ps.scratch))
	return k, nil
}

// containing reports, per set index, whether the set lists p.
func (ps *partSets) containing(p string) []bool {
	in := make([]bool, len(ps.lists))
	for k, list := range ps.lists {
		in[k] = slices.Contains(list, p)
	}
	return in
}

// StatesAbort reports whether a failed transaction op carries the
// system's decision that the transaction aborted, rather than a failure of
// the attempt to reach it: its error begins with "aborted" (the 2PC
// workload records "aborted: <reason>"). Histories from other systems mark
// stated aborts the same way to have conflicting outcomes judged.
func StatesAbort(op history.Op) bool {
	return op.IsFail() && strings.HasPrefix(strings.ToLower(op.Error), "aborted")
}
