package checker

import (
	"context"
	"fmt"
	"math"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewCounter returns Jepsen's counter checker. A counter starts at zero;
// "add" increments it by its value (never negative: the counter only
// grows), "read" returns it. Every ok read must lie between two bounds:
//
//   - lower: the sum of the adds that completed ok before the read was
//     invoked (they certainly happened before it);
//   - upper: the sum of the adds invoked before the read completed, save
//     those that failed (any of them may have happened before it; an info
//     or unfinished add counts, a failed one never happened).
//
// A read outside is "out-of-bounds". An add with a negative or non-integer
// value, or a read of a non-integer, is malformed (unknown). Without an ok
// read the checker has nothing to judge: unknown (Jepsen says valid).
func NewCounter() Checker { return counterChecker{} }

type counterChecker struct{}

func (counterChecker) Name() string { return "counter" }

func (counterChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "counter", Counts: map[string]int{"adds": 0, "reads": 0, "out-of-bounds": 0, "malformed": 0}}
	pairs := history.PairIndexes(h)
	// done[i] is the completion of the invocation at position i, -1 none;
	// invOf the reverse.
	done := make(map[int32]int32, len(pairs))
	invOf := make(map[int32]int32, len(pairs))
	for _, p := range pairs {
		done[p.Inv] = p.Done
		if p.Done >= 0 {
			invOf[p.Done] = p.Inv
		}
	}
	type pending struct {
		lower int64
		inv   int32
	}
	var lower, upper int64
	reads := map[int64]pending{} // process → its open read's lower bound
	overflow, unjudged := false, false
	add := func(sum *int64, v int64) {
		if *sum > math.MaxInt64-v {
			overflow = true
		}
		*sum += v
	}
	for i := range h {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		op := &h[i]
		if !op.IsClient() || (op.F != "add" && op.F != "read") {
			continue
		}
		d, hasDone := done[int32(i)]
		switch {
		case op.F == "add" && op.IsInvoke():
			res.Counts["adds"]++
			if hasDone && d >= 0 && h[d].IsFail() {
				continue // never happened
			}
			v, ok := integerValue(op.Value)
			if !ok || v < 0 {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*op,
					fmt.Sprintf("add of %s: want a non-negative integer (the counter only grows)", valueForDetail(op.Value))))
				unjudged = true
				continue
			}
			add(&upper, v)
		case op.F == "add" && op.IsOK():
			// The invocation's value, checked there: a client need not
			// echo it in the completion.
			if v, ok := integerValue(h[invOf[int32(i)]].Value); ok && v >= 0 {
				add(&lower, v)
			}
		case op.F == "read" && op.IsInvoke():
			if hasDone && d >= 0 && h[d].IsOK() {
				reads[op.Process] = pending{lower: lower, inv: int32(i)}
			}
		case op.F == "read" && op.IsOK():
			r, ok := reads[op.Process]
			if !ok {
				continue
			}
			delete(reads, op.Process)
			v, isInt := integerValue(op.Value)
			if !isInt {
				res.Anomalies = append(res.Anomalies, malformedAnomaly(*op,
					fmt.Sprintf("read of %s: want an integer", valueForDetail(op.Value))))
				unjudged = true
				continue
			}
			res.Counts["reads"]++
			if v < r.lower || v > upper {
				res.Counts["out-of-bounds"]++
				res.Anomalies = append(res.Anomalies, Anomaly{Kind: "out-of-bounds", Ops: []int64{h[r.inv].Index, op.Index},
					Detail: fmt.Sprintf("read %d, but the counter was at least %d (adds acknowledged before the read began) and at most %d (adds begun before it ended)",
						v, r.lower, upper)})
			}
		}
	}
	res.Counts["malformed"] = CountKind(res.Anomalies, "malformed")
	switch {
	case overflow:
		res.Notes = append(res.Notes, "the adds sum beyond int64: the bounds cannot be computed")
		res.Valid = anomalyVerdict(res.Anomalies, true)
	case res.Counts["reads"] == 0:
		res.Notes = append(res.Notes, "no ok read: the counter checker has nothing to judge")
		res.Valid = anomalyVerdict(res.Anomalies, true)
	default:
		res.Valid = anomalyVerdict(res.Anomalies, unjudged)
	}
	return res
}
