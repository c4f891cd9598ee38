package checker

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/bits"
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
	acc := newStatsAcc()
	for i := range h {
		if i&0xfff == 0 && ctx.Err() != nil {
			res := acc.counted()
			res.Counts["ops"] = len(h)
			return interruptedResult(ctx, res)
		}
		acc.observe(&h[i])
	}
	return acc.result()
}

// statsAcc is the stats checker's tally, op by op in history order: Check
// feeds it a history held whole, statsStreamer one being read.
type statsAcc struct {
	d          *StatsDetails
	ops        int
	client     int
	byType     [4]int // client ops: invoke, ok, fail, info
	minT, maxT int64
	odd        int // ops of no known type
	// open pairs each client process's invocation with its completion, as
	// history.PairIndexes does: the next op of the same process.
	open     history.Processes[statsInvoke]
	lat      map[string][]int64 // f → ok latencies, ns
	negative int                // ok ops completed before they were invoked
}

var statsTypes = [4]history.Type{history.Invoke, history.OK, history.Fail, history.Info}

type statsInvoke struct {
	open bool
	f    string
	time int64
}

func newStatsAcc() *statsAcc {
	return &statsAcc{
		d:    &StatsDetails{ByF: map[string]*FStats{}, Nemesis: map[string]*FStats{}},
		minT: math.MaxInt64, maxT: math.MinInt64,
		lat: map[string][]int64{},
	}
}

// counted is the result's counts so far.
func (a *statsAcc) counted() Result {
	res := Result{Checker: "stats", Counts: map[string]int{"ops": a.ops, "client-ops": a.client, "nemesis-ops": a.ops - a.client,
		"invoke": 0, "ok": 0, "fail": 0, "info": 0}}
	for i, t := range statsTypes {
		res.Counts[string(t)] = a.byType[i]
	}
	return res
}

func (a *statsAcc) observe(op *history.Op) {
	a.ops++
	by := a.d.ByF
	if op.IsClient() {
		a.client++
		a.pair(op)
	} else {
		by = a.d.Nemesis
	}
	if !CountOp(by, op) {
		a.odd++
		return
	}
	if op.IsClient() {
		a.byType[slices.Index(statsTypes[:], op.Type)]++
	}
	a.minT, a.maxT = min(a.minT, op.Time), max(a.maxT, op.Time)
}

// pair records an ok op's latency when op completes an invocation.
func (a *statsAcc) pair(op *history.Op) {
	p := a.open.At(op.Process)
	if op.Type == history.Invoke {
		*p = statsInvoke{open: true, f: op.F, time: op.Time}
		return
	}
	if !p.open {
		return
	}
	inv := *p
	*p = statsInvoke{}
	if !op.IsOK() {
		return
	}
	if dt := op.Time - inv.time; dt >= 0 {
		a.lat[inv.f] = append(a.lat[inv.f], dt)
	} else {
		a.negative++
	}
}

func (a *statsAcc) result() Result {
	res, d := a.counted(), a.d
	if a.odd > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d ops have a type other than invoke, ok, fail or info; not counted by type", a.odd))
	}
	if res.Counts["client-ops"] == 0 {
		res.Valid = Valid
		res.Notes = append(res.Notes, "no client ops: nothing to measure")
		res.Details = d
		return res
	}
	if a.negative > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%d ok ops completed before they were invoked (time goes backwards); left out of latencies", a.negative))
	}
	for f, ls := range a.lat {
		d.ByF[f].Latency = quantiles(ls)
	}
	for _, f := range slices.Sorted(maps.Keys(d.ByF)) {
		if s := d.ByF[f]; s.Invoke > 0 && s.OK == 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("f %s: %d invoked, none ok", f, s.Invoke))
		}
	}
	if a.maxT > a.minT {
		d.SpanSec = float64(a.maxT-a.minT) / 1e9
		d.OpsPerSec = float64(res.Counts["invoke"]) / d.SpanSec
	} else {
		res.Notes = append(res.Notes, "history spans no time: ops/s not computed")
	}
	res.Details = d
	res.Valid = Valid
	return res
}

// quantiles returns the quantiles of ls (nanoseconds) in ms. It reorders
// ls: each rank is found by selection, not by sorting all of it, which on
// a million latencies was a tenth of a streamed analysis (pprof).
func quantiles(ls []int64) *Latency {
	rank := func(q float64) int { return max(int(math.Ceil(q*float64(len(ls))))-1, 0) }
	r50, r90, r99 := rank(0.5), rank(0.9), rank(0.99)
	// Each selection leaves the smaller ranks on its left, so the next one
	// looks there only, and leaves the one found in place.
	selectNth(ls, r99)
	if r90 < r99 {
		selectNth(ls[:r99], r90)
	}
	if r50 < r90 {
		selectNth(ls[:r90], r50)
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return &Latency{N: len(ls), P50: ms(ls[r50]), P90: ms(ls[r90]), P99: ms(ls[r99]), Max: ms(slices.Max(ls[r99:]))}
}

// selectNth reorders a so that a[k] is the value a sorted a would hold
// there, with nothing greater before it and nothing smaller after
// (quickselect, three-way partitions for repeated values; a run of bad
// pivots falls back to sorting the rest).
func selectNth(a []int64, k int) {
	lo, hi := 0, len(a)
	for tries := 2*bits.Len(uint(len(a))) + 8; hi-lo > 16; tries-- {
		if tries == 0 {
			break
		}
		x, y, z := a[lo], a[lo+(hi-lo)/2], a[hi-1]
		p := max(min(x, y), min(max(x, y), z)) // the median of the three
		lt, i, gt := lo, lo, hi                // a[lo:lt] < p, a[lt:i] == p, a[gt:hi] > p
		for i < gt {
			switch {
			case a[i] < p:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case a[i] > p:
				gt--
				a[i], a[gt] = a[gt], a[i]
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt
		case k >= gt:
			lo = gt
		default:
			return
		}
	}
	slices.Sort(a[lo:hi])
}
