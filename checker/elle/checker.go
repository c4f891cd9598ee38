package elle

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// Options configures the checker.
type Options struct {
	// Workload is "list-append" or "rw-register".
	Workload string
	// Models are the consistency models the history must satisfy; empty
	// means strict-serializable, as in Elle. See Models for the names.
	Models []string
	// Timeout bounds the whole check; 0 means none. What it cuts off is
	// unknown, never valid.
	Timeout time.Duration
	// CycleSearchTimeout bounds the search for one anomaly kind in one
	// strongly connected component (Elle's cycle-search-timeout); 0 means
	// DefaultCycleSearchTimeout. A search cut off leaves that kind unknown.
	CycleSearchTimeout time.Duration
}

// DefaultCycleSearchTimeout is Elle's default.
const DefaultCycleSearchTimeout = time.Second

// Workloads lists the workloads NewChecker accepts.
func Workloads() []string { return []string{"list-append", "rw-register"} }

// NewChecker returns the transactional checker for one workload.
func NewChecker(o Options) (checker.Checker, error) {
	switch o.Workload {
	case "list-append", "rw-register":
	default:
		return nil, fmt.Errorf("elle: unknown workload %q (want list-append or rw-register)", o.Workload)
	}
	if len(o.Models) == 0 {
		o.Models = []string{"strict-serializable"}
	}
	models := make([]string, 0, len(o.Models))
	for _, m := range o.Models {
		c, err := canonicalModel(strings.TrimSpace(m))
		if err != nil {
			return nil, fmt.Errorf("elle: %w", err)
		}
		models = append(models, c)
	}
	o.Models = models
	if o.CycleSearchTimeout <= 0 {
		o.CycleSearchTimeout = DefaultCycleSearchTimeout
	}
	return &elleChecker{opts: o}, nil
}

type elleChecker struct{ opts Options }

func (c *elleChecker) Name() string { return c.opts.Workload }

// Details is the structured part of the result (Result.Details).
type Details struct {
	Workload string   `json:"workload"`
	Models   []string `json:"consistency_models"`
	// Not are the weakest models the anomalies found rule out; AlsoNot the
	// stronger ones they rule out too (Elle's :not and :also-not).
	Not     []string `json:"not,omitempty"`
	AlsoNot []string `json:"also_not,omitempty"`
	// NotRuledOut are the headline models the anomalies found leave
	// possible, strongest first, once some model is ruled out.
	NotRuledOut []string `json:"not_ruled_out,omitempty"`
	// Allowed counts anomalies found that the requested models allow;
	// they are not in Result.Anomalies.
	Allowed map[string]int `json:"allowed,omitempty"`
	// Unfinished lists the anomaly kinds whose search was cut off.
	Unfinished []string `json:"unfinished,omitempty"`
	Cycles     []Cycle  `json:"cycles,omitempty"`
}

// workload is what list-append and rw-register each provide.
type workload interface {
	analyze(ctx context.Context, e *edges) error
	edgeExplainer
}

func (c *elleChecker) Check(ctx context.Context, h history.History) checker.Result {
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	forbidden := Forbidden(c.opts.Models)
	a := newAnalysis(h)
	var w workload
	if c.opts.Workload == "list-append" {
		w = newListAppend(a)
	} else {
		w = newRWRegister(a)
	}
	det := &Details{Workload: c.opts.Workload, Models: c.opts.Models}
	res := checker.Result{Checker: c.Name(), Counts: a.counts, Details: det}

	var e edges
	// About five data edges per txn (two ops): sized up front, the edge
	// list is not copied as it grows. Realtime edges have their own list
	// (searchCycles).
	if n := 5 * len(h) / 2; n > 0 {
		e.from = make([]int32, 0, n)
		e.pack = make([]uint64, 0, n)
	}
	err := w.analyze(ctx, &e)
	if err == nil && (a.counts["duplicate-appends"] > 0 || a.counts["duplicate-writes"] > 0) {
		a.notes = append(a.notes, "dependencies were not inferred: the verdict is unknown")
		return c.finish(res, a, det, forbidden, true)
	}
	var cycles []cycle
	unfinished := map[string]bool{}
	if err == nil {
		cycles, err = c.searchCycles(ctx, a, &e, forbidden, unfinished)
	}
	stopped := err != nil
	if stopped {
		a.notes = append(a.notes, fmt.Sprintf("the check stopped before it finished: %v", context.Cause(ctx)))
	}
	for _, cy := range cycles {
		an, cyc := a.explainCycle(cy, w)
		a.counts[cy.name]++
		cyc.Anomaly = len(a.anomalies)
		a.anomalies = append(a.anomalies, an)
		det.Cycles = append(det.Cycles, cyc)
	}
	for k := range unfinished {
		det.Unfinished = append(det.Unfinished, k)
	}
	sort.Strings(det.Unfinished)
	incomplete := stopped
	for _, k := range det.Unfinished {
		if forbidden[k] {
			incomplete = true
			a.notes = append(a.notes, fmt.Sprintf("the search for %s was cut off (cycle search timeout): it is unknown whether the history holds one", k))
		}
	}
	return c.finish(res, a, det, forbidden, incomplete)
}

// searchCycles builds the graph (with process or realtime edges when a
// forbidden anomaly needs them) and searches each nontrivial component.
func (c *elleChecker) searchCycles(ctx context.Context, a *analysis, e *edges, forbidden map[string]bool, unfinished map[string]bool) ([]cycle, error) {
	needRT, needProc := false, false
	for k := range forbidden {
		needRT = needRT || strings.HasSuffix(k, "-realtime")
		needProc = needProc || strings.HasSuffix(k, "-process")
	}
	n := int32(len(a.txns))
	nodes := n
	var tickAt []int32
	var order edges // sized exactly: at most three realtime edges per txn
	switch {
	case needRT:
		// Realtime subsumes process order: a process runs one txn at a time.
		order.from, order.pack = make([]int32, 0, 3*n), make([]uint64, 0, 3*n)
		var ticks int32
		ticks, tickAt = a.addRealtime(&order)
		nodes += ticks
	case needProc:
		order.from, order.pack = make([]int32, 0, n), make([]uint64, 0, n)
		a.addProcess(&order)
	}
	g := build(n, nodes, tickAt, e, &order)
	a.counts["edges"] = len(g.to)
	// Elle's empty-transaction-graph: no transaction depends on another
	// (every edge into a transaction is a dependency; edges into ticks
	// are not), so there is nothing to judge.
	if !slices.ContainsFunc(g.to, func(v int32) bool { return v < n }) {
		a.notes = append(a.notes, "no transaction depends on another (Elle's empty-transaction-graph): the history shows nothing to judge")
		a.unjudged = true
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	s := newSearcher(ctx, g)
	comps := s.components()
	a.counts["sccs"] = len(comps)
	var out []cycle
	for i, comp := range comps {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		r := s.searchComponent(int32(i+1), comp, c.opts.CycleSearchTimeout)
		out = append(out, r.cycles...)
		for _, k := range r.unfinished {
			unfinished[k] = true
		}
	}
	return out, ctx.Err()
}

// finish keeps the anomalies the models forbid, notes the others, rules
// out models and decides the verdict.
func (c *elleChecker) finish(res checker.Result, a *analysis, det *Details, forbidden map[string]bool, incomplete bool) checker.Result {
	var kinds []string
	seen := map[string]bool{}
	var kept []checker.Anomaly
	remap := map[int]int{}
	for i, an := range a.anomalies {
		if an.Kind != "malformed" && !seen[an.Kind] {
			seen[an.Kind] = true
			kinds = append(kinds, an.Kind)
		}
		if an.Kind == "malformed" || forbidden[an.Kind] {
			remap[i] = len(kept)
			kept = append(kept, an)
			continue
		}
		if det.Allowed == nil {
			det.Allowed = map[string]int{}
		}
		det.Allowed[an.Kind]++
	}
	cycles := det.Cycles[:0]
	for _, cy := range det.Cycles {
		if j, ok := remap[cy.Anomaly]; ok {
			cy.Anomaly = j
			cycles = append(cycles, cy)
		}
	}
	det.Cycles = cycles
	res.Anomalies = kept
	det.Not, det.AlsoNot = RuledOut(kinds)
	res.Notes = append(res.Notes, a.notes...)
	if len(det.Allowed) > 0 {
		var parts []string
		for _, k := range sortedKeys(det.Allowed) {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, det.Allowed[k]))
		}
		res.Notes = append(res.Notes, fmt.Sprintf("found, but allowed by %s: %s", strings.Join(det.Models, ", "), strings.Join(parts, ", ")))
	}
	if len(det.Not) > 0 {
		det.NotRuledOut = NotRuledOut(kinds)
		res.Notes = append(res.Notes, "not ruled out: "+orNothing(det.NotRuledOut),
			fmt.Sprintf("the history is not %s (nor %s)", strings.Join(det.Not, ", "), orNone(det.AlsoNot)))
	}
	invalid := false
	for _, an := range kept {
		if an.Kind != "malformed" {
			invalid = true
		}
	}
	switch {
	case invalid:
		res.Valid = checker.Invalid
	case incomplete || a.unjudged:
		res.Valid = checker.Unknown
	case a.counts["ok"] == 0:
		res.Valid = checker.Unknown
		res.Notes = append(res.Notes, "no txn completed ok: nothing to judge")
	default:
		res.Valid = checker.Valid
	}
	return res
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "anything stronger"
	}
	return strings.Join(xs, ", ")
}

func orNothing(xs []string) string {
	if len(xs) == 0 {
		return "none of " + strings.Join(headlineModels, ", ")
	}
	return strings.Join(xs, ", ")
}
