package verify

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// participant is one participant's data dir and what was read from it.
type participant struct {
	Node
	state  twopc.ParticipantState
	err    error
	states map[string]string // tx_id → its record's state; see txState
}

func readParticipants(ctx context.Context, nodes []Node) []participant {
	out := make([]participant, len(nodes))
	for i, n := range nodes {
		out[i].Node = n
		out[i].state, out[i].err = twopc.InspectParticipant(ctx, n.Dir)
		out[i].states = txStates(out[i].state)
	}
	return out
}

// decision is the coordinator's verdict on one tx_id over all its records
// (a seeded dedup bug can give one tx_id several attempts).
type decision struct {
	state        string // committed if any attempt committed, else aborted, else started
	participants []string
}

func decisionsByTx(recs []twopc.DecisionRecord) map[string]decision {
	out := map[string]decision{}
	rank := map[string]int{"started": 1, twopc.Aborted: 2, twopc.Committed: 3}
	for _, r := range recs {
		d := out[r.TxID]
		if rank[r.State] > rank[d.state] {
			d.state = r.State
		}
		for _, p := range r.Participants {
			if !slices.Contains(d.participants, p) {
				d.participants = append(d.participants, p)
			}
		}
		slices.Sort(d.participants)
		out[r.TxID] = d
	}
	return out
}

// unread notes the participants that could not be read; a check with no
// anomaly is unknown when any could not.
func unread(res *checker.Result, ps []participant) bool {
	some := false
	for _, p := range ps {
		if p.err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: could not read: %v", p.Name, p.err))
			some = true
		}
	}
	return some
}

func verdict(res *checker.Result, unknown bool) {
	switch {
	case len(res.Anomalies) > 0:
		res.Valid = checker.Invalid
	case unknown:
		res.Valid = checker.Unknown
	default:
		res.Valid = checker.Valid
	}
}

// checkInDoubt finds transactions a participant holds PREPARED: voted
// yes, decision not applied. 2PC finishes every one of them by itself (an
// in-doubt participant asks the coordinator, which re-drives a committed
// decision and presumes abort for a tx it has no record of), so a cluster
// stopped mid-commit holds them legitimately: each is pending, and the
// check is unknown with that reason, never invalid. Restart the nodes, let
// them go quiet and verify again for a verdict. Each pending tx names its
// node, its tx_id and, when the decision log was read, what the
// coordinator decided.
func checkInDoubt(ps []participant, decided map[string]decision) checker.Result {
	res := checker.Result{Checker: "in-doubt", Counts: map[string]int{"pending": 0, "txs": 0}}
	var pending []string
	for _, p := range ps {
		for _, t := range p.state.Txs {
			res.Counts["txs"]++
			if t.State != "prepared" {
				continue
			}
			res.Counts["pending"]++
			detail := fmt.Sprintf("%s holds %s prepared and undecided", p.Name, t.TxID)
			if t.XID != t.TxID {
				detail += " (attempt " + t.XID + ")"
			}
			if decided != nil {
				if d, ok := decided[t.TxID]; ok {
					detail += "; the coordinator's decision: " + d.state
				} else {
					detail += "; the coordinator has no record of it (presumed abort)"
				}
			}
			pending = append(pending, detail)
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d tx records on %d participants, %d prepared", res.Counts["txs"], len(ps), res.Counts["pending"]))
	if len(pending) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d pending: the protocol will still finish them (restart the nodes, let them settle and verify again)", len(pending)))
		res.Notes = append(res.Notes, capLines(pending, maxPendingNotes)...)
	}
	verdict(&res, unread(&res, ps) || len(pending) > 0)
	return res
}

// maxPendingNotes caps the pending txs listed one per note.
const maxPendingNotes = 20

func capLines(lines []string, n int) []string {
	if len(lines) <= n {
		return lines
	}
	return append(lines[:n:n], fmt.Sprintf("… and %d more", len(lines)-n))
}

// pendingTxs counts the tx_ids some participant holds prepared.
func pendingTxs(ps []participant) int {
	seen := map[string]bool{}
	for _, p := range ps {
		for tx, st := range p.states {
			if st == "prepared" {
				seen[tx] = true
			}
		}
	}
	return len(seen)
}

// checkAppliedOnce counts effect rows: every application of a tx's ops
// writes one, in the same local transaction, so two rows for one tx_id on
// one participant are a double application, whatever the dedup records
// claim.
func checkAppliedOnce(ps []participant) checker.Result {
	res := checker.Result{Checker: "applied-once", Counts: map[string]int{"applied": 0, "applied-twice": 0}}
	for _, p := range ps {
		for _, tx := range slices.Sorted(maps.Keys(p.state.Effects)) {
			n := p.state.Effects[tx]
			res.Counts["applied"]++
			if n > 1 {
				res.Counts["applied-twice"]++
				res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "applied-twice", Key: tx,
					Detail: fmt.Sprintf("%s has %d effect rows for %s: applied %d times", p.Name, n, tx, n)})
			}
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("%d (participant, tx_id) pairs with effect rows over %d participants, %d of them more than once", res.Counts["applied"], len(ps), res.Counts["applied-twice"]))
	verdict(&res, unread(&res, ps))
	return res
}

// Conservation is the conservation check's structured finding.
type Conservation struct {
	Sum      int64            `json:"sum"`
	Expected *int64           `json:"expected,omitempty"`
	Source   string           `json:"source,omitempty"` // where Expected came from
	Sums     map[string]int64 `json:"sums"`             // per participant
	Accounts int              `json:"accounts"`
}

// checkConservation sums every balance: transfers move money, so the sum
// is the total the accounts were created with. Participants refuse
// overdrafts, so a negative balance is wrong too. Without an expected
// total the sum is reported and the verdict is unknown.
func checkConservation(ps []participant, total *int64, source string) checker.Result {
	res := checker.Result{Checker: "conservation", Counts: map[string]int{"accounts": 0}}
	c := Conservation{Expected: total, Source: source, Sums: map[string]int64{}}
	var parts []string
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		var sum int64
		for _, acct := range slices.Sorted(maps.Keys(p.state.Balances)) {
			b := p.state.Balances[acct]
			sum += b
			c.Accounts++
			if b < 0 {
				res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "negative-balance", Key: p.Name + "/" + acct,
					Detail: fmt.Sprintf("%s/%s has balance %d", p.Name, acct, b)})
			}
		}
		c.Sums[p.Name] = sum
		c.Sum += sum
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, sum))
	}
	res.Counts["accounts"] = c.Accounts
	res.Details = c
	unknown := unread(&res, ps)
	found := fmt.Sprintf("balances of %d accounts sum to %d (%s)", c.Accounts, c.Sum, strings.Join(parts, ", "))
	switch {
	case total == nil:
		res.Notes = append(res.Notes, found+"; no expected total (give --total): not judged")
		unknown = true
	case c.Sum != *total && !unknown && pendingTxs(ps) > 0:
		// A transfer committed on one side and still prepared on the
		// other moves the sum until it finishes.
		res.Notes = append(res.Notes, fmt.Sprintf("%s, want %d (from %s); not judged: %d transactions are pending and change the sum when they finish",
			found, *total, source, pendingTxs(ps)))
		unknown = true
	case c.Sum != *total && !unknown:
		res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "not-conserved",
			Detail: fmt.Sprintf("%s, want %d (from %s)", found, *total, source)})
	case c.Sum != *total:
		res.Notes = append(res.Notes, fmt.Sprintf("%s, want %d; not judged with participants unread", found, *total))
	default:
		res.Notes = append(res.Notes, fmt.Sprintf("%s = %d from %s", found, *total, source))
	}
	verdict(&res, unknown)
	return res
}

// checkAtomicity holds the participants' effect rows against the
// coordinator's decision log. A tx_id decided committed must be applied on
// every participant it lists or (commit not yet delivered) on none; one
// applied on some and not on others is a partial commit. A committed tx
// that a participant aborted or forgot is a lost commit: it voted yes, so
// it had to keep the tx until the decision came. A tx_id applied anywhere
// without a commit decision breaks presumed abort.
func checkAtomicity(ps []participant, coord *Node, recs []twopc.DecisionRecord, coordErr error) checker.Result {
	res := checker.Result{Checker: "atomicity", Counts: map[string]int{"committed": 0, "aborted": 0, "started": 0}}
	unknown := unread(&res, ps)
	switch {
	case coord == nil:
		res.Notes = append(res.Notes, "no coordinator data dir (give --coordinator): atomicity not judged")
		res.Valid = checker.Unknown
		return res
	case coordErr != nil:
		res.Notes = append(res.Notes, fmt.Sprintf("%s %s: %v", coord.Name, coord.Dir, coordErr))
		res.Valid = checker.Unknown
		return res
	case len(ps) == 0:
		res.Notes = append(res.Notes, "no participant data dirs: atomicity not judged")
		res.Valid = checker.Unknown
		return res
	}
	decided := decisionsByTx(recs)
	byName := map[string]*participant{}
	for i := range ps {
		if ps[i].err == nil {
			byName[ps[i].Name] = &ps[i]
		}
	}
	missing := map[string]int{} // listed participants without a readable data dir → txs
	var pending []string
	for _, tx := range slices.Sorted(maps.Keys(decided)) {
		d := decided[tx]
		res.Counts[d.state]++
		if d.state != twopc.Committed {
			continue
		}
		var applied, prepared, lost []string
		for _, name := range d.participants {
			p := byName[name]
			if p == nil {
				missing[name]++
				continue
			}
			switch st := p.states[tx]; {
			case p.state.Effects[tx] > 0:
				applied = append(applied, name)
			case st == "prepared":
				prepared = append(prepared, name+" (prepared: the commit has not reached it)")
			case st == "committed":
				lost = append(lost, name+" (marked committed, no effect row)")
			case st == "":
				lost = append(lost, name+" (no record of the tx)")
			default:
				lost = append(lost, fmt.Sprintf("%s (%s it)", name, st))
			}
		}
		notApplied := append(prepared, lost...)
		switch {
		case len(applied) > 0 && len(lost) > 0:
			res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "partial-commit", Key: tx,
				Detail: fmt.Sprintf("committed; applied on %s; not on %s", strings.Join(applied, ", "), strings.Join(notApplied, ", "))})
		case len(applied) > 0 && len(prepared) > 0:
			// Stopped mid-commit: the coordinator re-drives the commit
			// to the participants still prepared.
			res.Counts["pending"]++
			pending = append(pending, fmt.Sprintf("%s: committed; applied on %s; pending on %s", tx, strings.Join(applied, ", "), strings.Join(prepared, ", ")))
		case len(lost) > 0:
			res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "lost-commit", Key: tx,
				Detail: fmt.Sprintf("committed; applied nowhere; not on %s", strings.Join(notApplied, ", "))})
		}
	}
	for _, p := range ps {
		if p.err != nil {
			continue
		}
		for _, tx := range slices.Sorted(maps.Keys(p.state.Effects)) {
			d, ok := decided[tx]
			switch {
			case !ok:
				res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "applied-without-commit", Key: tx,
					Detail: fmt.Sprintf("%s applied %s; the coordinator has no record of it", p.Name, tx)})
			case d.state != twopc.Committed:
				res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "applied-without-commit", Key: tx,
					Detail: fmt.Sprintf("%s applied %s; the coordinator's decision is %s", p.Name, tx, d.state)})
			}
		}
	}
	res.Notes = append(res.Notes, fmt.Sprintf("decision log: %d committed, %d aborted, %d started (presumed abort) tx_ids",
		res.Counts[twopc.Committed], res.Counts[twopc.Aborted], res.Counts["started"]))
	for _, name := range slices.Sorted(maps.Keys(missing)) {
		res.Notes = append(res.Notes, fmt.Sprintf("%s, listed by %d committed txs, has no readable data dir: those txs are judged without it", name, missing[name]))
		unknown = true
	}
	if len(pending) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d committed txs pending: the commit has not reached every participant yet (restart the nodes, let them settle and verify again)", len(pending)))
		res.Notes = append(res.Notes, capLines(pending, maxPendingNotes)...)
		unknown = true
	}
	slices.SortStableFunc(res.Anomalies, func(a, b checker.Anomaly) int { return cmp.Compare(a.Kind, b.Kind) })
	verdict(&res, unknown)
	return res
}

// txStates maps each tx_id to the state of its record on a participant:
// committed beats prepared beats aborted across its attempts (xids).
func txStates(st twopc.ParticipantState) map[string]string {
	rank := map[string]int{"aborted": 1, "prepared": 2, "committed": 3}
	out := make(map[string]string, len(st.Txs))
	for _, t := range st.Txs {
		if rank[t.State] > rank[out[t.TxID]] {
			out[t.TxID] = t.State
		}
	}
	return out
}
