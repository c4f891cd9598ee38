package faultnet

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"sort"
)

// Grudge is Jepsen's description of a partition: for each node, the nodes
// it drops traffic from. {"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}
// isolates n1. A node missing from the map drops nothing. Its JSON form is
// the value of a nemesis's start-partition op.
type Grudge map[string][]string

// Drops reports whether node drops traffic from other.
func (g Grudge) Drops(node, other string) bool { return slices.Contains(g[node], other) }

// Normalize returns g in canonical form: lists sorted and without
// duplicates or the node itself, nodes with empty lists left out, never
// nil. Two grudges that cut the same pairs normalize equal.
func (g Grudge) Normalize() Grudge {
	out := Grudge{}
	for node, from := range g {
		var l []string
		for _, o := range from {
			if o != node && o != "" && !slices.Contains(l, o) {
				l = append(l, o)
			}
		}
		if len(l) > 0 {
			sort.Strings(l)
			out[node] = l
		}
	}
	return out
}

// String is g's canonical JSON.
func (g Grudge) String() string {
	b, _ := json.Marshal(g.Normalize()) // map keys come out sorted
	return string(b)
}

// Value is g in the shape a JSON decoder gives back (map[string]any of
// []any of string), for a history op's value: a recorded op and one read
// back from history.jsonl then compare equal.
func (g Grudge) Value() map[string]any {
	out := map[string]any{}
	for node, from := range g.Normalize() {
		l := make([]any, len(from))
		for i, o := range from {
			l[i] = o
		}
		out[node] = l
	}
	return out
}

// ParseGrudge reads a grudge from a history op's value: a Grudge, a
// map[string][]string, or the decoded JSON object Value produces.
func ParseGrudge(v any) (Grudge, error) {
	switch v := v.(type) {
	case Grudge:
		return v.Normalize(), nil
	case map[string][]string:
		return Grudge(v).Normalize(), nil
	case map[string]any:
		g := Grudge{}
		for node, l := range v {
			items, ok := l.([]any)
			if !ok {
				return nil, fmt.Errorf("grudge: node %q: want a list of node names, got %T", node, l)
			}
			for _, it := range items {
				s, ok := it.(string)
				if !ok {
					return nil, fmt.Errorf("grudge: node %q: want node names, got %T", node, it)
				}
				g[node] = append(g[node], s)
			}
		}
		return g.Normalize(), nil
	}
	return nil, fmt.Errorf("grudge: want an object of node → [nodes], got %T", v)
}

// Sees reports whether node receives traffic from other under g (a node
// always sees itself).
func (g Grudge) Sees(node, other string) bool { return node == other || !g.Drops(node, other) }

// Shape names: the grudges a nemesis can ask for by name.
const (
	ShapeHalves = "halves"  // random halves, the minority side smaller
	ShapeOne    = "one"     // one node isolated (random unless a target is given)
	ShapeNode   = "node"    // the target node isolated (e.g. the leader)
	ShapeRing   = "ring"    // majorities ring: each node sees a majority, no two the same
	ShapeBridge = "bridge"  // two halves joined by one node that sees both
	ShapeOneWay = "one-way" // one node's outbound traffic dropped, its inbound kept
)

// shapeMin is the fewest nodes each shape needs to mean what it says.
var shapeMin = map[string]int{
	ShapeHalves: 2, ShapeOne: 2, ShapeNode: 2, ShapeRing: 3, ShapeBridge: 3, ShapeOneWay: 2,
}

// ShapeNames lists every shape name, sorted.
func ShapeNames() []string {
	names := make([]string, 0, len(shapeMin))
	for s := range shapeMin {
		names = append(names, s)
	}
	sort.Strings(names)
	return names
}

// ShapesFor lists, sorted, the shapes that fit a cluster of n nodes and
// need no target: the ones a random partition nemesis may pick from.
func ShapesFor(n int) []string {
	var out []string
	for _, s := range ShapeNames() {
		if s != ShapeNode && n >= shapeMin[s] {
			out = append(out, s)
		}
	}
	return out
}

// Shape builds the grudge called name over nodes. target names the node
// that "one", "node" and "one-way" act on; "" picks one with rng ("node"
// requires a target). rng makes every random choice, so a seed fixes the
// grudge. Nodes must be distinct and at least as many as the shape needs.
func Shape(name string, nodes []string, target string, rng *rand.Rand) (Grudge, error) {
	least, ok := shapeMin[name]
	if !ok {
		return nil, fmt.Errorf("unknown partition shape %q (known: %v)", name, ShapeNames())
	}
	if err := checkNodes(nodes, least, name); err != nil {
		return nil, err
	}
	if target != "" && !slices.Contains(nodes, target) {
		return nil, fmt.Errorf("partition %s: target %q is not one of %v", name, target, nodes)
	}
	pick := func() string {
		if target != "" {
			return target
		}
		return shuffled(nodes, rng)[0]
	}
	switch name {
	case ShapeHalves:
		return Halves(nodes, rng), nil
	case ShapeOne:
		return Isolate(nodes, pick()), nil
	case ShapeNode:
		if target == "" {
			return nil, fmt.Errorf("partition %s: needs a target node", name)
		}
		return Isolate(nodes, target), nil
	case ShapeRing:
		return Ring(nodes, rng), nil
	case ShapeBridge:
		return Bridge(nodes, rng), nil
	default: // ShapeOneWay
		return OneWay(nodes, pick()), nil
	}
}

func checkNodes(nodes []string, least int, shape string) error {
	if len(nodes) < least {
		return fmt.Errorf("partition %s: needs at least %d nodes, have %d", shape, least, len(nodes))
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if n == "" || seen[n] {
			return fmt.Errorf("partition %s: node names must be distinct and not empty: %v", shape, nodes)
		}
		seen[n] = true
	}
	return nil
}

// Complete cuts every link between different components: each node drops
// traffic from every node outside its own component (Jepsen's
// complete-grudge). Nodes in no component are untouched.
func Complete(components ...[]string) Grudge {
	g := Grudge{}
	for i, comp := range components {
		for j, other := range components {
			if i == j {
				continue
			}
			for _, node := range comp {
				g[node] = append(g[node], other...)
			}
		}
	}
	return g.Normalize()
}

// shuffled returns a copy of nodes in rng's order; nodes is sorted first
// so the result depends on the seed, not on the caller's order.
func shuffled(nodes []string, rng *rand.Rand) []string {
	s := slices.Clone(nodes)
	sort.Strings(s)
	rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// Halves splits nodes at random into a minority of ⌊n/2⌋ and the rest,
// cut from each other.
func Halves(nodes []string, rng *rand.Rand) Grudge {
	s := shuffled(nodes, rng)
	k := len(s) / 2
	return Complete(s[:k], s[k:])
}

// Cut cuts the one link between a and b, both ways, and nothing else:
// e.g. a 2PC coordinator from one participant.
func Cut(a, b string) Grudge { return Grudge{a: {b}, b: {a}}.Normalize() }

// Isolate cuts node from every other node, both ways.
func Isolate(nodes []string, node string) Grudge {
	var rest []string
	for _, n := range nodes {
		if n != node {
			rest = append(rest, n)
		}
	}
	return Complete([]string{node}, rest)
}

// Ring is a majorities ring: nodes in a random ring order, each sees the
// window of ⌊n/2⌋+1 consecutive nodes around itself and drops the rest.
// Every node sees a majority and, with 3 or more nodes, no two see the
// same one. With an even window the relation is not symmetric: a node can
// see one that drops it.
func Ring(nodes []string, rng *rand.Rand) Grudge {
	s := shuffled(nodes, rng)
	n := len(s)
	m := n/2 + 1
	g := Grudge{}
	for start := range n {
		// The window s[start … start+m-1] belongs to the node near its
		// middle; as start runs round the ring, so does the owner, once
		// each.
		owner := s[(start+(m-1)/2)%n]
		in := map[string]bool{}
		for k := range m {
			in[s[(start+k)%n]] = true
		}
		for _, o := range s {
			if !in[o] {
				g[owner] = append(g[owner], o)
			}
		}
	}
	return g.Normalize()
}

// Bridge splits nodes at random into two halves that cannot reach each
// other and one bridge node that both halves, and it, see.
func Bridge(nodes []string, rng *rand.Rand) Grudge {
	s := shuffled(nodes, rng)
	rest := s[1:]
	k := len(rest) / 2
	left, right := rest[:k], rest[k:]
	return Complete(left, right) // the bridge, s[0], is in neither and is dropped by none
}

// OneWay drops node's outbound traffic everywhere and keeps its inbound:
// every other node drops traffic from node, node drops nothing.
func OneWay(nodes []string, node string) Grudge {
	g := Grudge{}
	for _, n := range nodes {
		if n != node {
			g[n] = []string{node}
		}
	}
	return g.Normalize()
}
