package raft

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

var haveBinary bool

func TestMain(m *testing.M) { testbin.Main(m, &haveBinary) }

// A list-append txn is one request on a real 3-node cluster: its reads come
// back filled, reads after its own appends see them, and a read-only txn
// reads every key at one state.
func TestListAppendTxnsOnARealCluster(t *testing.T) {
	if !haveBinary {
		t.Skip("integration test: needs the chaoscheck binary (not built with -short)")
	}
	for _, tc := range []struct {
		workload string
		txns     [][]any
		want     []string
	}{
		{"list-append", [][]any{
			{[]any{"append", int64(1), int64(1)}, []any{"r", int64(1), nil}, []any{"append", int64(2), int64(1)}},
			{[]any{"r", int64(1), nil}, []any{"r", int64(2), nil}, []any{"r", int64(3), nil}},
			{[]any{"append", int64(1), int64(2)}, []any{"r", int64(1), nil}},
		}, []string{
			"[[append 1 1] [r 1 [1]] [append 2 1]]",
			"[[r 1 [1]] [r 2 [1]] [r 3 []]]",
			"[[append 1 2] [r 1 [1 2]]]",
		}},
		{"rw-register", [][]any{
			{[]any{"r", int64(1), nil}, []any{"w", int64(1), int64(5)}, []any{"r", int64(1), nil}},
			{[]any{"r", int64(1), nil}, []any{"r", int64(2), nil}},
		}, []string{
			"[[r 1 <nil>] [w 1 5] [r 1 5]]",
			"[[r 1 5] [r 2 <nil>]]",
		}},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sys, err := Target{}.Boot(ctx, target.Env{Dir: t.TempDir(), Workload: tc.workload,
				WorkloadOptions: workload.Options{OpTimeout: 5 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sys.Stop(true) })
			d := sys.Driver()
			if err := d.Setup(ctx); err != nil {
				t.Fatal(err)
			}
			c, err := d.NewClient(0)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range tc.txns {
				done := c.Invoke(ctx, history.Op{Type: history.Invoke, F: "txn", Value: v})
				if done.Type != history.OK {
					t.Fatalf("txn %d: %s %s", i, done.Type, done.Error)
				}
				if got := fmt.Sprint(done.Value); got != tc.want[i] {
					t.Errorf("txn %d completed %s, want %s", i, got, tc.want[i])
				}
			}
			bad := c.Invoke(ctx, history.Op{Type: history.Invoke, F: "txn", Value: []any{[]any{"cas", int64(1), int64(2)}}})
			if bad.Type != history.Fail {
				t.Errorf("unknown micro-op completed %s, want fail", bad.Type)
			}
		})
	}
}
