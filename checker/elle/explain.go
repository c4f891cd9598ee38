package elle

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
)

// explain.go turns a found cycle into what a person checks by hand: the
// transactions in order, and for each step the dependency and the key and
// value that prove it. The proof is found again for the few edges of
// reported cycles rather than stored for every edge of the graph.

// Cycle is one cycle anomaly as results.json and report.html hold it.
type Cycle struct {
	Anomaly int        `json:"anomaly"` // index of its entry in Result.Anomalies
	Kind    string     `json:"kind"`
	Txns    []CycleTxn `json:"txns"`
	// Steps[i] leads from Txns[i] to Txns[i+1], the last back to Txns[0].
	Steps []Step `json:"steps"`
}

// CycleTxn is one transaction of a cycle.
type CycleTxn struct {
	Op      int64  `json:"op"` // index of its completion (its invocation if it never completed)
	Invoke  int64  `json:"invoke"`
	Process int64  `json:"process"`
	Type    string `json:"type"`
	Value   string `json:"value"` // its micro-ops as JSON
}

// Step is one dependency of a cycle.
type Step struct {
	Kind  string `json:"kind"` // ww, wr, rw, process or realtime
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Text  string `json:"text"`
}

// edgeExplainer finds the proof of a data dependency a → b.
type edgeExplainer interface {
	explain(a, b int32, k kind) Step
}

// explainCycle builds the anomaly and its structured cycle.
func (a *analysis) explainCycle(c cycle, ex edgeExplainer) (checker.Anomaly, Cycle) {
	out := Cycle{Kind: c.name}
	ops := make([]int64, len(c.txns))
	var parts []string
	for i, t := range c.txns {
		ops[i] = a.opIndex(t)
		x := &a.txns[t]
		v, _ := jsonText(a.txnValue(x))
		out.Txns = append(out.Txns, CycleTxn{Op: ops[i], Invoke: a.h[x.inv].Index, Process: a.h[x.inv].Process,
			Type: x.typ.String(), Value: v})
	}
	for i, t := range c.txns {
		next := c.txns[(i+1)%len(c.txns)]
		var st Step
		switch c.steps[i] {
		case process:
			st = Step{Text: fmt.Sprintf("op %d and then op %d ran on process %d", a.opIndex(t), a.opIndex(next), a.h[a.txns[t].inv].Process)}
		case realtime:
			st = Step{Text: fmt.Sprintf("op %d completed before op %d was invoked (op %d)", a.opIndex(t), a.opIndex(next), a.h[a.txns[next].inv].Index)}
		default:
			st = ex.explain(t, next, c.steps[i])
		}
		st.Kind = c.steps[i].String()
		out.Steps = append(out.Steps, st)
		parts = append(parts, fmt.Sprintf("op %d -%s-> op %d: %s", a.opIndex(t), st.Kind, a.opIndex(next), st.Text))
	}
	an := checker.Anomaly{Kind: c.name, Ops: ops,
		Detail: fmt.Sprintf("%s cycle of %d txns: %s", c.name, len(c.txns), strings.Join(parts, "; "))}
	if len(out.Steps) > 0 {
		an.Key = out.Steps[0].Key
	}
	return an, out
}

func (la *listAppend) explain(a, b int32, k kind) Step {
	ta, tb := &la.txns[a], &la.txns[b]
	switch k {
	case wr:
		for m := tb.m0; m < tb.m1; m++ {
			md := &la.mops[m]
			if md.kind != mopRead || md.n <= 0 {
				continue
			}
			if md.el >= 0 && la.elems[md.el].writer == a {
				return Step{Key: la.keyText(md.key), Value: la.vals.text(md.v), Text: fmt.Sprintf(
					"op %d read key %s = %s, which ends in %s, appended by op %d",
					la.opIndex(b), la.keyText(md.key), la.vals.listText(la.readList(b, m)), la.vals.text(md.v), la.opIndex(a))}
			}
		}
	case ww:
		for m := tb.m0; m < tb.m1; m++ {
			md := &la.mops[m]
			if md.kind != mopAppend {
				continue
			}
			p := la.prevVersion(md)
			if la.vwriter[p] != a {
				continue
			}
			prev := la.elems[la.order[md.key][p-la.base[md.key]-1]].v
			return Step{Key: la.keyText(md.key), Value: la.vals.text(md.v), Text: fmt.Sprintf(
				"op %d appended %s to key %s right after op %d appended %s",
				la.opIndex(b), la.vals.text(md.v), la.keyText(md.key), la.opIndex(a), la.vals.text(prev))}
		}
	case rw:
		for m := tb.m0; m < tb.m1; m++ {
			md := &la.mops[m]
			if md.kind != mopAppend {
				continue
			}
			p := la.prevVersion(md)
			for r := ta.m0; r < ta.m1; r++ {
				rd := &la.mops[r]
				if rd.kind != mopRead || rd.key != md.key || la.readVersion(rd) != p {
					continue
				}
				return Step{Key: la.keyText(md.key), Value: la.vals.text(md.v), Text: fmt.Sprintf(
					"op %d read key %s = %s, which did not yet hold %s, appended next by op %d",
					la.opIndex(a), la.keyText(md.key), la.vals.listText(la.readList(a, r)), la.vals.text(md.v), la.opIndex(b))}
			}
		}
	}
	return Step{Text: "(no proof found)"}
}

func (r *rwRegister) explain(a, b int32, k kind) Step {
	ta, tb := &r.txns[a], &r.txns[b]
	switch k {
	case wr:
		for m := tb.m0; m < tb.m1; m++ {
			md := r.mops[m]
			if md.kind != mopRead || md.v == nilVal || !r.extRead(tb, m) {
				continue
			}
			if w := r.writes[kv{md.key, md.v}]; w != nil && w.writer == a {
				return Step{Key: r.keyText(md.key), Value: r.vals.text(md.v), Text: fmt.Sprintf(
					"op %d read key %s = %s, written by op %d", r.opIndex(b), r.keyText(md.key), r.vals.text(md.v), r.opIndex(a))}
			}
		}
	case rw:
		for m := ta.m0; m < ta.m1; m++ {
			md := r.mops[m]
			if md.kind != mopRead || md.v != nilVal || md.n < 0 || !r.extRead(ta, m) {
				continue
			}
			for n := tb.m0; n < tb.m1; n++ {
				if wd := r.mops[n]; wd.kind == mopWrite && wd.key == md.key {
					return Step{Key: r.keyText(md.key), Value: r.vals.text(wd.v), Text: fmt.Sprintf(
						"op %d read key %s = nil, the initial state, which op %d's write of %s replaced",
						r.opIndex(a), r.keyText(md.key), r.opIndex(b), r.vals.text(wd.v))}
				}
			}
		}
	}
	return Step{Text: "(no proof found)"}
}

// jsonText renders v as compact JSON.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
