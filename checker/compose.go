package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sync"

	"github.com/chaoscheck/chaoscheck/history"
)

// Compose runs several checkers on the same history, like Jepsen's
// checker/compose: each in its own goroutine, with the same ctx. Its
// verdict is the Merge of theirs (false beats unknown beats true); their
// results, in the order given, are its Details (see SubResults). It adds
// no anomalies of its own.
//
// A checker that panics is a bug in chaoscheck, not in the system under
// test: Compose recovers, and that checker's result is Unknown with the
// panic in its Notes and the stack in its Details, so the other verdicts
// still reach results.json.
func Compose(cs ...Checker) Checker { return composed(cs) }

type composed []Checker

func (composed) Name() string { return "compose" }

func (cs composed) Check(ctx context.Context, h history.History) Result {
	results := make([]Result, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = checkRecovering(ctx, c, h)
		}()
	}
	wg.Wait()
	return composeResults(results)
}

// composeResults is the composed verdict on the checkers' results.
func composeResults(results []Result) Result {
	res := Result{Checker: "compose", Valid: Valid, Details: results,
		Counts: map[string]int{"checkers": len(results), "valid": 0, "invalid": 0, "unknown": 0}}
	for _, r := range results {
		res.Valid = Merge(res.Valid, r.Valid)
		res.Counts[r.Valid.String()]++
	}
	if len(results) == 0 {
		// Nothing judged the history, so it cannot pass.
		res.Valid = Unknown
		res.Notes = append(res.Notes, "compose: no checkers to run")
	}
	return res
}

// checkRecovering runs one checker, turning a panic (in Name or Check)
// into an Unknown result.
func checkRecovering(ctx context.Context, c Checker, h history.History) (r Result) {
	name := "unnamed"
	defer func() {
		if p := recover(); p != nil {
			r = Result{Checker: name, Valid: Unknown,
				Notes:   []string{fmt.Sprintf("internal error: checker %s panicked: %v", name, p)},
				Details: string(debug.Stack())}
		}
	}()
	if c == nil {
		return Result{Checker: name, Valid: Unknown, Notes: []string{"internal error: nil checker"}}
	}
	name = c.Name()
	r = c.Check(ctx, h)
	if r.Checker == "" {
		r.Checker = name
	}
	return r
}

// SubResults returns the results of the checkers a Compose ran, in the
// order they were given; nil if r is not a composed result. It also reads
// a result decoded from results.json, where Details arrives as []any.
func SubResults(r Result) []Result {
	switch d := r.Details.(type) {
	case []Result:
		return d
	case []any:
		b, err := json.Marshal(d)
		if err != nil {
			return nil
		}
		var rs []Result
		if json.Unmarshal(b, &rs) != nil {
			return nil
		}
		return rs
	}
	return nil
}

// The helpers below are shared by the txid, set, bank and stats checkers.

// anomalyVerdict is the verdict of a checker that found anomalies and may
// have skipped part of the history (unjudged): any real anomaly makes the
// history invalid; with none, skipped input or "malformed" anomalies leave
// it unknown, since what was skipped might have hidden one.
func anomalyVerdict(as []Anomaly, unjudged bool) Validity {
	v := Valid
	if unjudged {
		v = Unknown
	}
	for _, a := range as {
		if a.Kind == "malformed" {
			v = Merge(v, Unknown)
		} else {
			return Invalid
		}
	}
	return v
}

// interruptedResult is the answer of a checker whose ctx ended before it
// finished: Unknown, unless an anomaly it already found proves the history
// invalid (an anomaly stays one however much was left unread).
func interruptedResult(ctx context.Context, r Result) Result {
	r.Valid = anomalyVerdict(r.Anomalies, true)
	r.Notes = append(r.Notes, fmt.Sprintf("%s checker stopped before it finished: %v", r.Checker, context.Cause(ctx)))
	return r
}
