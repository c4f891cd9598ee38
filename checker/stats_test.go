package checker

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

func TestStatsCheckerCountsPerFAndType(t *testing.T) {
	b := &histBuilder{}
	b.call(0, "write", num(1), history.OK, nil) // 1 ms
	b.invoke(1, "read", nil)
	b.invoke(2, "write", num(2))
	b.complete(1, history.OK, num(1)) // 2 ms
	b.complete(2, history.Info, nil)
	b.call(3, "read", nil, history.Fail, nil)
	b.append(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: "kill", Value: "n1"})
	b.append(history.Op{Type: history.Info, Process: history.NemesisProcess, F: "kill", Value: "n1"})
	b.invoke(4, "read", nil) // unfinished

	r := NewStats().Check(context.Background(), b.h)
	if r.Valid != Valid {
		t.Fatalf("stats on a history with client ops: %v, notes %q", r.Valid, r.Notes)
	}
	d, ok := r.Details.(*StatsDetails)
	if !ok {
		t.Fatalf("details are %T, want *StatsDetails", r.Details)
	}
	want := map[string]FStats{
		"write": {Invoke: 2, OK: 1, Info: 1},
		"read":  {Invoke: 3, OK: 1, Fail: 1},
	}
	for f, w := range want {
		g := d.ByF[f]
		if g == nil || g.Invoke != w.Invoke || g.OK != w.OK || g.Fail != w.Fail || g.Info != w.Info {
			t.Errorf("f %s: got %+v, want %+v", f, g, w)
		}
	}
	if k := d.Nemesis["kill"]; k == nil || k.Invoke != 1 || k.Info != 1 {
		t.Errorf("nemesis kill: got %+v, want 1 invoke, 1 info", k)
	}
	if l := d.ByF["write"].Latency; l == nil || l.N != 1 || l.Max != 1 {
		t.Errorf("write latency %+v, want one ok op of 1 ms", l)
	}
	if l := d.ByF["read"].Latency; l == nil || l.P50 != 2 {
		t.Errorf("read latency %+v, want p50 2 ms", l)
	}
	// 5 client invocations over the 10 ms between the first and last op.
	if d.SpanSec != 0.010 || d.OpsPerSec != 500 {
		t.Errorf("span %v s, %v ops/s; want 0.010 s, 500 ops/s", d.SpanSec, d.OpsPerSec)
	}
	if r.Counts["client-ops"] != 9 || r.Counts["nemesis-ops"] != 2 {
		t.Errorf("counts %v, want 9 client ops, 2 nemesis ops", r.Counts)
	}
}

func TestStatsCheckerLatencyQuantilesUseNearestRank(t *testing.T) {
	ls := make([]int64, 0, 100)
	for i := int64(100); i >= 1; i-- {
		ls = append(ls, i*1e6)
	}
	got := quantiles(ls)
	want := Latency{N: 100, P50: 50, P90: 90, P99: 99, Max: 100}
	if *got != want {
		t.Errorf("quantiles of 1..100 ms: %+v, want %+v", *got, want)
	}
}

// TestQuantilesMatchTheSortedRanks: selection gives the ranks a full
// sort gives, on shapes that defeat naive pivots.
func TestQuantilesMatchTheSortedRanks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := map[string]func(i, n int) int64{
		"random":     func(int, int) int64 { return rng.Int64N(1e9) },
		"ascending":  func(i, _ int) int64 { return int64(i) },
		"descending": func(i, n int) int64 { return int64(n - i) },
		"all equal":  func(int, int) int64 { return 7 },
		"few values": func(int, int) int64 { return rng.Int64N(3) },
		"organ pipe": func(i, n int) int64 { return int64(min(i, n-i)) },
	}
	for name, shape := range shapes {
		for _, n := range []int{1, 2, 3, 17, 100, 1001, 50_000} {
			ls := make([]int64, n)
			for i := range ls {
				ls[i] = shape(i, n)
			}
			sorted := slices.Sorted(slices.Values(ls))
			rank := func(q float64) float64 {
				return float64(sorted[max(int(math.Ceil(q*float64(n)))-1, 0)]) / 1e6
			}
			want := Latency{N: n, P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: float64(sorted[n-1]) / 1e6}
			if got := quantiles(ls); *got != want {
				t.Errorf("%s, %d latencies: %+v, want %+v", name, n, *got, want)
			}
		}
	}
}

// TestStatsCheckerIsValidWithoutClientOps: Jepsen's rule (every f that
// appears has an ok, vacuously); stats informs and must not make a
// nemesis-only history unknown when the correctness checkers pass it.
func TestStatsCheckerIsValidWithoutClientOps(t *testing.T) {
	cases := map[string]history.History{
		"empty history": nil,
		"nemesis only": {
			{Index: 0, Type: history.Invoke, Process: history.NemesisProcess, F: "kill"},
			{Index: 1, Type: history.Info, Process: history.NemesisProcess, F: "kill"},
		},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			if r := NewStats().Check(context.Background(), h); r.Valid != Valid || !strings.Contains(strings.Join(r.Notes, "\n"), "no client ops") {
				t.Errorf("stats on %v: %v, notes %q; want valid with a note saying there are no client ops", h, r.Valid, r.Notes)
			}
		})
	}
}

func TestStatsCheckerSurvivesTimeGoingBackwards(t *testing.T) {
	h := history.History{
		{Index: 0, Time: 50, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 1, Time: 10, Type: history.OK, Process: 0, F: "read"},
	}
	r := NewStats().Check(context.Background(), h)
	if r.Valid != Valid || len(r.Notes) == 0 {
		t.Errorf("negative latency: %v, notes %q; want valid with a note", r.Valid, r.Notes)
	}
}

func TestStatsCheckerNotesOpsOfUnknownType(t *testing.T) {
	h := history.History{
		{Index: 0, Time: 0, Type: history.Invoke, Process: 0, F: "read"},
		{Index: 1, Time: 5, Type: "client-ops", Process: 0, F: "read"},
		{Index: 2, Time: 9, Type: history.OK, Process: 0, F: "read"},
	}
	r := NewStats().Check(context.Background(), h)
	if r.Valid != Valid || len(r.Notes) == 0 || r.Counts["client-ops"] != 3 || r.Counts["invoke"] != 1 || r.Counts["ok"] != 1 {
		t.Errorf("an op of type %q: %v, counts %v, notes %q; want valid, 3 client ops, 1 invoke, 1 ok, a note", h[1].Type, r.Valid, r.Counts, r.Notes)
	}
}
