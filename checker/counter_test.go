package checker

import (
	"context"
	"slices"
	"testing"
)

func TestCounterCheckerBoundsEveryRead(t *testing.T) {
	cases := []struct {
		name    string
		history string
		valid   Validity
		bad     [][]int64 // ops of each out-of-bounds anomaly
	}{
		{"the initial read is zero", `
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :value 0, :process 0}`, Valid, nil},
		{"a failed add never counts", `
{:type :invoke, :f :add, :value 1, :process 0}
{:type :fail, :f :add, :value 1, :process 0}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :value 1, :process 0}`, Invalid, [][]int64{{2, 3}}},
		{"an unfinished add may or may not have happened", `
{:type :invoke, :f :add, :value 1, :process 0}
{:type :invoke, :f :read, :process 1}
{:type :ok, :f :read, :value 0, :process 1}
{:type :invoke, :f :read, :process 1}
{:type :ok, :f :read, :value 1, :process 1}`, Valid, nil},
		{"a read above every add begun", `
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :read, :value 1, :process 0}`, Invalid, [][]int64{{0, 1}}},
		// Concurrent adds of 1, 2, 4 and 8 bound every concurrent read by
		// 0 and 15: 100 is out.
		{"concurrent reads and adds", `
{:type :invoke, :f :read, :process 0}
{:type :invoke, :f :add, :value 1, :process 1}
{:type :invoke, :f :read, :process 2}
{:type :invoke, :f :add, :value 2, :process 3}
{:type :invoke, :f :read, :process 4}
{:type :invoke, :f :add, :value 4, :process 5}
{:type :invoke, :f :read, :process 6}
{:type :invoke, :f :add, :value 8, :process 7}
{:type :invoke, :f :read, :process 8}
{:type :ok, :f :read, :value 6, :process 0}
{:type :ok, :f :add, :value 1, :process 1}
{:type :ok, :f :read, :value 0, :process 2}
{:type :ok, :f :add, :value 2, :process 3}
{:type :ok, :f :read, :value 3, :process 4}
{:type :ok, :f :add, :value 4, :process 5}
{:type :ok, :f :read, :value 100, :process 6}
{:type :ok, :f :add, :value 8, :process 7}
{:type :ok, :f :read, :value 15, :process 8}`, Invalid, [][]int64{{6, 15}}},
		// The add of 1 completed before the last read began: 5 is above
		// the 1 + 2 begun, and the lower bound is 1.
		{"rolling reads and adds", `
{:type :invoke, :f :read, :process 0}
{:type :invoke, :f :add, :value 1, :process 1}
{:type :ok, :f :read, :value 0, :process 0}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :add, :value 1, :process 1}
{:type :invoke, :f :add, :value 2, :process 1}
{:type :ok, :f :read, :value 3, :process 0}
{:type :invoke, :f :read, :process 0}
{:type :ok, :f :add, :value 2, :process 1}
{:type :ok, :f :read, :value 5, :process 0}`, Invalid, [][]int64{{7, 9}}},
		{"a read below the adds acknowledged before it", `
{:type :invoke, :f :add, :value 3, :process 0}
{:type :ok, :f :add, :process 0}
{:type :invoke, :f :read, :process 1}
{:type :ok, :f :read, :value 2, :process 1}`, Invalid, [][]int64{{2, 3}}},
		{"no read is unknown", `
{:type :invoke, :f :add, :value 1, :process 0}
{:type :ok, :f :add, :value 1, :process 0}`, Unknown, nil},
		{"a negative add is malformed, never valid", `
{:type :invoke, :f :add, :value -1, :process 0}
{:type :ok, :f :add, :value -1, :process 0}
{:type :invoke, :f :read, :process 1}
{:type :ok, :f :read, :value 0, :process 1}`, Unknown, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewCounter().Check(context.Background(), readHistory(t, c.history))
			if r.Valid != c.valid {
				t.Fatalf("verdict %v, want %v: %+v %v", r.Valid, c.valid, r.Anomalies, r.Notes)
			}
			var bad [][]int64
			for _, a := range r.Anomalies {
				if a.Kind == "out-of-bounds" {
					bad = append(bad, a.Ops)
				}
			}
			if !slices.EqualFunc(bad, c.bad, slices.Equal) {
				t.Errorf("out-of-bounds reads %v, want %v: %+v", bad, c.bad, r.Anomalies)
			}
		})
	}
}
