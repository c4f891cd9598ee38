package checker

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
)

func readHistory(t *testing.T, text string) history.History {
	t.Helper()
	h, _, err := history.Read(strings.NewReader(text), "test.edn")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSetFullJudgesEveryRead(t *testing.T) {
	cases := []struct {
		name    string
		history string
		valid   Validity
		kinds   []string
		counts  map[string]int
	}{
		{"seen then missing is lost", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 1000000, :index 1}
{:type :invoke, :f :read, :process 1, :time 2000000, :index 2}
{:type :ok, :f :read, :value #{1}, :process 1, :time 3000000, :index 3}
{:type :invoke, :f :read, :process 1, :time 4000000, :index 4}
{:type :ok, :f :read, :value #{}, :process 1, :time 5000000, :index 5}`,
			Invalid, []string{"lost"}, map[string]int{"lost": 1, "stable": 0}},
		{"acknowledged, never seen, missing later is lost", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 1000000, :index 1}
{:type :invoke, :f :add, :value 2, :process 0, :time 1500000, :index 2}
{:type :ok, :f :add, :value 2, :process 0, :time 1600000, :index 3}
{:type :invoke, :f :read, :process 1, :time 2000000, :index 4}
{:type :ok, :f :read, :value #{2}, :process 1, :time 3000000, :index 5}`,
			Invalid, []string{"lost"}, map[string]int{"lost": 1, "stable": 1}},
		{"a read concurrent with the add may miss it", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :invoke, :f :read, :process 1, :time 100, :index 1}
{:type :ok, :f :read, :value #{}, :process 1, :time 200, :index 2}
{:type :ok, :f :add, :value 1, :process 0, :time 300, :index 3}
{:type :invoke, :f :read, :process 1, :time 400, :index 4}
{:type :ok, :f :read, :value #{1}, :process 1, :time 500, :index 5}`,
			Valid, nil, map[string]int{"stable": 1, "stale": 0}},
		{"stale: missed 2 ms after known, seen later", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 1000000, :index 1}
{:type :invoke, :f :read, :process 1, :time 3000000, :index 2}
{:type :ok, :f :read, :value #{}, :process 1, :time 3500000, :index 3}
{:type :invoke, :f :read, :process 1, :time 4000000, :index 4}
{:type :ok, :f :read, :value #{1}, :process 1, :time 5000000, :index 5}`,
			Valid, nil, map[string]int{"stable": 1, "stale": 1}},
		{"an unacknowledged add never seen is never-read", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :info, :f :add, :value 1, :process 0, :time 100, :index 1}
{:type :invoke, :f :add, :value 2, :process 1, :time 150, :index 2}
{:type :ok, :f :add, :value 2, :process 1, :time 160, :index 3}
{:type :invoke, :f :read, :process 1, :time 200, :index 4}
{:type :ok, :f :read, :value #{2}, :process 1, :time 300, :index 5}`,
			Valid, nil, map[string]int{"never-read": 1, "stable": 1}},
		{"duplicated", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 100, :index 1}
{:type :invoke, :f :read, :process 1, :time 200, :index 2}
{:type :ok, :f :read, :value [1 1], :process 1, :time 300, :index 3}`,
			Invalid, []string{"duplicated"}, map[string]int{"duplicated": 1}},
		{"nothing read back is unknown", `
{:type :invoke, :f :add, :value 1, :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :time 100, :index 1}`,
			Unknown, nil, map[string]int{"never-read": 1}},
		{"independent keys are judged apart", `
{:type :invoke, :f :add, :value [a 1], :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value [a 1], :process 0, :time 100, :index 1}
{:type :invoke, :f :add, :value [b 1], :process 0, :time 200, :index 2}
{:type :ok, :f :add, :value [b 1], :process 0, :time 300, :index 3}
{:type :invoke, :f :read, :value [a nil], :process 1, :time 400, :index 4}
{:type :ok, :f :read, :value [a #{1}], :process 1, :time 500, :index 5}
{:type :invoke, :f :read, :value [b nil], :process 1, :time 600, :index 6}
{:type :ok, :f :read, :value [b #{}], :process 1, :time 700, :index 7}`,
			Invalid, []string{"lost"}, map[string]int{"keys": 2, "lost": 1, "stable": 1}},
		// Jepsen's independent checker merges the keys' verdicts: one key
		// nothing was read back on is unknown, so the history is too.
		{"a key nothing was read back on is unknown", `
{:type :invoke, :f :add, :value [a 1], :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value [a 1], :process 0, :time 100, :index 1}
{:type :invoke, :f :add, :value [b 1], :process 0, :time 200, :index 2}
{:type :ok, :f :add, :value [b 1], :process 0, :time 300, :index 3}
{:type :invoke, :f :read, :value [a nil], :process 1, :time 400, :index 4}
{:type :ok, :f :read, :value [a #{1}], :process 1, :time 500, :index 5}`,
			Unknown, nil, map[string]int{"keys": 2, "stable": 1, "never-read": 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewSetFull().Check(context.Background(), readHistory(t, c.history))
			if r.Valid != c.valid || !slices.Equal(r.AnomalyKinds(), c.kinds) {
				t.Fatalf("verdict %v kinds %v, want %v %v\n%+v", r.Valid, r.AnomalyKinds(), c.valid, c.kinds, r.Anomalies)
			}
			for k, n := range c.counts {
				if r.Counts[k] != n {
					t.Errorf("count %s = %d, want %d (%v)", k, r.Counts[k], n, r.Counts)
				}
			}
		})
	}
}

func TestSetFullLostNamesKeyAndReads(t *testing.T) {
	r := NewSetFull().Check(context.Background(), readHistory(t, `
{:type :invoke, :f :add, :value [k 5], :process 0, :time 0, :index 0}
{:type :ok, :f :add, :value [k 5], :process 0, :time 100, :index 1}
{:type :invoke, :f :read, :value [k nil], :process 1, :time 200, :index 2}
{:type :ok, :f :read, :value [k #{5}], :process 1, :time 300, :index 3}
{:type :invoke, :f :read, :value [k nil], :process 1, :time 400, :index 4}
{:type :ok, :f :read, :value [k #{}], :process 1, :time 500, :index 5}`))
	if len(r.Anomalies) != 1 {
		t.Fatalf("%+v", r.Anomalies)
	}
	a := r.Anomalies[0]
	if a.Key != "k" || !slices.Equal(a.Ops, []int64{0, 1, 2, 4}) {
		t.Fatalf("anomaly %+v", a)
	}
	d := r.Details.(*SetFullDetails)
	if d.LostLatency == nil || d.LostLatency.N != 1 {
		t.Fatalf("details %+v", d)
	}
}

func TestBankAndSetAcceptJepsenReads(t *testing.T) {
	bank := readHistory(t, `
{:type :invoke, :f :read, :process 0, :index 0}
{:type :ok, :f :read, :value {0 100, 1 0}, :process 0, :index 1}
{:type :invoke, :f :read, :process 0, :index 2}
{:type :ok, :f :read, :value {0 90, 1 0}, :process 0, :index 3}`)
	r := NewBank(BankOptions{}).Check(context.Background(), bank)
	if r.Valid != Invalid || !slices.Equal(r.AnomalyKinds(), []string{"wrong-total"}) || r.Counts["reads"] != 2 {
		t.Fatalf("bank: %v %v %v", r.Valid, r.Anomalies, r.Counts)
	}
	set := readHistory(t, `
{:type :invoke, :f :add, :value 1, :process 0, :index 0}
{:type :ok, :f :add, :value 1, :process 0, :index 1}
{:type :invoke, :f :add, :value 2, :process 0, :index 2}
{:type :ok, :f :add, :value 2, :process 0, :index 3}
{:type :invoke, :f :read, :process 1, :index 4}
{:type :ok, :f :read, :value #{1}, :process 1, :index 5}`)
	r = NewSet().Check(context.Background(), set)
	if r.Valid != Invalid || !slices.Equal(r.AnomalyKinds(), []string{"lost"}) {
		t.Fatalf("set: %v %v", r.Valid, r.Anomalies)
	}
}

func TestKVUnpacksIndependentKeys(t *testing.T) {
	h := readHistory(t, `
{:type :invoke, :f :write, :value [1 3], :process 0, :index 0}
{:type :ok, :f :write, :value [1 3], :process 0, :index 1}
{:type :invoke, :f :write, :value [2 4], :process 0, :index 2}
{:type :ok, :f :write, :value [2 4], :process 0, :index 3}
{:type :invoke, :f :read, :value [1 nil], :process 1, :index 4}
{:type :ok, :f :read, :value [1 4], :process 1, :index 5}`)
	c, err := NewLinearizable(LinearizableOptions{Model: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Check(context.Background(), h)
	// Key 1 reads key 2's value: only visible once the tuples are keys.
	if r.Valid != Invalid || r.Counts["keys"] != 2 || len(r.Anomalies) != 1 || r.Anomalies[0].Key != "1" {
		t.Fatalf("%v %v %+v", r.Valid, r.Counts, r.Anomalies)
	}
}
