package checker

import (
	"context"
	"encoding/json"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// peakHeap samples the live heap every few milliseconds until stopped and
// returns the largest figure seen, in MiB.
func peakHeap() (stop func() float64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak) / (1 << 20)
	}
}

func benchmarkLinearizableKV(b *testing.B, n int) {
	h := kvgen.Linearizable(1, 10, 100, n)
	c, err := NewLinearizable(LinearizableOptions{Model: "kv", Init: json.Number("0")})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	stop := peakHeap()
	for b.Loop() {
		if r := c.Check(context.Background(), h); r.Valid != Valid {
			b.Fatalf("generated history judged %v: %+v %v", r.Valid, r.Anomalies, r.Notes)
		}
	}
	b.ReportMetric(stop(), "peak-heap-MiB")
}

// BenchmarkLinearizableKV100k: 10 clients, 100 keys, 100k operations.
func BenchmarkLinearizableKV100k(b *testing.B) { benchmarkLinearizableKV(b, 100_000) }

// BenchmarkLinearizableKV1M: 10 clients, 100 keys, 1M operations.
func BenchmarkLinearizableKV1M(b *testing.B) { benchmarkLinearizableKV(b, 1_000_000) }

// BenchmarkPorcupineDirectKV1M calls porcupine itself on the same
// operations, partitioned by key, as the baseline the checker must match:
// porcupine searches every partition at once. The history stays in memory,
// as it does for the checker (analyze holds the history it read).
func BenchmarkPorcupineDirectKV1M(b *testing.B) {
	h := kvgen.Linearizable(1, 10, 100, 1_000_000)
	lc, err := NewLinearizable(LinearizableOptions{Model: "kv", Init: json.Number("0")})
	if err != nil {
		b.Fatal(err)
	}
	c := lc.(*linearizable)
	var ops []porcupine.Operation
	for i, g := range c.groups(h) {
		ops = append(ops, g.operations(int32(i))...)
	}
	model := regModel(c.init, nil, true, h)
	runtime.GC()
	b.ResetTimer()
	stop := peakHeap()
	for b.Loop() {
		if !porcupine.CheckOperations(model, ops) {
			b.Fatal("porcupine judged the generated history nonlinearizable")
		}
	}
	b.ReportMetric(stop(), "peak-heap-MiB")
	runtime.KeepAlive(h)
}
