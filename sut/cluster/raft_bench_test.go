package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// The SUT's throughput: a 3-replica cluster on this machine (real
// processes, fsync on every Save and every Apply), 8 concurrent clients.
//
//	go test ./sut/cluster -run '^$' -bench Raft -benchtime 2000x

const benchClients = 8

func startBenchCluster(b *testing.B) *RaftCluster {
	b.Helper()
	ctx := context.Background()
	rc, err := StartRaft(ctx, RaftConfig{Dir: b.TempDir(), Tick: 50 * time.Millisecond, SnapshotEvery: 1000})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := rc.Stop(); err != nil {
			b.Errorf("stop: %v", err)
		}
	})
	if err := rc.WaitHealthy(ctx, 30*time.Second); err != nil {
		b.Fatal(err)
	}
	if _, _, err := rc.Client().Exec(ctx, "create", raftsql.Stmt{SQL: "CREATE TABLE IF NOT EXISTS kv (k INTEGER PRIMARY KEY, v INTEGER)"}); err != nil {
		b.Fatal(err)
	}
	return rc
}

// runClients runs op b.N times over benchClients goroutines and reports
// ops/s and latency percentiles.
func runClients(b *testing.B, unit string, op func(ctx context.Context, c *raftsql.Client, i int) error) {
	b.Helper()
	rc := startBenchCluster(b)
	ctx := context.Background()
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < benchClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := raftsql.NewClient(rc.APIs(), raftsql.ClientOptions{Timeout: 10 * time.Second})
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if err := op(ctx, c, i); err != nil {
					failed.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d %s failed", n, b.N, unit)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(float64(lat[b.N/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[b.N*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkRaftWrites: each op is one /exec (an INSERT OR REPLACE under a
// fresh request id), acknowledged once applied on the leader.
func BenchmarkRaftWrites(b *testing.B) {
	runClients(b, "writes", func(ctx context.Context, c *raftsql.Client, i int) error {
		_, _, err := c.Exec(ctx, fmt.Sprintf("bench-%d-%d", b.N, i),
			raftsql.Stmt{SQL: "INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", Args: []any{i % 100, i}})
		return err
	})
}

// BenchmarkRaftReads: each op is one linearizable /query (ReadIndex on the
// leader, then a point SELECT).
func BenchmarkRaftReads(b *testing.B) {
	runClients(b, "reads", func(ctx context.Context, c *raftsql.Client, i int) error {
		_, _, err := c.Query(ctx, "SELECT v FROM kv WHERE k = ?", i%100)
		return err
	})
}
