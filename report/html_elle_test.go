package report

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/checker/elle"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/store"
)

// readSkew: op 3 reads y = [1] from op 2 but misses its append to x.
const readSkew = `{:type :invoke, :f :txn, :value [[:append :x 1] [:append :y 1]], :process 0, :index 0}
{:type :invoke, :f :txn, :value [[:r :x nil] [:r :y nil]], :process 1, :index 1}
{:type :ok, :f :txn, :value [[:append :x 1] [:append :y 1]], :process 0, :index 2}
{:type :ok, :f :txn, :value [[:r :x []] [:r :y [1]]], :process 1, :index 3}
`

func TestReportDrawsElleCycles(t *testing.T) {
	h, _, err := history.Read(strings.NewReader(readSkew), "skew.edn")
	if err != nil {
		t.Fatal(err)
	}
	c, err := elle.NewChecker(elle.Options{Workload: "list-append"})
	if err != nil {
		t.Fatal(err)
	}
	res := c.Check(context.Background(), h)
	if res.Valid != checker.Invalid {
		t.Fatalf("verdict %v", res.Valid)
	}
	r := store.Results{History: "skew.edn", Valid: res.Valid, Checkers: []checker.Result{res}}
	// The result as the checker returns it, and as results.json gives it
	// back to `chaoscheck serve`.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var decoded store.Results
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	for name, rr := range map[string]store.Results{"in memory": r, "from results.json": decoded} {
		page := renderHTML(t, rr, h)
		if n := strings.Count(page, `<svg class="cycle"`); n != 1 {
			t.Fatalf("%s: %d cycle drawings, want 1", name, n)
		}
		svg := page[strings.Index(page, `<svg class="cycle"`):]
		svg = svg[:strings.Index(svg, "</svg>")]
		for _, want := range []string{">op 2<", ">op 3<", ">rw x<", ">wr y<", `aria-label="G-single cycle"`} {
			if !strings.Contains(svg, want) {
				t.Errorf("%s: the drawing lacks %s", name, want)
			}
		}
	}
}
