package checker

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewSetFull returns Jepsen's set-full checker. Clients "add" unique
// elements and "read" the whole set, many times during the run; every ok
// read is judged, not only the last. Each element gets a timeline:
//
//   - known: the add completed ok, or a read that completed saw the
//     element, whichever came first;
//   - stable: some read saw it, and every read invoked after the last read
//     that missed it saw it;
//   - lost: it was known, and the last read that missed it was invoked
//     after it was known and after the last read that saw it;
//   - never-read: neither (no read began after it was known, or its add
//     never completed and no read saw it);
//   - stale: stable, but a read invoked at least a millisecond after it was
//     known missed it (a linearizable set has none; Jepsen's default, like
//     this checker's, counts them without failing the history);
//   - duplicated: some read held it more than once.
//
// A read only judges elements whose add was invoked before the read
// completed; it may miss an element whose add is concurrent with it.
// Valid is false for any lost or duplicated element, unknown when no
// element became stable (nothing was read back) on some key, true
// otherwise.
// Histories of Jepsen's independent keys ([k v] values) are checked per
// key. The latency of visibility (known → stable, known → lost) is in
// Details, in milliseconds.
func NewSetFull() Checker { return setFullChecker{} }

type setFullChecker struct{}

func (setFullChecker) Name() string { return "set-full" }

// SetFullDetails is the set-full checker's Result.Details.
type SetFullDetails struct {
	StableLatency *Latency `json:"stable_latency_ms,omitempty"`
	LostLatency   *Latency `json:"lost_latency_ms,omitempty"`
	// WorstStale lists the stale elements that took longest to show.
	WorstStale []SetFullStale `json:"worst_stale,omitempty"`
}

// SetFullStale is one stale element.
type SetFullStale struct {
	Key       string  `json:"key,omitempty"`
	Element   string  `json:"element"`
	LatencyMS float64 `json:"latency_ms"`
}

// sfElem is one element's timeline; positions are indexes into h, -1 none.
type sfElem struct {
	text        string
	addInv      int32
	addDone     int32 // ok completion of its add
	known       int32 // completion that made it known
	lastPresent int32 // invocation of the latest read that saw it
	lastAbsent  int32 // invocation of the latest read that missed it
	dup         int32 // a read (its completion) that held it more than once, or -1
	open        []int32
}

type sfRead struct {
	inv, done int32
	elems     []int32 // element ids present
}

func (setFullChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "set-full", Counts: map[string]int{"attempted": 0, "stable": 0, "lost": 0,
		"never-read": 0, "stale": 0, "duplicated": 0, "reads": 0, "unexpected": 0, "keys": 0, "malformed": 0}}
	h, _ = history.UnpackIndependent(h)
	// Positions of each key's client ops, keys in first-seen order.
	byKey := map[string][]int32{}
	var keys []string
	for i := range h {
		op := &h[i]
		if !op.IsClient() || (op.F != "add" && op.F != "read") {
			continue
		}
		if _, ok := byKey[op.Key]; !ok {
			keys = append(keys, op.Key)
		}
		byKey[op.Key] = append(byKey[op.Key], int32(i))
	}
	res.Counts["keys"] = len(keys)
	det := &SetFullDetails{}
	var stableLat, lostLat []int64
	var stale []SetFullStale
	unjudged := false
	var noStable []string // keys on which no element became stable
	for _, k := range keys {
		if ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		stableBefore := res.Counts["stable"]
		r := setFullKey(h, k, byKey[k], &res)
		if res.Counts["stable"] == stableBefore {
			noStable = append(noStable, k)
		}
		unjudged = unjudged || r.unjudged
		stableLat = append(stableLat, r.stable...)
		lostLat = append(lostLat, r.lost...)
		stale = append(stale, r.stale...)
	}
	if len(stableLat) > 0 {
		det.StableLatency = quantiles(stableLat)
	}
	if len(lostLat) > 0 {
		det.LostLatency = quantiles(lostLat)
	}
	sort.SliceStable(stale, func(i, j int) bool { return stale[i].LatencyMS > stale[j].LatencyMS })
	det.WorstStale = stale[:min(len(stale), 8)]
	res.Details = det
	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	// Jepsen's set-full is unknown without a stable element, and Jepsen's
	// independent checker is unknown when any key is: so is a history
	// with a key that nothing read back.
	switch {
	case res.Valid != Valid || len(noStable) == 0:
	case len(keys) == 1 && keys[0] == "":
		res.Valid = Unknown
		res.Notes = append(res.Notes, "no element became stable (no ok read saw an added element): set-full cannot judge")
	default:
		res.Valid = Unknown
		res.Notes = append(res.Notes, fmt.Sprintf("on %d of %d keys no element became stable (no ok read saw an added element), e.g. key %s: set-full cannot judge them",
			len(noStable), len(keys), noStable[0]))
	}
	if n := res.Counts["stale"]; n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d elements were stale: a read begun after the element was known missed it (legal unless the set must be linearizable)", n))
	}
	return res
}

type sfKeyResult struct {
	stable, lost []int64 // latencies, ns
	stale        []SetFullStale
	unjudged     bool
}

// setFullKey judges one key's ops (positions ps, in history order).
func setFullKey(h history.History, key string, ps []int32, res *Result) sfKeyResult {
	var out sfKeyResult
	elemID := map[string]int32{}
	var elems []sfElem
	var reads []sfRead
	openAdd := map[int64]int32{}  // process → element of its open add
	openRead := map[int64]int32{} // process → invocation of its open read
	for _, p := range ps {
		op := &h[p]
		switch {
		case op.F == "add" && op.IsInvoke():
			text, ok := setFullElement(op.Value)
			if !ok {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*op, "add of nil"))
				out.unjudged = true
				continue
			}
			id, seen := elemID[text]
			if !seen {
				id = int32(len(elems))
				elemID[text] = id
				elems = append(elems, sfElem{text: text, addInv: p, addDone: -1, known: -1, lastPresent: -1, lastAbsent: -1, dup: -1})
				res.Counts["attempted"]++
			}
			// Reads open now may complete after this add was invoked: they
			// judge the element too (Jepsen processes a read at its
			// completion).
			for _, inv := range openRead {
				elems[id].open = append(elems[id].open, inv)
			}
			openAdd[op.Process] = id
		case op.F == "add":
			id, ok := openAdd[op.Process]
			if !ok {
				continue
			}
			delete(openAdd, op.Process)
			if op.IsOK() && elems[id].addDone < 0 {
				elems[id].addDone = p
			}
		case op.IsInvoke():
			openRead[op.Process] = p
		default:
			inv, ok := openRead[op.Process]
			if !ok {
				continue
			}
			delete(openRead, op.Process)
			if !op.IsOK() {
				continue
			}
			list, isList := op.Value.([]any)
			if !isList && op.Value != nil {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*op, fmt.Sprintf("read value %s is not a set", valueForDetail(op.Value))))
				out.unjudged = true
				continue
			}
			res.Counts["reads"]++
			rd := sfRead{inv: inv, done: p}
			for _, v := range list {
				text, ok := setFullElement(v)
				id, added := elemID[text]
				if !ok || !added {
					res.Counts["unexpected"]++ // Jepsen's set-full does not judge these
					continue
				}
				rd.elems = append(rd.elems, id)
			}
			reads = append(reads, rd)
		}
	}
	// Who saw what: counts per read for duplicates, and the earliest
	// completion and latest invocation of the reads that saw each element.
	mark := make([]int32, len(elems)) // element → last read that saw it, +1
	for ri, rd := range reads {
		for _, id := range rd.elems {
			e := &elems[id]
			if rd.done < e.addInv {
				continue // the read ended before the add began: not judged
			}
			if mark[id] == int32(ri)+1 {
				e.dup = rd.done
				continue
			}
			mark[id] = int32(ri) + 1
			if e.known < 0 || rd.done < e.known {
				e.known = rd.done
			}
			e.lastPresent = max(e.lastPresent, rd.inv)
		}
	}
	// The latest read that missed each element: among reads invoked after
	// the add, walk them newest first past those that saw it; then the
	// reads open when the add was invoked.
	byInv := slices.Clone(reads)
	slices.SortFunc(byInv, func(a, b sfRead) int { return int(b.inv - a.inv) })
	invs := make([]int32, len(byInv))
	saw := make(map[int32]bool)
	for i, rd := range byInv {
		invs[i] = rd.inv
	}
	present := make([][]int32, len(elems))
	for _, rd := range reads {
		for _, id := range rd.elems {
			present[id] = append(present[id], rd.inv)
		}
	}
	readAt := map[int32]*sfRead{}
	for i := range reads {
		readAt[reads[i].inv] = &reads[i]
	}
	for id := range elems {
		e := &elems[id]
		if e.addDone >= 0 && (e.known < 0 || e.addDone < e.known) {
			e.known = e.addDone
		}
		clear(saw)
		for _, inv := range present[id] {
			saw[inv] = true
		}
		for _, inv := range invs {
			if inv < e.addInv {
				break
			}
			if !saw[inv] {
				e.lastAbsent = inv
				break
			}
		}
		for _, inv := range e.open {
			if rd := readAt[inv]; rd != nil && !saw[inv] && inv > e.lastAbsent {
				e.lastAbsent = inv
			}
		}
		judgeSetFullElement(h, key, e, res, &out)
	}
	return out
}

// setFullElement is an element's identity, history.ValueKey: Jepsen
// compares elements by value, whatever they are, so lists and maps are
// elements too; nil is not.
func setFullElement(v any) (string, bool) {
	if v == nil {
		return "", false
	}
	k, err := history.ValueKey(v)
	return k, err == nil
}

func judgeSetFullElement(h history.History, key string, e *sfElem, res *Result, out *sfKeyResult) {
	ms := func(ns int64) int64 { return max(ns, 0) / 1e6 * 1e6 } // whole ms, as Jepsen rounds
	stable := e.lastPresent >= 0 && e.lastAbsent < e.lastPresent
	lost := e.known >= 0 && e.lastAbsent >= 0 && e.lastPresent < e.lastAbsent && e.known < e.lastAbsent
	knownT := int64(0)
	if e.known >= 0 {
		knownT = h[e.known].Time
	}
	switch {
	case stable:
		res.Counts["stable"]++
		st := int64(0)
		if e.lastAbsent >= 0 {
			st = h[e.lastAbsent].Time + 1
		}
		lat := ms(st - knownT)
		out.stable = append(out.stable, lat)
		if lat > 0 {
			res.Counts["stale"]++
			out.stale = append(out.stale, SetFullStale{Key: key, Element: e.text, LatencyMS: float64(lat) / 1e6})
		}
	case lost:
		res.Counts["lost"]++
		lt := int64(0)
		if e.lastPresent >= 0 {
			lt = h[e.lastPresent].Time + 1
		}
		out.lost = append(out.lost, ms(lt-knownT))
		ops := []int64{h[e.addInv].Index}
		if e.addDone >= 0 {
			ops = append(ops, h[e.addDone].Index)
		}
		seen := "no read saw it"
		if e.lastPresent >= 0 {
			ops = append(ops, h[e.lastPresent].Index)
			seen = fmt.Sprintf("the last read that saw it was invoked at op %d", h[e.lastPresent].Index)
		}
		ops = append(ops, h[e.lastAbsent].Index)
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "lost", Ops: ops, Key: key, Detail: fmt.Sprintf(
			"element %s was known at op %d; %s; the read invoked at op %d, later, misses it", e.text, h[e.known].Index, seen, h[e.lastAbsent].Index)})
	default:
		res.Counts["never-read"]++
	}
	if e.dup >= 0 {
		res.Counts["duplicated"]++
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "duplicated", Ops: []int64{h[e.addInv].Index, h[e.dup].Index}, Key: key,
			Detail: fmt.Sprintf("element %s appears more than once in the read completed at op %d", e.text, h[e.dup].Index)})
	}
}
