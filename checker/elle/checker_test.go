package elle

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func readEDN(t *testing.T, text string) history.History {
	t.Helper()
	h, _, err := history.Read(strings.NewReader(text), "test.edn")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func check(t *testing.T, workload string, models []string, h history.History) checker.Result {
	t.Helper()
	c, err := NewChecker(Options{Workload: workload, Models: models})
	if err != nil {
		t.Fatal(err)
	}
	return c.Check(context.Background(), h)
}

func kinds(r checker.Result) []string { return r.AnomalyKinds() }

// writeSkew: both txns read x and y empty, each appends to one of them.
const writeSkew = `
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:append :x 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil] [:append :y 1]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:r :x []] [:r :y []] [:append :x 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :x []] [:r :y []] [:append :y 1]], :process 1, :index 3}
`

func TestSnapshotIsolationAllowsWriteSkewSerializabilityDoesNot(t *testing.T) {
	h := readEDN(t, writeSkew)
	si := check(t, "list-append", []string{"snapshot-isolation"}, h)
	if si.Valid != checker.Valid {
		t.Fatalf("snapshot-isolation: %v %v %v", si.Valid, si.Anomalies, si.Notes)
	}
	d := si.Details.(*Details)
	if d.Allowed["G2-item"] != 1 || !slices.Contains(d.Not, "repeatable-read") || slices.Contains(d.Not, "snapshot-isolation") {
		t.Fatalf("details: %+v", d)
	}
	ser := check(t, "list-append", []string{"serializable"}, h)
	if ser.Valid != checker.Invalid || !slices.Equal(kinds(ser), []string{"G2-item"}) {
		t.Fatalf("serializable: %v %v", ser.Valid, ser.Anomalies)
	}
	// The invalid result says outright that snapshot isolation still
	// stands (PostgreSQL's repeatable read, judged at the default model).
	want := []string{"snapshot-isolation", "cursor-stability", "read-committed", "read-uncommitted"}
	if d := ser.Details.(*Details); !slices.Equal(d.NotRuledOut, want) {
		t.Errorf("not ruled out: %v, want %v", d.NotRuledOut, want)
	}
	if !slices.ContainsFunc(ser.Notes, func(n string) bool {
		return strings.Contains(n, "not ruled out: snapshot-isolation, cursor-stability")
	}) {
		t.Errorf("no note names snapshot-isolation as not ruled out: %q", ser.Notes)
	}
}

func TestCycleExplanationShowsEveryStep(t *testing.T) {
	h := readEDN(t, `
{:type :invoke, :f :txn, :value [[:append :x 1] [:append :y 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:append :x 1] [:append :y 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :x []] [:r :y [1]]], :process 1, :index 3}
`)
	r := check(t, "list-append", nil, h)
	if r.Valid != checker.Invalid || !slices.Equal(kinds(r), []string{"G-single"}) {
		t.Fatalf("%v %v", r.Valid, r.Anomalies)
	}
	d := r.Details.(*Details)
	if len(d.Cycles) != 1 {
		t.Fatalf("cycles: %+v", d.Cycles)
	}
	c := d.Cycles[0]
	if len(c.Txns) != 2 || len(c.Steps) != 2 || c.Anomaly != 0 {
		t.Fatalf("cycle: %+v", c)
	}
	var ks []string
	for _, s := range c.Steps {
		ks = append(ks, s.Kind)
		if s.Key == "" || s.Value != "1" || strings.Contains(s.Text, "no proof") {
			t.Fatalf("step without its proof: %+v", s)
		}
	}
	slices.Sort(ks)
	if !slices.Equal(ks, []string{"rw", "wr"}) {
		t.Fatalf("step kinds %v", ks)
	}
	for _, want := range []string{"op 3 read key x = []", "op 3 read key y = [1]", "appended by op 2"} {
		if !strings.Contains(r.Anomalies[0].Detail, want) {
			t.Fatalf("detail lacks %q: %s", want, r.Anomalies[0].Detail)
		}
	}
}

func TestFailedTxnsNeverHappenedInfoTxnsMayHave(t *testing.T) {
	// The failed append of 9 is read by nobody; the info append of 2 shows
	// up in a read, so it happened; an unfinished txn is info too.
	h := readEDN(t, `
{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append :x 1]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:append :x 9]], :process 0, :index 2}
{:type :fail, :f :txn, :value [[:append :x 9]], :process 0, :index 3}
{:type :invoke, :f :txn, :value [[:append :x 2]], :process 1, :index 4}
{:type :info, :f :txn, :value [[:append :x 2]], :process 1, :index 5}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 2, :index 6}
{:type :ok, :f :txn, :value [[:r :x [1 2]]], :process 2, :index 7}
{:type :invoke, :f :txn, :value [[:append :x 3]], :process 3, :index 8}
`)
	r := check(t, "list-append", nil, h)
	if r.Valid != checker.Valid {
		t.Fatalf("%v %v %v", r.Valid, r.Anomalies, r.Notes)
	}
	if r.Counts["ok"] != 2 || r.Counts["fail"] != 1 || r.Counts["info"] != 2 {
		t.Fatalf("counts %v", r.Counts)
	}
	// The same read seeing the failed append is G1a.
	bad := readEDN(t, `
{:type :invoke, :f :txn, :value [[:append :x 9]], :process 0, :index 0}
{:type :fail, :f :txn, :value [[:append :x 9]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:r :x nil]], :process 2, :index 2}
{:type :ok, :f :txn, :value [[:r :x [9]]], :process 2, :index 3}
`)
	if r := check(t, "list-append", []string{"read-committed"}, bad); r.Valid != checker.Invalid || !slices.Contains(kinds(r), "G1a") {
		t.Fatalf("G1a: %v %v", r.Valid, r.Anomalies)
	}
}

func TestModelLattice(t *testing.T) {
	cases := []struct {
		models         []string
		forbids, allow []string
	}{
		{[]string{"read-uncommitted"}, []string{"G0", "duplicate-elements"}, []string{"G1a", "G1c", "G-single"}},
		{[]string{"read-committed"}, []string{"G0", "G1a", "G1b", "G1c", "dirty-update", "incompatible-order"}, []string{"G-single", "G2-item", "lost-update"}},
		{[]string{"repeatable-read"}, []string{"G1c", "G2-item", "G-single", "lost-update"}, []string{"G1c-realtime", "G0-process"}},
		{[]string{"snapshot-isolation"}, []string{"G-single", "G-nonadjacent", "lost-update", "internal", "future-read"}, []string{"G2-item", "G-single-realtime"}},
		{[]string{"serializable"}, []string{"G2-item", "G-single", "G1c", "internal"}, []string{"G-single-realtime", "G0-process"}},
		{[]string{"strong-session-serializable"}, []string{"G-single-process", "G0-process", "G2-item"}, []string{"G-single-realtime"}},
		{[]string{"strict-serializable"}, []string{"G-single-realtime", "G0-realtime", "G2-item-realtime", "G-single-process", "G2-item"}, nil},
		{[]string{"strong-snapshot-isolation"}, []string{"G-single-realtime", "G-nonadjacent-realtime"}, []string{"G2-item-realtime", "G2-item"}},
	}
	for _, c := range cases {
		f := Forbidden(c.models)
		for _, a := range c.forbids {
			if !f[a] {
				t.Errorf("%v should forbid %s", c.models, a)
			}
		}
		for _, a := range c.allow {
			if f[a] {
				t.Errorf("%v should allow %s", c.models, a)
			}
		}
	}
	not, also := RuledOut([]string{"G-single"})
	if !slices.Equal(not, []string{"consistent-view", "repeatable-read"}) || !slices.Contains(also, "strict-serializable") || slices.Contains(also, "read-committed") {
		t.Errorf("G-single rules out %v, also %v", not, also)
	}
	// What read committed shows (read skew, lost update) leaves only
	// read-committed and read-uncommitted of the headline models.
	for _, c := range []struct {
		found, possible []string
	}{
		{[]string{"G2-item"}, []string{"snapshot-isolation", "cursor-stability", "read-committed", "read-uncommitted"}},
		{[]string{"G-single"}, []string{"cursor-stability", "read-committed", "read-uncommitted"}},
		{[]string{"G-single", "lost-update"}, []string{"read-committed", "read-uncommitted"}},
		{[]string{"G-single-realtime"}, []string{"serializable", "snapshot-isolation", "repeatable-read", "cursor-stability", "read-committed", "read-uncommitted"}},
		{[]string{"G0"}, nil},
		{nil, headlineModels},
	} {
		if got := NotRuledOut(c.found); !slices.Equal(got, c.possible) {
			t.Errorf("%v leaves %v possible, want %v", c.found, got, c.possible)
		}
	}
	not, _ = RuledOut([]string{"G-single-realtime"})
	if !slices.Equal(not, []string{"strong-snapshot-isolation"}) {
		t.Errorf("G-single-realtime rules out %v", not)
	}
	if _, err := NewChecker(Options{Workload: "list-append", Models: []string{"serialisable"}}); err == nil {
		t.Error("an unknown model is accepted")
	}
	if _, err := NewChecker(Options{Workload: "list-append", Models: []string{"strong-serializable", "PL-3"}}); err != nil {
		t.Errorf("aliases: %v", err)
	}
}

func TestGeneratedStrictSerializableHistoriesAreValid(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		for _, w := range Workloads() {
			o := genOpts{txns: 3000, procs: 10, keys: 20, maxAppends: 8, failRate: 0.05, infoRate: 0.05, seed: seed,
				register: w == "rw-register"}
			h := genListAppend(o)
			for _, m := range []string{"strict-serializable", "serializable", "strong-session-serializable"} {
				if r := check(t, w, []string{m}, h); r.Valid != checker.Valid {
					t.Fatalf("%s seed %d %s: %v %v %v", w, seed, m, r.Valid, r.Anomalies, r.Notes)
				}
			}
		}
	}
}

// TestStaleReadInGeneratedHistoryIsCaught drops the last element of a read
// whose writer completed before the read began: a stale read, which
// strict serializability forbids and serializability alone need not.
func TestStaleReadInGeneratedHistoryIsCaught(t *testing.T) {
	o := genOpts{txns: 3000, procs: 10, keys: 20, maxAppends: 8, seed: 3}
	h := genListAppend(o)
	done := map[string]int{} // "k/v" → position of the ok completion that appended it
	for i, op := range h {
		if op.Type != history.OK {
			continue
		}
		for _, m := range op.Value.([]any) {
			mop := m.([]any)
			if mop[0] == "append" {
				done[string(mop[1].(json.Number))+"/"+string(mop[2].(json.Number))] = i
			}
		}
	}
	invokedAt := map[int64]int{}
	for i := range h {
		op := &h[i]
		if op.Type == history.Invoke {
			invokedAt[op.Process] = i
			continue
		}
		if op.Type != history.OK || i < len(h)/2 {
			continue
		}
		for j, m := range op.Value.([]any) {
			mop := m.([]any)
			l, _ := mop[2].([]any)
			if mop[0] != "r" || len(l) == 0 {
				continue
			}
			w, ok := done[string(mop[1].(json.Number))+"/"+string(l[len(l)-1].(json.Number))]
			if !ok || w >= invokedAt[op.Process] {
				continue
			}
			vals := slices.Clone(op.Value.([]any))
			vals[j] = []any{"r", mop[1], l[:len(l)-1]}
			op.Value = vals
			r := check(t, "list-append", nil, h)
			// The read may also close a data-only cycle: G-single implies
			// its realtime variant, which is then not searched for.
			if r.Valid != checker.Invalid || !slices.ContainsFunc(kinds(r), func(k string) bool {
				return k == "G-single-realtime" || implied(k, "G-single-realtime")
			}) {
				t.Fatalf("stale read at op %d: %v %v", op.Index, r.Valid, kinds(r))
			}
			return
		}
	}
	t.Fatal("no read to make stale")
}

func TestTimeoutIsUnknownNeverValid(t *testing.T) {
	h := genListAppend(genOpts{txns: 20000, procs: 10, keys: 50, maxAppends: 8, seed: 9})
	c, err := NewChecker(Options{Workload: "list-append", Timeout: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Check(context.Background(), h)
	if r.Valid != checker.Unknown || len(r.Notes) == 0 {
		t.Fatalf("timed-out check: %v %v", r.Valid, r.Notes)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if r := check(t, "list-append", nil, h); r.Valid != checker.Valid {
		t.Fatalf("the full check: %v", r.Valid)
	}
	c, _ = NewChecker(Options{Workload: "rw-register"})
	if r := c.Check(ctx, h); r.Valid == checker.Valid {
		t.Fatalf("cancelled check is valid")
	}
}

// TestCutOffCycleSearchLeavesKindUnfinished: a per-kind search whose time
// is up is reported unfinished, and the component still yields a cycle
// found without constraints, named by its edges.
func TestCutOffCycleSearchLeavesKindUnfinished(t *testing.T) {
	h := readEDN(t, writeSkew)
	a := newAnalysis(h)
	la := newListAppend(a)
	var e edges
	if err := la.analyze(context.Background(), &e); err != nil {
		t.Fatal(err)
	}
	g := build(int32(len(a.txns)), int32(len(a.txns)), nil, &e)
	s := newSearcher(context.Background(), g)
	comps := s.components()
	if len(comps) != 1 {
		t.Fatalf("components %v", comps)
	}
	s.pops = 0xfff // the next step checks the (already passed) deadline
	r := s.searchComponent(1, comps[0], -time.Second)
	if len(r.unfinished) == 0 {
		t.Fatalf("nothing unfinished: %+v", r)
	}
	if len(r.cycles) != 1 || r.cycles[0].name != "G2-item" {
		t.Fatalf("fallback cycle: %+v", r.cycles)
	}
}

// TestRealtimeTicksEncodeRealtimeOrder: through tick nodes, txn a reaches
// txn b exactly when a completed before b was invoked.
func TestRealtimeTicksEncodeRealtimeOrder(t *testing.T) {
	h := genListAppend(genOpts{txns: 300, procs: 6, keys: 5, maxAppends: 8, failRate: 0.1, infoRate: 0.1, seed: 4})
	a := newAnalysis(h)
	a.pair()
	var e edges
	ticks, tickAt := a.addRealtime(&e)
	n := int32(len(a.txns))
	g := build(n, n+ticks, tickAt, &e)
	for i := int32(0); i < n; i++ {
		reach := make([]bool, g.nodes)
		stack := []int32{i}
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for x := g.off[v]; x < g.off[v+1]; x++ {
				if w := g.to[x]; !reach[w] {
					reach[w] = true
					stack = append(stack, w)
				}
			}
		}
		for j := int32(0); j < n; j++ {
			ti, tj := a.txns[i], a.txns[j]
			want := ti.typ == txnOK && tj.typ != txnFail && ti.done < tj.inv
			if reach[j] != want {
				t.Fatalf("txn %d (%v, done %d) reaches txn %d (%v, invoked %d): %v, want %v", i, ti.typ, ti.done, j, tj.typ, tj.inv, reach[j], want)
			}
		}
	}
}

func TestClassifyNamesCyclesByTheirEdges(t *testing.T) {
	cases := []struct {
		steps []kind
		want  string
	}{
		{[]kind{ww, ww}, "G0"},
		{[]kind{ww, wr}, "G1c"},
		{[]kind{rw, wr}, "G-single"},
		{[]kind{rw, wr, rw, ww}, "G-nonadjacent"},
		{[]kind{rw, rw}, "G2-item"},
		{[]kind{wr, rw, ww, rw}, "G-nonadjacent"},
		{[]kind{rw, ww, rw}, "G2-item"}, // the last and first rw are adjacent
		{[]kind{ww, process}, "G0-process"},
		{[]kind{rw, realtime}, "G-single-realtime"},
		{[]kind{rw, process, realtime}, "G-single-realtime"},
	}
	for _, c := range cases {
		if got := classify(c.steps); got != c.want {
			t.Errorf("classify(%v) = %s, want %s", c.steps, got, c.want)
		}
	}
}

func TestMalformedAndAmbiguousHistoriesAreUnknown(t *testing.T) {
	cases := map[string]string{
		"not a list": `{:type :invoke, :f :txn, :value 3, :process 0, :index 0}
{:type :ok, :f :txn, :value 3, :process 0, :index 1}`,
		"read of a number": `{:type :invoke, :f :txn, :value [[:r :x nil]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:r :x 3]], :process 0, :index 1}`,
		"unknown micro-op": `{:type :invoke, :f :txn, :value [[:w :x 1]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:w :x 1]], :process 0, :index 1}`,
		"duplicate appends": `{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append :x 1]], :process 0, :index 1}
{:type :invoke, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :x [1]]], :process 0, :index 3}`,
		"no ok txn": `{:type :invoke, :f :txn, :value [[:append :x 1]], :process 0, :index 0}
{:type :fail, :f :txn, :value [[:append :x 1]], :process 0, :index 1}`,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			if r := check(t, "list-append", nil, readEDN(t, text)); r.Valid != checker.Unknown {
				t.Fatalf("%v %v %v", r.Valid, r.Anomalies, r.Notes)
			}
		})
	}
}

func TestRWRegisterInfersFromUniqueWrites(t *testing.T) {
	h := readEDN(t, `
{:type :invoke, :f :txn, :value [[:w :x 1] [:w :y 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:w :x 1] [:w :y 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :x nil] [:r :y 1]], :process 1, :index 3}
`)
	r := check(t, "rw-register", []string{"serializable"}, h)
	if r.Valid != checker.Invalid || !slices.Equal(kinds(r), []string{"G-single"}) {
		t.Fatalf("%v %v", r.Valid, r.Anomalies)
	}
	if r := check(t, "rw-register", []string{"read-committed"}, h); r.Valid != checker.Valid {
		t.Fatalf("read committed allows read skew: %v %v", r.Valid, r.Anomalies)
	}
}

func TestSimplifyCutsRepeatedTransactions(t *testing.T) {
	// 1 -rw-> 2 -wr-> 3 -rw-> 2 -wr-> 1: the loop 2 → 3 → 2 is cut, leaving
	// 1 -rw-> 2 -wr-> 1, a G-single.
	c := simplify(&cycle{name: "G2-item", txns: []int32{1, 2, 3, 2}, steps: []kind{rw, wr, rw, wr}})
	if c.name != "G-single" || !slices.Equal(c.txns, []int32{1, 2}) || !slices.Equal(c.steps, []kind{rw, wr}) {
		t.Fatalf("%+v", c)
	}
	c = simplify(&cycle{name: "G0", txns: []int32{1, 2}, steps: []kind{ww, ww}})
	if c.name != "G0" || len(c.txns) != 2 {
		t.Fatalf("a simple cycle changed: %+v", c)
	}
}

func TestElementIndexDenseAndSparse(t *testing.T) {
	la := newListAppend(newAnalysis(nil))
	vals := []val{1, 2, 3, 1000000, -5, 1 << 40, nilVal + 7, 70, 4}
	ids := map[val]int32{}
	for _, v := range vals {
		ids[v] = la.elem(3, v)
	}
	for _, v := range vals {
		if got := la.elem(3, v); got != ids[v] {
			t.Errorf("elem(3, %d) = %d, then %d", v, ids[v], got)
		}
		if e := la.find(3, v); e == nil || e.v != v {
			t.Errorf("find(3, %d) = %+v", v, e)
		}
		if e := la.find(4, v); e != nil {
			t.Errorf("find(4, %d) found %+v on another key", v, e)
		}
	}
	if len(la.elems) != len(vals) || len(la.dense[3]) > 4*len(vals)+64 {
		t.Errorf("%d elements, dense slice of %d", len(la.elems), len(la.dense[3]))
	}
}

func TestNoDependenciesIsUnknown(t *testing.T) {
	// One txn alone: Elle's empty-transaction-graph, nothing to judge.
	h := readEDN(t, `
{:type :invoke, :f :txn, :value [[:append :x 1] [:r :x nil]], :process 0, :index 0}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :x [1]]], :process 0, :index 1}
`)
	for _, m := range []string{"strict-serializable", "serializable"} {
		if r := check(t, "list-append", []string{m}, h); r.Valid != checker.Unknown {
			t.Fatalf("%s: %v %v", m, r.Valid, r.Notes)
		}
	}
}

func TestTxnsNamedReadAndWriteAreJudged(t *testing.T) {
	// braft's Jepsen test (github.com/Deabus/braft_bug) names its rw-register
	// transactions read and write; Elle judges every client op whose value
	// is micro-ops. A write completes, then a read begun later misses it:
	// G-single-realtime. The register read of process 2 is not a txn.
	h := readEDN(t, `
{:type :invoke, :f :write, :value [[:w 9 1]], :process 0, :time 1, :index 0}
{:type :ok, :f :write, :value [[:w 9 1]], :process 0, :time 2, :index 1}
{:type :invoke, :f :read, :value [[:r 9 nil]], :process 1, :time 3, :index 2}
{:type :ok, :f :read, :value [[:r 9 nil]], :process 1, :time 4, :index 3}
{:type :invoke, :f :read, :value nil, :process 2, :time 5, :index 4}
{:type :ok, :f :read, :value 3, :process 2, :time 6, :index 5}
`)
	r := check(t, "rw-register", nil, h)
	if r.Valid != checker.Invalid || !slices.Equal(kinds(r), []string{"G-single-realtime"}) {
		t.Fatalf("%v %v %v", r.Valid, r.Anomalies, r.Notes)
	}
	if r.Counts["ignored"] != 1 {
		t.Errorf("the register read should be ignored: counts %v", r.Counts)
	}
}

func TestCompletionOnlyTxnsHaveNoRealtimeOrderInto(t *testing.T) {
	// Elle's realtime graph orders a txn after the txns that completed
	// before its invocation; a txn written without invocation is ordered
	// after none. So reading x empty after an append of 1 to x, both
	// without invocation, is legal under strict serializability ...
	completions := readEDN(t, `
{:type :ok, :value [[:append :x 1]]}
{:type :ok, :value [[:r :x nil]]}
{:type :ok, :value [[:r :x [1]]]}
`)
	if r := check(t, "list-append", nil, completions); r.Valid != checker.Valid {
		t.Fatalf("completions only: %v %v %v", r.Valid, r.Anomalies, r.Notes)
	}
	// ... but with the invocations written, the read begins after the
	// append completed: a stale read.
	invoked := readEDN(t, `
{:type :invoke, :process 0, :value [[:append :x 1]]}
{:type :ok, :process 0, :value [[:append :x 1]]}
{:type :invoke, :process 1, :value [[:r :x nil]]}
{:type :ok, :process 1, :value [[:r :x nil]]}
{:type :invoke, :process 2, :value [[:r :x nil]]}
{:type :ok, :process 2, :value [[:r :x [1]]]}
`)
	if r := check(t, "list-append", nil, invoked); r.Valid != checker.Invalid || !slices.Equal(kinds(r), []string{"G-single-realtime"}) {
		t.Fatalf("with invocations: %v %v", r.Valid, r.Anomalies)
	}
}
