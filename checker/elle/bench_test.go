package elle

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
)

// benchOpts is the benchmark shape: 1–5 micro-ops per txn, a few
// hundred keys, 30 processes, a few failed and info txns.
func benchOpts(txns int) genOpts {
	return genOpts{txns: txns, procs: 30, keys: 256, maxAppends: 16, failRate: 0.02, infoRate: 0.01, seed: 1}
}

func benchmarkListAppend(b *testing.B, txns int, models []string) {
	h := genListAppend(benchOpts(txns))
	c, err := NewChecker(Options{Workload: "list-append", Models: models})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	for i := 0; i < b.N; i++ {
		stop := trackPeakHeap(&peak)
		start := time.Now()
		res := c.Check(context.Background(), h)
		el := time.Since(start)
		stop()
		if res.Valid != checker.Valid {
			b.Fatalf("generated history judged %v: %v %v", res.Valid, res.Notes, res.Anomalies)
		}
		b.ReportMetric(float64(txns)/el.Seconds(), "txn/s")
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// trackPeakHeap samples the live heap every few milliseconds until stop is
// called, keeping the largest value: B/op counts every allocation, not
// what is held at once.
func trackPeakHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > *peak {
				*peak = ms.HeapAlloc
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

func BenchmarkListAppend100k(b *testing.B) {
	benchmarkListAppend(b, 100_000, []string{"strict-serializable"})
}

func BenchmarkListAppend100kSerializable(b *testing.B) {
	benchmarkListAppend(b, 100_000, []string{"serializable"})
}

func BenchmarkListAppend1M(b *testing.B) {
	benchmarkListAppend(b, 1_000_000, []string{"strict-serializable"})
}
