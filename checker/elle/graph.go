package elle

import (
	"slices"
)

// graph.go holds the transaction dependency graph in compressed sparse
// row form, its construction from an edge list, the process and realtime
// orders, and Tarjan's strongly connected components.

// kind is a set of dependency kinds; an edge between two transactions may
// have several (T1 both wrote and was read by T2).
type kind uint8

const (
	ww       kind = 1 << iota // write-write: T2 overwrote (appended after) T1's write
	wr                        // write-read: T2 read T1's write
	rw                        // read-write, an anti-dependency: T2 overwrote what T1 read
	process                   // T1 and T2 are consecutive txns of one process
	realtime                  // T1 completed before T2 was invoked
)

var kindNames = []struct {
	k    kind
	name string
}{{ww, "ww"}, {wr, "wr"}, {rw, "rw"}, {process, "process"}, {realtime, "realtime"}}

func (k kind) String() string {
	for _, n := range kindNames {
		if k == n.k {
			return n.name
		}
	}
	s := ""
	for _, n := range kindNames {
		if k&n.k != 0 {
			if s != "" {
				s += "+"
			}
			s += n.name
		}
	}
	return s
}

// edges collects edges before they become a graph: to<<8 | kind, grouped
// by from later. Self edges are dropped: a transaction does not depend on
// itself.
type edges struct {
	from []int32
	pack []uint64
}

func (e *edges) add(from, to int32, k kind) {
	if from == to || from < 0 || to < 0 {
		return
	}
	e.from = append(e.from, from)
	e.pack = append(e.pack, uint64(to)<<8|uint64(k))
}

// graph: nodes 0..txns-1 are transactions (by index in analysis.txns);
// nodes txns.. are realtime ticks (see addRealtime). The out-edges of v
// are to[off[v]:off[v+1]], each with its kinds.
type graph struct {
	txns  int32
	nodes int32
	off   []int32
	to    []int32
	kinds []kind
	has   kind // every kind some edge carries
	// tickAt[t] is the history position of the completion that made tick
	// node txns+t: realtime explanations quote it.
	tickAt []int32
}

// build turns the edge lists into a graph over nodes nodes, merging
// parallel edges. It empties the lists as it goes, so their memory is
// free before the graph's adjacency is allocated.
func build(txns, nodes int32, tickAt []int32, lists ...*edges) *graph {
	g := &graph{txns: txns, nodes: nodes, off: make([]int32, nodes+1), tickAt: tickAt}
	total := 0
	for _, e := range lists {
		for _, f := range e.from {
			g.off[f+1]++
		}
		total += len(e.from)
	}
	for v := int32(0); v < nodes; v++ {
		g.off[v+1] += g.off[v]
	}
	sorted := make([]uint64, total)
	next := slices.Clone(g.off[:nodes])
	for _, e := range lists {
		for i, f := range e.from {
			sorted[next[f]] = e.pack[i]
			next[f]++
		}
		e.from, e.pack = nil, nil
	}
	next = nil
	g.to = make([]int32, 0, len(sorted))
	g.kinds = make([]kind, 0, len(sorted))
	out := int32(0)
	for v := int32(0); v < nodes; v++ {
		seg := sorted[g.off[v]:g.off[v+1]]
		if len(seg) > 1 {
			slices.Sort(seg)
		}
		g.off[v] = out
		for i := 0; i < len(seg); i++ {
			to, k := int32(seg[i]>>8), kind(seg[i])
			for i+1 < len(seg) && int32(seg[i+1]>>8) == to {
				i++
				k |= kind(seg[i])
			}
			g.to = append(g.to, to)
			g.kinds = append(g.kinds, k)
			g.has |= k
			out++
		}
	}
	g.off[nodes] = out
	return g
}

// isTick reports whether node v is a realtime tick, not a transaction.
func (g *graph) isTick(v int32) bool { return v >= g.txns }

// addProcess adds an edge from each transaction to the next one its
// process invoked. Failed transactions never happened and are skipped;
// an info ends a process (its worker continues under a new number).
func (a *analysis) addProcess(e *edges) {
	last := map[int64]int32{}
	for i := range a.txns {
		t := &a.txns[i]
		if t.typ == txnFail {
			continue
		}
		p := a.h[t.inv].Process
		if prev, ok := last[p]; ok {
			e.add(prev, int32(i), process)
		}
		last[p] = int32(i)
	}
}

// addRealtime encodes the realtime order (T1 completed before T2 was
// invoked) with one tick node per ok completion, chained in history order:
// T1 → its completion's tick → … later ticks … → the last tick before T2's
// invocation → T2. A path through ticks is one realtime edge. This keeps
// the order in O(n) edges; the transitive reduction Elle builds has up to
// one edge per concurrent transaction per transaction. It returns the
// number of ticks and where each tick's completion is.
func (a *analysis) addRealtime(e *edges) (int32, []int32) {
	n := int32(len(a.txns))
	// at[pos] is the txn whose invocation (even) or completion (odd) is at
	// history position pos.
	type event struct {
		pos  int32
		txn  int32
		done bool
	}
	evs := make([]event, 0, 2*len(a.txns))
	for i := range a.txns {
		t := &a.txns[i]
		if t.typ == txnFail {
			continue
		}
		evs = append(evs, event{t.inv, int32(i), false})
		if t.typ == txnOK {
			evs = append(evs, event{t.done, int32(i), true})
		}
	}
	slices.SortFunc(evs, func(x, y event) int { return int(x.pos - y.pos) })
	var tickAt []int32
	last := int32(-1)
	for _, ev := range evs {
		if !ev.done {
			if last >= 0 {
				e.add(last, ev.txn, realtime)
			}
			continue
		}
		tick := n + int32(len(tickAt))
		tickAt = append(tickAt, ev.pos)
		e.add(ev.txn, tick, realtime)
		if last >= 0 {
			e.add(last, tick, realtime)
		}
		last = tick
	}
	return int32(len(tickAt)), tickAt
}

// tarjan finds strongly connected components with an explicit stack (the
// tick chain is as long as the history; recursion would overflow).
// Scratch arrays are sized to the graph once and reset only where used, so
// repeated searches inside one component cost that component's size.
type tarjan struct {
	g       *graph
	index   []int32 // 0: unvisited; else visit order + 1
	low     []int32
	comp    []int32 // component of each visited node
	onStack []bool
	stack   []int32
	frames  []frame
	touched []int32
}

type frame struct {
	v    int32
	edge int32
}

func newTarjan(g *graph) *tarjan {
	return &tarjan{g: g, index: make([]int32, g.nodes), low: make([]int32, g.nodes),
		comp: make([]int32, g.nodes), onStack: make([]bool, g.nodes)}
}

// run finds the components of the subgraph induced by nodes (in(v) must
// hold for exactly those) with edges of kinds in mask, and returns the
// nontrivial ones (more than one node). comp is valid for nodes until the
// next run.
func (t *tarjan) run(nodes []int32, in func(int32) bool, mask kind) [][]int32 {
	for _, v := range t.touched {
		t.index[v], t.onStack[v] = 0, false
	}
	t.touched = t.touched[:0]
	var out [][]int32
	counter, ncomp := int32(0), int32(0)
	g := t.g
	for _, root := range nodes {
		if t.index[root] != 0 {
			continue
		}
		t.frames = append(t.frames[:0], frame{root, g.off[root]})
		counter++
		t.index[root], t.low[root] = counter, counter
		t.touched = append(t.touched, root)
		t.stack = append(t.stack, root)
		t.onStack[root] = true
		for len(t.frames) > 0 {
			f := &t.frames[len(t.frames)-1]
			v := f.v
			if f.edge < g.off[v+1] {
				e := f.edge
				f.edge++
				if g.kinds[e]&mask == 0 {
					continue
				}
				w := g.to[e]
				if !in(w) {
					continue
				}
				if t.index[w] == 0 {
					counter++
					t.index[w], t.low[w] = counter, counter
					t.touched = append(t.touched, w)
					t.stack = append(t.stack, w)
					t.onStack[w] = true
					t.frames = append(t.frames, frame{w, g.off[w]})
				} else if t.onStack[w] && t.index[w] < t.low[v] {
					t.low[v] = t.index[w]
				}
				continue
			}
			t.frames = t.frames[:len(t.frames)-1]
			if len(t.frames) > 0 {
				p := t.frames[len(t.frames)-1].v
				if t.low[v] < t.low[p] {
					t.low[p] = t.low[v]
				}
			}
			if t.low[v] != t.index[v] {
				continue
			}
			// v roots a component: pop it.
			i := len(t.stack) - 1
			for t.stack[i] != v {
				i--
			}
			members := t.stack[i:]
			for _, w := range members {
				t.onStack[w] = false
				t.comp[w] = ncomp
			}
			if len(members) > 1 {
				out = append(out, slices.Clone(members))
			}
			t.stack = t.stack[:i]
			ncomp++
		}
	}
	return out
}
