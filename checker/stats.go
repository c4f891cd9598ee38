package checker

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewStats returns the stats checker: how many ops of each f invoked and
// completed ok, fail or info, the latency of ok ops, and throughput. It is
// informational, like Jepsen's perf checker, so it is Valid unless ctx
// ends first; unlike Jepsen's stats checker it does not fail an f that
// never succeeded, it only notes it (under faults that can be the expected
// outcome, and the other checkers judge correctness).
//
// A history without client ops (only the nemesis's, as in some Knossos
// test histories) is Valid with a note, as in Jepsen, where every f that
// appears has an ok vacuously: stats measures, it does not judge, so it
// must not turn the other checkers' verdict into unknown. Whether an empty
// history is acceptable is for the correctness checkers to say (the
// linearizable checker notes that it had nothing to check).
func NewStats() Checker { return statsChecker{} }

type statsChecker struct{}

func (statsChecker) Name() string { return "stats" }

// StatsDetails is the stats checker's Result.Details.
type StatsDetails struct {
	ByF       map[string]*FStats `json:"by_f"`        // client ops, per f
	Nemesis   map[string]*FStats `json:"nemesis"`     // nemesis ops, per f
	SpanSec   float64            `json:"span_sec"`    // first to last op time
	OpsPerSec float64            `json:"ops_per_sec"` // client invocations per second of span
}

// FStats counts one f's ops by type; Latency covers its ok ops.
type FStats struct {
	Invoke  int      `json:"invoke"`
	OK      int      `json:"ok"`
	Fail    int      `json:"fail"`
	Info    int      `json:"info"`
	Latency *Latency `json:"latency_ms,omitempty"`
}

// CountOp adds op to by[op.F]'s count of its type, making the entry when
// it is the first op of its f. False, and nothing counted, for a type
// other than the four.
func CountOp(by map[string]*FStats, op *history.Op) bool {
	switch op.Type {
	case history.Invoke, history.OK, history.Fail, history.Info:
	default:
		return false
	}
	s := by[op.F]
	if s == nil {
		s = &FStats{}
		by[op.F] = s
	}
	switch op.Type {
	case history.Invoke:
		s.Invoke++
	case history.OK:
		s.OK++
	case history.Fail:
		s.Fail++
	default:
		s.Info++
	}
	return true
}

// Latency holds quantiles of completion time − invocation time, in
// milliseconds, by the nearest-rank method.
type Latency struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (statsChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: "stats", Counts: map[string]int{"ops": len(h), "client-ops": 0, "nemesis-ops": 0,
		"invoke": 0, "ok": 0, "fail": 0, "info": 0}}
	d := &StatsDetails{ByF: map[string]*FStats{}, Nemesis: map[string]*FStats{}}
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	odd := 0 // ops of no known type
	for i := range h {
		if i&0xfff == 0 && ctx.Err() != nil {
			return interruptedResult(ctx, res)
		}
		op := &h[i]
		by := d.ByF
		if op.IsClient() {
			res.Counts["client-ops"]++
		} else {
			by = d.Nemesis
			res.Counts["nemesis-ops"]++
		}
		if !CountOp(by, op) {
			odd++
			continue
		}
		if op.IsClient() {
			res.Counts[string(op.Type)]++
		}
		minT, maxT = min(minT, op.Time), max(maxT, op.Time)
	}
	if odd > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d ops have a type other than invoke, ok, fail or info; not counted by type", odd))
	}
	if res.Counts["client-ops"] == 0 {
		res.Valid = Valid
		res.Notes = append(res.Notes, "no client ops: nothing to measure")
		res.Details = d
		return res
	}

	lat := map[string][]int64{} // f → ok latencies, ns
	negative := 0
	for _, p := range history.PairIndexes(h) {
		if p.Done < 0 || !h[p.Done].IsOK() {
			continue
		}
		inv := &h[p.Inv]
		dt := h[p.Done].Time - inv.Time
		if dt < 0 {
			negative++
			continue
		}
		lat[inv.F] = append(lat[inv.F], dt)
	}
	if negative > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d ok ops completed before they were invoked (time goes backwards); left out of latencies", negative))
	}
	for f, ls := range lat {
		d.ByF[f].Latency = quantiles(ls)
	}
	for _, f := range slices.Sorted(maps.Keys(d.ByF)) {
		if s := d.ByF[f]; s.Invoke > 0 && s.OK == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("f %s: %d invoked, none ok", f, s.Invoke))
		}
	}

	if maxT > minT {
		d.SpanSec = float64(maxT-minT) / 1e9
		d.OpsPerSec = float64(res.Counts["invoke"]) / d.SpanSec
	} else {
		res.Notes = append(res.Notes, "history spans no time: ops/s not computed")
	}
	res.Details = d
	res.Valid = Valid
	return res
}

// quantiles sorts ls (nanoseconds) and returns its quantiles in ms.
func quantiles(ls []int64) *Latency {
	slices.Sort(ls)
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(ls)))) - 1
		return float64(ls[max(i, 0)]) / 1e6
	}
	return &Latency{N: len(ls), P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: float64(ls[len(ls)-1]) / 1e6}
}
