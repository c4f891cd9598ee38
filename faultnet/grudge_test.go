package faultnet

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func nodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("n%d", i+1)
	}
	return out
}

// view is the set of nodes node sees under g, itself included, as a
// sorted string for comparison.
func view(g Grudge, nodes []string, node string) []string {
	var v []string
	for _, o := range nodes {
		if g.Sees(node, o) {
			v = append(v, o)
		}
	}
	return v
}

func TestIsolateJSONIsJepsensGrudge(t *testing.T) {
	g := Isolate(nodeNames(3), "n1")
	want := `{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}`
	if got := g.String(); got != want {
		t.Fatalf("Isolate(n1) = %s, want %s", got, want)
	}
	b, err := json.Marshal(g)
	if err != nil || string(b) != want {
		t.Fatalf("json.Marshal = %s, %v; want %s", b, err, want)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, g.Value()) {
		t.Errorf("decoded JSON %v != Value() %v: a recorded op would not compare equal to one read back", back, g.Value())
	}
	parsed, err := ParseGrudge(back)
	if err != nil || !reflect.DeepEqual(parsed, g) {
		t.Errorf("ParseGrudge(%v) = %v, %v; want %v", back, parsed, err, g)
	}
}

func TestCutIsOneLinkBothWays(t *testing.T) {
	if got := Cut("coordinator", "p2").String(); got != `{"coordinator":["p2"],"p2":["coordinator"]}` {
		t.Errorf("Cut(coordinator, p2) = %s", got)
	}
	if got := Cut("a", "a"); len(got) != 0 {
		t.Errorf("Cut(a, a) = %s, want no grudge", got)
	}
}

func TestParseGrudgeRejectsMalformedValues(t *testing.T) {
	for _, v := range []any{
		"n1",
		map[string]any{"n1": "n2"},
		map[string]any{"n1": []any{2}},
		nil,
	} {
		if g, err := ParseGrudge(v); err == nil {
			t.Errorf("ParseGrudge(%#v) = %v, want an error", v, g)
		}
	}
}

func TestNormalizeIsCanonical(t *testing.T) {
	g := Grudge{"n2": {"n3", "n1", "n3", "n2"}, "n1": {}, "n3": nil}
	want := Grudge{"n2": {"n1", "n3"}}
	if got := g.Normalize(); !reflect.DeepEqual(got, want) {
		t.Errorf("Normalize(%v) = %v, want %v", g, got, want)
	}
	if got := Grudge(nil).Normalize(); got == nil || len(got) != 0 {
		t.Errorf("Normalize(nil) = %#v, want an empty non-nil grudge", got)
	}
}

func TestRingEveryNodeSeesADifferentMajority(t *testing.T) {
	for n := 3; n <= 9; n++ {
		for seed := int64(1); seed <= 20; seed++ {
			nodes := nodeNames(n)
			g := Ring(nodes, rand.New(rand.NewSource(seed)))
			views := map[string]string{}
			for _, node := range nodes {
				v := view(g, nodes, node)
				if len(v) <= n/2 {
					t.Fatalf("n=%d seed=%d: %s sees %v, not a majority; grudge %s", n, seed, node, v, g)
				}
				key := strings.Join(v, ",")
				if other, dup := views[key]; dup {
					t.Fatalf("n=%d seed=%d: %s and %s see the same majority %v; grudge %s", n, seed, node, other, v, g)
				}
				views[key] = node
			}
			if len(g) != n {
				t.Fatalf("n=%d seed=%d: only %d nodes drop anything: %s", n, seed, len(g), g)
			}
		}
	}
}

func TestBridgeNodeSeesAllAndTheHalvesOnlyIt(t *testing.T) {
	for n := 3; n <= 9; n++ {
		for seed := int64(1); seed <= 20; seed++ {
			nodes := nodeNames(n)
			g := Bridge(nodes, rand.New(rand.NewSource(seed)))
			var bridges []string
			for _, node := range nodes {
				if len(view(g, nodes, node)) == n {
					bridges = append(bridges, node)
				}
			}
			if len(bridges) != 1 {
				t.Fatalf("n=%d seed=%d: nodes that see everyone: %v, want exactly one bridge; grudge %s", n, seed, bridges, g)
			}
			b := bridges[0]
			for _, node := range nodes {
				if !g.Sees(node, b) {
					t.Fatalf("n=%d seed=%d: %s does not see bridge %s; grudge %s", n, seed, node, b, g)
				}
			}
			// The others fall into two sides that see each other within and
			// not across.
			var sides [][]string
			for _, node := range nodes {
				if node == b {
					continue
				}
				v := slices.DeleteFunc(view(g, nodes, node), func(o string) bool { return o == b })
				if !slices.ContainsFunc(sides, func(s []string) bool { return slices.Equal(s, v) }) {
					sides = append(sides, v)
				}
			}
			if len(sides) != 2 || len(sides[0])+len(sides[1]) != n-1 {
				t.Fatalf("n=%d seed=%d: sides %v, want two disjoint halves; grudge %s", n, seed, sides, g)
			}
		}
	}
}

func TestHalvesMinoritySmallerAndCutBothWays(t *testing.T) {
	for n := 2; n <= 9; n++ {
		nodes := nodeNames(n)
		g := Halves(nodes, rand.New(rand.NewSource(int64(n))))
		sizes := map[int]int{}
		for _, node := range nodes {
			v := view(g, nodes, node)
			sizes[len(v)]++
			for _, o := range nodes {
				if g.Sees(node, o) != g.Sees(o, node) {
					t.Fatalf("n=%d: %s and %s disagree on their link; grudge %s", n, node, o, g)
				}
			}
		}
		small, big := n/2, n-n/2
		want := map[int]int{small: small, big: big}
		if small == big {
			want = map[int]int{small: n}
		}
		if !reflect.DeepEqual(sizes, want) {
			t.Fatalf("n=%d: view sizes → count %v, want %v; grudge %s", n, sizes, want, g)
		}
	}
}

func TestOneWaySilencesOneNodeOnly(t *testing.T) {
	nodes := nodeNames(5)
	g, err := Shape(ShapeOneWay, nodes, "n3", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range nodes {
		if o == "n3" {
			continue
		}
		if g.Sees(o, "n3") {
			t.Errorf("%s still receives from n3; grudge %s", o, g)
		}
		if !g.Sees("n3", o) {
			t.Errorf("n3 no longer receives from %s; grudge %s", o, g)
		}
		for _, p := range nodes {
			if p != "n3" && !g.Sees(o, p) {
				t.Errorf("%s drops %s, who is not the silenced node; grudge %s", o, p, g)
			}
		}
	}
}

func TestShapesAreSeededAndValidated(t *testing.T) {
	nodes := nodeNames(5)
	for _, name := range ShapesFor(len(nodes)) {
		a, err := Shape(name, nodes, "", rand.New(rand.NewSource(7)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := Shape(name, reversed(nodes), "", rand.New(rand.NewSource(7)))
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: same seed, nodes in another order: %s vs %s", name, a, b)
		}
		if len(a) == 0 {
			t.Errorf("%s: empty grudge", name)
		}
		distinct := map[string]bool{}
		for seed := int64(1); seed <= 30; seed++ {
			g, _ := Shape(name, nodes, "", rand.New(rand.NewSource(seed)))
			distinct[g.String()] = true
		}
		if len(distinct) < 2 {
			t.Errorf("%s: 30 seeds gave one grudge: the seed is not used", name)
		}
	}
	if got := ShapesFor(2); !slices.Equal(got, []string{ShapeHalves, ShapeOne, ShapeOneWay}) {
		t.Errorf("ShapesFor(2) = %v", got)
	}
	g, err := Shape(ShapeNode, nodes, "n4", nil)
	if err != nil || g.String() != Isolate(nodes, "n4").String() {
		t.Errorf("Shape(node, n4) = %s, %v", g, err)
	}
	rng := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		name, target string
		nodes        []string
		want         string
	}{
		{"ring", "", nodeNames(2), "at least 3"},
		{"bridge", "", nodeNames(2), "at least 3"},
		{"node", "", nodes, "needs a target"},
		{"one", "n9", nodes, "not one of"},
		{"halves", "", []string{"n1", "n1"}, "distinct"},
		{"stars", "", nodes, "unknown partition shape"},
	} {
		if _, err := Shape(c.name, c.nodes, c.target, rng); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Shape(%s, %v, %q): err = %v, want one containing %q", c.name, c.nodes, c.target, err, c.want)
		}
	}
}

func TestCompleteCutsOnlyAcrossComponents(t *testing.T) {
	g := Complete([]string{"a", "b"}, []string{"c"}, []string{"d", "e"})
	for _, c := range []struct {
		node, other string
		sees        bool
	}{
		{"a", "b", true}, {"a", "c", false}, {"a", "d", false}, {"c", "e", false}, {"d", "e", true}, {"e", "a", false},
	} {
		if got := g.Sees(c.node, c.other); got != c.sees {
			t.Errorf("%s sees %s = %v, want %v; grudge %s", c.node, c.other, got, c.sees, g)
		}
	}
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !slices.Equal(keys, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("nodes with a grudge: %v", keys)
	}
}
