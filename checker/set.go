package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewSet returns the set checker, a simplified form of Jepsen's set-full:
// clients "add" unique elements and, once the faults have healed, one
// "read-all" returns the whole set. The last ok read-all is the final read
// and the only one judged.
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

// setElem is what the history says about one element.
type setElem struct {
	ops      []int64 // add invocations and completions, in history order
	firstInv int64   // index of the first add invocation
	ok       bool    // some add completed ok …
	okBefore bool    // … before the final read was invoked
	info     bool    // some add is indeterminate (info or unfinished)
	fail     bool    // some add completed fail
	reads    int     // occurrences in the final read
}

func (setChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "set", Counts: map[string]int{
		"attempted": 0, "acknowledged": 0, "lost": 0, "unexpected": 0,
		"duplicated": 0, "recovered": 0, "info-lost": 0, "never-read": 0,
		"failed": 0, "malformed": 0,
	}}
	pairs := history.Pairs(h)

	// The final read: the last ok read-all.
	final := -1
	for i := len(pairs) - 1; i >= 0; i-- {
		if p := pairs[i]; p.Invoke.F == "read-all" && p.Completed && p.Completion.IsOK() {
			final = i
			break
		}
	}
	var readInv, readDone int64 = math.MaxInt64, math.MaxInt64
	if final >= 0 {
		readInv, readDone = pairs[final].Invoke.Index, pairs[final].Completion.Index
	}

	elems := make(map[string]*setElem)
	var order []string // first-invocation order, for stable output
	unjudged := false
	for i, p := range pairs {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		if p.Invoke.F != "add" {
			continue
		}
		res.Counts["attempted"]++
		key, ok := elementText(p.Invoke.Value)
		if !ok {
			res.Anomalies = append(res.Anomalies, malformedAnomaly(p.Invoke,
				fmt.Sprintf("add value %s is not a number, string or bool", valueForDetail(p.Invoke.Value))))
			unjudged = true
			continue
		}
		e := elems[key]
		if e == nil {
			e = &setElem{firstInv: p.Invoke.Index}
			elems[key] = e
			order = append(order, key)
		}
		e.ops = append(e.ops, p.Invoke.Index)
		if p.Completed {
			e.ops = append(e.ops, p.Completion.Index)
		}
		switch {
		case !p.Completed || p.Completion.IsInfo():
			e.info = true
		case p.Completion.IsOK():
			res.Counts["acknowledged"]++
			e.ok = true
			if p.Completion.Index < readInv {
				e.okBefore = true
			}
		case p.Completion.IsFail():
			res.Counts["failed"]++
			e.fail = true
		}
	}

	if final < 0 {
		res.Valid = Unknown
		res.Notes = append(res.Notes, "no ok read-all: without a final read the set checker cannot judge")
		res.Counts["malformed"] = len(res.Anomalies)
		return res
	}

	// Read the final set. Elements nobody added are collected in read order.
	read := pairs[final].Completion
	list, isList := read.Value.([]any)
	if !isList && read.Value != nil {
		res.Anomalies = append(res.Anomalies, malformedAnomaly(read,
			fmt.Sprintf("read-all value %s is not a list", valueForDetail(read.Value))))
		res.Counts["malformed"] = len(res.Anomalies)
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
		if e := elems[key]; e != nil && e.firstInv < readDone {
			e.reads++
			continue
		}
		if strays[key] == 0 {
			strayOrder = append(strayOrder, key)
		}
		strays[key]++
	}

	for i, key := range order {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		e := elems[key]
		ops := append(e.ops[:len(e.ops):len(e.ops)], read.Index)
		if e.reads > 1 {
			res.Counts["duplicated"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "duplicated", Ops: ops, Key: key,
				Detail: fmt.Sprintf("element %s appears %d times in the final read", key, e.reads)})
		}
		switch {
		case e.ok && e.reads == 0 && e.okBefore:
			res.Counts["lost"]++
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "lost", Ops: ops, Key: key,
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
			res.Anomalies = append(res.Anomalies, Anomaly{Kind: "unexpected", Ops: ops, Key: key,
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

	res.Counts["malformed"] = countKind(res.Anomalies, "malformed")
	if unjudged {
		res.Notes = append(res.Notes, "malformed values were skipped: the verdict cannot be valid")
	}
	res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	return res
}

// elementText is an element's canonical text, the identity the set
// checker compares: numbers in their shortest form (json.Number "3", 3 and
// 3.0 are one element), strings as they are, so a store that returns "3"
// for an added 3 still matches. Lists, maps and nil are not elements.
func elementText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return strconv.FormatInt(n, 10), true
		}
		if f, err := strconv.ParseFloat(string(x), 64); err == nil && !math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', -1, 64), true
		}
		return string(x), true
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return strconv.FormatInt(n, 10), true
		}
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	}
	return "", false
}

// integerValue reads an integer (a balance, an effect-row count) from the
// shapes history.Op.Value may hold. Integral floats ("5.0") are accepted;
// anything else is not an integer.
func integerValue(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(x), 64)
		return integralFloat(f, err == nil)
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return integralFloat(x, true)
	}
	return 0, false
}

func integralFloat(f float64, ok bool) (int64, bool) {
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
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
