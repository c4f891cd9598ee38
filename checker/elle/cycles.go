package elle

import (
	"context"
	"errors"
	"slices"
	"time"
)

// cycles.go finds and names dependency cycles. Only a strongly connected
// component of the graph can hold a cycle, so the search runs inside each
// nontrivial component, and a valid history (no such component) costs one
// linear pass. Within a component, each anomaly kind is a constrained
// search (Adya's G0 … G2-item, Elle's process and realtime variants): the
// cycle must contain an "anchor" edge of the kind the anomaly is about;
// a breadth-first search over (transaction, state) pairs from the anchor's
// head back to its tail finds the shortest such cycle, the state tracking
// what the constraint needs (was the last edge rw, has a second rw been
// taken, has a process or realtime edge been taken).

// rwRule is what a cycle may do with rw edges besides its anchor.
type rwRule uint8

const (
	rwNone        rwRule = iota // no rw edge at all (G0, G1c)
	rwSingle                    // the anchor is the only rw edge (G-single)
	rwNonadjacent               // ≥ 2 rw edges, no two consecutive (G-nonadjacent)
	rwAdjacent                  // ≥ 2 rw edges, two of them consecutive (G2-item)
)

// spec describes one cycle anomaly.
type spec struct {
	name   string
	anchor kind // every such cycle has an edge of this kind
	data   kind // the data dependencies it may use
	rule   rwRule
	extra  kind // process or realtime: may be used, and must be, at least once
}

var baseSpecs = []spec{
	{name: "G0", anchor: ww, data: ww, rule: rwNone},
	{name: "G1c", anchor: wr, data: ww | wr, rule: rwNone},
	{name: "G-single", anchor: rw, data: ww | wr, rule: rwSingle},
	{name: "G-nonadjacent", anchor: rw, data: ww | wr | rw, rule: rwNonadjacent},
	{name: "G2-item", anchor: rw, data: ww | wr | rw, rule: rwAdjacent},
}

// specs lists every cycle anomaly in the order they are searched, which is
// Elle's order of severity: data-only cycles first, then those that need
// process edges, then realtime ones.
var specs = func() []spec {
	var out []spec
	for _, v := range []struct {
		extra  kind
		suffix string
	}{{0, ""}, {process, "-process"}, {realtime, "-realtime"}} {
		for _, s := range baseSpecs {
			s.extra, s.name = v.extra, s.name+v.suffix
			out = append(out, s)
		}
	}
	return out
}()

// search states: bits of a byte.
const (
	stPrevRW  = 1 << iota // the last edge taken was rw
	stSecond              // rwNonadjacent: a second rw edge was taken; rwAdjacent: two rw edges were consecutive
	stExtra               // a process or realtime edge was taken
	numStates = 8
)

// cycle is a found cycle: txns[i] → txns[i+1] (and the last → the first)
// by the dependency steps[i].
type cycle struct {
	name  string
	txns  []int32
	steps []kind
}

var errBudget = errors.New("cycle search ran out of time")

// searcher holds the scratch space of the searches.
type searcher struct {
	g        *graph
	full     *tarjan // components of the whole graph
	sub      *tarjan // components inside one of them
	member   []int32 // node → 1 + index of the component being searched
	local    []int32 // node → its position in that component
	nodes    []int32
	dist     []int32 // (local, state) → distance, valid where seen == epoch
	parent   []int32 // (local, state) → (local, state) it was reached from
	via      []kind  // … and by which dependency
	seen     []uint32
	epoch    uint32
	deque    []int32
	deadline time.Time
	ctx      context.Context
	pops     int
}

func newSearcher(ctx context.Context, g *graph) *searcher {
	return &searcher{g: g, ctx: ctx, full: newTarjan(g)}
}

// sccResult is what the search of one component found and left undone.
type sccResult struct {
	cycles     []cycle
	unfinished []string
}

// components returns the nontrivial components of the whole graph.
func (s *searcher) components() [][]int32 {
	all := make([]int32, s.g.nodes)
	for i := range all {
		all[i] = int32(i)
	}
	return s.full.run(all, func(int32) bool { return true }, ^kind(0))
}

// searchComponent looks for every cycle anomaly in one component, id its
// 1-based number. perSpec bounds each anomaly kind's search.
func (s *searcher) searchComponent(id int32, comp []int32, perSpec time.Duration) sccResult {
	var res sccResult
	if s.sub == nil { // a valid history never gets here: allocate on demand
		s.sub = newTarjan(s.g)
		s.member, s.local = make([]int32, s.g.nodes), make([]int32, s.g.nodes)
	}
	for _, v := range comp {
		s.member[v] = id
	}
	defer func() {
		for _, v := range comp {
			s.member[v] = 0
		}
	}()
	in := func(v int32) bool { return s.member[v] == id }
	var found []string
	for _, sp := range specs {
		if sp.extra != 0 && s.g.has&sp.extra == 0 {
			continue
		}
		if slices.ContainsFunc(found, func(f string) bool { return implied(f, sp.name) }) {
			continue
		}
		if s.ctx.Err() != nil {
			res.unfinished = append(res.unfinished, sp.name)
			continue
		}
		s.deadline = time.Now().Add(perSpec)
		c, err := s.searchSpec(comp, in, sp)
		switch {
		case err != nil:
			res.unfinished = append(res.unfinished, sp.name)
		case c != nil:
			res.cycles = append(res.cycles, *c)
			found = append(found, sp.name)
		}
	}
	if len(res.cycles) == 0 && len(res.unfinished) > 0 && s.ctx.Err() == nil {
		// Elle's fallback: some cycle of this component, named by its edges,
		// so a search cut short still shows what is there.
		if c := s.anyCycle(comp, in); c != nil {
			res.cycles = append(res.cycles, *c)
		}
	}
	return res
}

// searchSpec finds the shortest cycle of one anomaly kind through the
// first anchor edge that has one.
func (s *searcher) searchSpec(comp []int32, in func(int32) bool, sp spec) (*cycle, error) {
	mask := sp.data | sp.anchor | sp.extra
	for _, sub := range s.sub.run(comp, in, mask) {
		s.nodes = sub
		for i, v := range sub {
			s.local[v] = int32(i)
		}
		subID := s.sub.comp[sub[0]]
		inSub := func(v int32) bool { return in(v) && s.sub.comp[v] == subID && s.sub.index[v] != 0 }
		// Anchors, grouped by head: one search from a head serves every
		// anchor that ends there.
		type anchor struct{ from, to int32 }
		var anchors []anchor
		for _, u := range sub {
			if s.g.isTick(u) {
				continue
			}
			for e := s.g.off[u]; e < s.g.off[u+1]; e++ {
				if w := s.g.to[e]; s.g.kinds[e]&sp.anchor != 0 && inSub(w) {
					anchors = append(anchors, anchor{u, w})
				}
			}
		}
		slices.SortFunc(anchors, func(a, b anchor) int { return int(a.to - b.to) })
		s.grow(len(sub))
		for i := 0; i < len(anchors); {
			head := anchors[i].to
			j := i
			for j < len(anchors) && anchors[j].to == head {
				j++
			}
			start := uint8(0)
			if sp.anchor == rw {
				start = stPrevRW
			}
			if err := s.bfs(head, start, inSub, sp); err != nil {
				return nil, err
			}
			best, bestState := int32(-1), uint8(0)
			for _, a := range anchors[i:j] {
				for st := uint8(0); st < numStates; st++ {
					x := s.local[a.from]*numStates + int32(st)
					if s.seen[x] == s.epoch && accepts(sp, st) && (best < 0 || s.dist[x] < s.dist[s.local[best]*numStates+int32(bestState)]) {
						best, bestState = a.from, st
					}
				}
			}
			if best >= 0 {
				return simplify(s.trace(sp, best, bestState, head)), nil
			}
			i = j
		}
	}
	return nil, nil
}

func (s *searcher) grow(n int) {
	if need := n * numStates; len(s.seen) < need {
		s.dist = make([]int32, need)
		s.parent = make([]int32, need)
		s.via = make([]kind, need)
		s.seen = make([]uint32, need)
		s.epoch = 0
	}
}

// accepts reports whether arriving at the anchor's tail in state st closes
// a cycle of the kind sp (the anchor, an rw edge for the rw rules, follows).
func accepts(sp spec, st uint8) bool {
	if sp.extra != 0 && st&stExtra == 0 {
		return false
	}
	switch sp.rule {
	case rwNonadjacent:
		return st&stSecond != 0 && st&stPrevRW == 0
	case rwAdjacent:
		return st&stSecond != 0 || st&stPrevRW != 0
	}
	return true
}

// step is the state after taking a dependency of kind k in state st, or
// false when sp does not allow it.
func step(sp spec, st uint8, k kind) (uint8, bool) {
	switch {
	case k == rw:
		switch sp.rule {
		case rwNone, rwSingle:
			return 0, false
		case rwNonadjacent:
			if st&stPrevRW != 0 {
				return 0, false
			}
			return st | stPrevRW | stSecond, true
		default:
			if st&stPrevRW != 0 {
				st |= stSecond
			}
			return st | stPrevRW, true
		}
	case k == sp.extra:
		return st&^stPrevRW | stExtra, true
	case k&sp.data != 0:
		return st &^ stPrevRW, true
	}
	return 0, false
}

// bfs explores (node, state) pairs from head in start, shortest first. A
// path through realtime ticks is one edge: entering the first tick costs
// 1, moving along and out of ticks costs 0 (a 0-1 BFS on a deque).
func (s *searcher) bfs(head int32, start uint8, inSub func(int32) bool, sp spec) error {
	s.epoch++
	if s.epoch == 0 { // wrapped: forget every old mark
		clear(s.seen)
		s.epoch = 1
	}
	x0 := s.local[head]*numStates + int32(start)
	s.seen[x0], s.dist[x0], s.parent[x0] = s.epoch, 0, -1
	// The deque is a slice with a moving front; 0-cost moves go in front.
	s.deque = append(s.deque[:0], x0)
	front := 0
	for front < len(s.deque) {
		s.pops++
		if s.pops&0xfff == 0 && (s.ctx.Err() != nil || time.Now().After(s.deadline)) {
			return errBudget
		}
		x := s.deque[front]
		front++
		li, st := x/numStates, uint8(x%numStates)
		v := s.nodeAt(li)
		fromTick := s.g.isTick(v)
		for e := s.g.off[v]; e < s.g.off[v+1]; e++ {
			w := s.g.to[e]
			if !inSub(w) {
				continue
			}
			ks := s.g.kinds[e]
			for _, kn := range kindNames {
				k := kn.k
				if ks&k == 0 {
					continue
				}
				cost := int32(1)
				ns, ok := st, true
				if fromTick {
					cost = 0 // already paid on entering the tick chain
					ok = k == realtime
				} else {
					ns, ok = step(sp, st, k)
				}
				if !ok {
					continue
				}
				y := s.local[w]*numStates + int32(ns)
				d := s.dist[x] + cost
				if s.seen[y] == s.epoch && s.dist[y] <= d {
					continue
				}
				s.seen[y], s.dist[y], s.parent[y], s.via[y] = s.epoch, d, x, k
				if cost == 0 && front > 0 {
					front--
					s.deque[front] = y
				} else {
					s.deque = append(s.deque, y)
				}
			}
		}
	}
	return nil
}

// nodeAt maps a local position back to its node. The positions were set
// from the component's node list, kept in s.nodes.
func (s *searcher) nodeAt(li int32) int32 { return s.nodes[li] }

// trace rebuilds the cycle: the anchor tail → head, then the search's
// path from head back to tail, with tick runs folded into realtime steps.
func (s *searcher) trace(sp spec, tail int32, st uint8, head int32) *cycle {
	var rev []int32 // (node, kind) pairs, backwards
	var kinds []kind
	x := s.local[tail]*numStates + int32(st)
	for s.parent[x] >= 0 {
		rev = append(rev, s.nodeAt(x/numStates))
		kinds = append(kinds, s.via[x])
		x = s.parent[x]
	}
	c := &cycle{name: sp.name, txns: []int32{tail, head}, steps: []kind{sp.anchor}}
	for i := len(rev) - 1; i >= 0; i-- {
		v := rev[i]
		if s.g.isTick(v) {
			continue
		}
		if i == 0 { // the tail: the step back to it closes the cycle
			c.steps = append(c.steps, kinds[i])
			break
		}
		c.txns = append(c.txns, v)
		c.steps = append(c.steps, kinds[i])
	}
	return c
}

// simplify makes a cycle simple. The search's states let a shortest path
// pass a transaction twice (once per state); such a walk is cut at the
// repeat, keeping the part with the anchor (steps[0]), and renamed by what
// is left, which is still a cycle of the graph.
func simplify(c *cycle) *cycle {
	first := map[int32]int{}
	for i := 0; i < len(c.txns); i++ {
		j, seen := first[c.txns[i]]
		if !seen {
			first[c.txns[i]] = i
			continue
		}
		// Drop the loop txns[j:i]: txns[j] and txns[i] are one transaction.
		c.txns = append(c.txns[:j], c.txns[i:]...)
		c.steps = append(c.steps[:j], c.steps[i:]...)
		c.name = classify(c.steps)
		clear(first)
		i = -1
	}
	return c
}

// anyCycle finds some cycle of the component by a plain BFS from its first
// transaction back to itself, and names it by its edges.
func (s *searcher) anyCycle(comp []int32, in func(int32) bool) *cycle {
	root := int32(-1)
	for _, v := range comp {
		if !s.g.isTick(v) {
			root = v
			break
		}
	}
	if root < 0 {
		return nil
	}
	prev := map[int32]int32{root: -1}
	into := map[int32]kind{}
	queue := []int32{root}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for e := s.g.off[v]; e < s.g.off[v+1]; e++ {
			w := s.g.to[e]
			if !in(w) {
				continue
			}
			if w != root {
				if _, seen := prev[w]; seen {
					continue
				}
				prev[w], into[w] = v, firstKind(s.g.kinds[e])
				queue = append(queue, w)
				continue
			}
			// Closed: walk back from v to root; a txn reached from a tick
			// was reached by a realtime run.
			c := &cycle{}
			k := firstKind(s.g.kinds[e])
			for cur := v; cur >= 0; cur = prev[cur] {
				if s.g.isTick(cur) {
					k = realtime
					continue
				}
				c.txns = append(c.txns, cur)
				c.steps = append(c.steps, k)
				k = into[cur]
			}
			slices.Reverse(c.txns)
			slices.Reverse(c.steps)
			c.name = classify(c.steps)
			return c
		}
	}
	return nil
}

// firstKind picks the dependency an edge of several kinds is named by:
// data before process before realtime, as Elle's explainer does.
func firstKind(ks kind) kind {
	for _, kn := range kindNames {
		if ks&kn.k != 0 {
			return kn.k
		}
	}
	return 0
}

// classify names a cycle by its steps, as Elle's cycle explainer does.
func classify(steps []kind) string {
	var nrw, nwr, nproc, nrt int
	adjacent := false
	for i, k := range steps {
		switch k {
		case rw:
			nrw++
			if steps[(i+len(steps)-1)%len(steps)] == rw {
				adjacent = true
			}
		case wr:
			nwr++
		case process:
			nproc++
		case realtime:
			nrt++
		}
	}
	name := "G0"
	switch {
	case nrw == 1:
		name = "G-single"
	case nrw > 1 && adjacent:
		name = "G2-item"
	case nrw > 1:
		name = "G-nonadjacent"
	case nwr > 0:
		name = "G1c"
	}
	switch {
	case nrt > 0:
		name += "-realtime"
	case nproc > 0:
		name += "-process"
	}
	return name
}
