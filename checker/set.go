package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewSet returns the set checker, a simplified form of Jepsen's set-full:
// clients "add" unique elements and, once the faults have healed, one
// "read-all" (Jepsen's set workload: "read") returns the whole set. The
// last ok read-all is the final read
// and the only one judged: set-full's analysis of every read over time
// (stale reads, when each element became visible) is not done.
//
// Jepsen's rules, applied to that read:
//   - an add that completed ok before the final read was invoked must be in
//     it ("lost" otherwise); an ok add concurrent with or after the read may
//     be missing ("never-read", counted);
//   - an info add may or may not have happened: present is "recovered",
//     absent is "info-lost", both legal and counted;
//   - a fail add certainly did not happen, so reading its element is
//     "unexpected", like reading an element no add ever invoked;
//   - a set holds each element once: a repeat in the read is "duplicated".
func NewSet() Checker { return setChecker{} }

type setChecker struct{}

func (setChecker) Name() string { return "set" }

// setElem is what the history says about one element. Its adds are a
// linked list of pair positions (next), so half a million elements cost
// no slice each.
type setElem struct {
	key         string
	first, last int32 // pair positions of its first and last add
	firstInv    int64 // index of its first add invocation
	ok          bool  // some add completed ok …
	okBefore    bool  // … before the final read was invoked
	info        bool  // some add is indeterminate (info or unfinished)
	fail        bool  // some add completed fail
	reads       int   // occurrences in the final read
}

func (setChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "set", Counts: map[string]int{
		"attempted": 0, "acknowledged": 0, "lost": 0, "unexpected": 0,
		"duplicated": 0, "recovered": 0, "info-lost": 0, "never-read": 0,
		"failed": 0, "malformed": 0,
	}}
	pairs := history.PairIndexes(h)

	// The final read: the last ok read-all.
	final := -1
	for i := len(pairs) - 1; i >= 0; i-- {
		if p := pairs[i]; (h[p.Inv].F == "read-all" || h[p.Inv].F == "read") && p.Done >= 0 && h[p.Done].IsOK() {
			final = i
			break
		}
	}
	var readInv, readDone int64 = math.MaxInt64, math.MaxInt64
	if final >= 0 {
		readInv, readDone = h[pairs[final].Inv].Index, h[pairs[final].Done].Index
	}

	byKey := make(map[string]int32, len(pairs))
	elems := make([]setElem, 0, len(pairs)) // in first-add order, for stable output
	next := make([]int32, len(pairs))       // next add of the same element, or -1
	unjudged := false
	for i, p := range pairs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		inv := &h[p.Inv]
		if inv.F != "add" {
			continue
		}
		res.Counts["attempted"]++
		key, ok := elementText(inv.Value)
		if !ok {
			res.Anomalies = append(res.Anomalies, malformedAnomaly(*inv,
				fmt.Sprintf("add value %s is not a number, string or bool", valueForDetail(inv.Value))))
			unjudged = true
			continue
		}
		next[i] = -1
		j, seen := byKey[key]
		if !seen {
			j = int32(len(elems))
			byKey[key] = j
			elems = append(elems, setElem{key: key, first: int32(i), last: int32(i), firstInv: inv.Index})
		} else {
			next[elems[j].last] = int32(i)
			elems[j].last = int32(i)
		}
		e := &elems[j]
		switch {
		case p.Done < 0 || h[p.Done].IsInfo():
			e.info = true
		case h[p.Done].IsOK():
			res.Counts["acknowledged"]++
			e.ok = true
			if h[p.Done].Index < readInv {
				e.okBefore = true
			}
		case h[p.Done].IsFail():
			res.Counts["failed"]++
			e.fail = true
		}
	}

	if final < 0 {
		res.Valid = Unknown
		res.Notes = append(res.Notes, "no ok read-all: without a final read the set checker cannot judge")
		res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
		return res
	}

	// Read the final set. Elements nobody added are collected in read order.
	read := h[pairs[final].Done]
	list, isList := read.Value.([]any)
	if !isList {
		res.Anomalies = append(res.Anomalies, malformedAnomaly(read,
			fmt.Sprintf("read-all value %s is not a list", valueForDetail(read.Value))))
		res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
		res.Valid = anomalyVerdict(res.Anomalies, true)
		res.Notes = append(res.Notes, "the final read-all is malformed: the set checker cannot judge")
		return res
	}
	strays := make(map[string]int) // element → occurrences, for never-added ones
	var strayOrder []string
	for _, v := range list {
		key, ok := elementText(v)
		if !ok {
			res.Anomalies = append(res.Anomalies, malformedAnomaly(read,
				fmt.Sprintf("read-all element %s is not a number, string or bool", valueForDetail(v))))
			unjudged = true
			continue
		}
		if j, ok := byKey[key]; ok && elems[j].firstInv < readDone {
			elems[j].reads++
			continue
		}
		if strays[key] == 0 {
			strayOrder = append(strayOrder, key)
		}
		strays[key]++
	}

	// elemOps lists an element's add invocations and completions and the
	// final read.
	elemOps := func(e *setElem) []int64 {
		var ops []int64
		for i := e.first; i >= 0; i = next[i] {
			ops = append(ops, h[pairs[i].Inv].Index)
			if pairs[i].Done >= 0 {
				ops = append(ops, h[pairs[i].Done].Index)
			}
		}
		return append(ops, read.Index)
	}
	for i := range elems {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		e := &elems[i]
		key := e.key
		if e.reads > 1 {
			res.Counts["duplicated"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "duplicated", Ops: elemOps(e), Key: key,
				Detail: fmt.Sprintf("element %s appears %d times in the final read", key, e.reads)})
		}
		switch {
		case e.ok && e.reads == 0 && e.okBefore:
			res.Counts["lost"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "lost", Ops: elemOps(e), Key: key,
				Detail: fmt.Sprintf("add of %s was acknowledged before the final read began, but the read lacks it", key)})
		case e.ok && e.reads == 0:
			res.Counts["never-read"]++
		case e.ok:
		case e.info && e.reads > 0:
			res.Counts["recovered"]++
		case e.info:
			res.Counts["info-lost"]++
		case e.fail && e.reads > 0:
			res.Counts["unexpected"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "unexpected", Ops: elemOps(e), Key: key,
				Detail: fmt.Sprintf("every add of %s failed, yet the final read holds it", key)})
		}
	}
	for _, key := range strayOrder {
		res.Counts["unexpected"]++
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: "unexpected", Ops: []int64{read.Index}, Key: key,
			Detail: fmt.Sprintf("the final read holds %s, which no add invoked before the read completed", key)})
		if n := strays[key]; n > 1 {
			res.Counts["duplicated"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "duplicated", Ops: []int64{read.Index}, Key: key,
				Detail: fmt.Sprintf("element %s appears %d times in the final read", key, n)})
		}
	}

	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	if unjudged {
		res.Notes = append(res.Notes, "malformed values were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// elementText is a set element's identity: history.ValueKey, the one
// value rule (numbers by value, so json.Number "3", 3 and "3.0" are one
// element; the string "3" is another). Lists, maps, nil and values the
// rule refuses are not elements.
func elementText(v any) (string, bool) {
	switch v.(type) {
	case nil, []any, map[string]any:
		return "", false
	}
	k, err := history.ValueKey(v)
	if err != nil || k[0] == '[' || k[0] == '{' {
		return "", false
	}
	return k, true
}

// integerValue reads an integer (a balance, an effect-row count) by the
// one value rule (history.Int): a string is not an integer.
func integerValue(v any) (int64, bool) {
	n, err := history.Int(v)
	return n, err == nil
}

// malformedAnomaly names an op whose value has the wrong shape. A checker
// that skips such a value did not judge everything, so it never reports
// Valid (see anomalyVerdict).
func malformedAnomaly(op history.Op, detail string) Anomaly {
	return Anomaly{Kind: "malformed", Ops: []int64{op.Index}, Key: op.Key, Detail: detail}
}

// valueForDetail renders a value for an anomaly's detail line, short.
func valueForDetail(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%T", v)
	}
	const max = 80
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
