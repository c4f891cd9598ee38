package elle

import (
	"context"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
)

// benchOpts is the benchmark shape: 1–5 micro-ops per txn, a few
// hundred keys (256 active; each retires after 16 appends for a fresh
// one, as Elle's generator bounds writes per key), 30 processes, 2% failed
// and 1% info txns.
func benchOpts(txns int) genOpts {
	return genOpts{txns: txns, procs: 30, keys: 256, maxAppends: 16, failRate: 0.02, infoRate: 0.01, seed: 1}
}

// benchmarkListAppend checks a generated history of txns transactions.
// It reports wall-clock and CPU throughput (on a shared machine the CPU
// figure is the steadier one), the history's own heap, what one check
// allocates (B/op), and the peak of the heap above the history. With
// liveHeap, the GC runs at GOGC=5 so that peak tracks what the check
// holds live rather than garbage the default pacing leaves uncollected
// (with an 800 MiB history live, GOGC=100 lets a whole check's garbage
// pile up).
func benchmarkListAppend(b *testing.B, txns int, models []string, liveHeap bool) {
	benchmarkWorkload(b, "list-append", txns, models, liveHeap)
}

func benchmarkWorkload(b *testing.B, workload string, txns int, models []string, liveHeap bool) {
	o := benchOpts(txns)
	o.register = workload == "rw-register"
	h := genListAppend(o)
	c, err := NewChecker(Options{Workload: workload, Models: models})
	if err != nil {
		b.Fatal(err)
	}
	if liveHeap {
		defer debug.SetGCPercent(debug.SetGCPercent(5))
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc // the history, held throughout
	b.ReportAllocs()
	b.ResetTimer()
	var peak uint64
	var wall, cpu time.Duration
	for i := 0; i < b.N; i++ {
		stop := trackPeakHeap(&peak)
		c0, w0 := cpuTime(), time.Now()
		res := c.Check(context.Background(), h)
		wall += time.Since(w0)
		cpu += cpuTime() - c0
		stop()
		if res.Valid != checker.Valid {
			b.Fatalf("generated history judged %v: %v %v", res.Valid, res.Notes, res.Anomalies)
		}
	}
	b.ReportMetric(float64(txns)*float64(b.N)/wall.Seconds(), "txn/s")
	b.ReportMetric(float64(txns)*float64(b.N)/cpu.Seconds(), "txn/cpu-s")
	b.ReportMetric(float64(base)/(1<<20), "history-MiB")
	b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "check-peak-MiB")
}

// cpuTime is the CPU time this process used, user and system, all threads
// (the GC's included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// trackPeakHeap samples the heap every few milliseconds until stop is
// called, keeping the largest value.
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
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-finished }
}

func BenchmarkListAppend100k(b *testing.B) {
	benchmarkListAppend(b, 100_000, []string{"strict-serializable"}, false)
}

func BenchmarkListAppend100kSerializable(b *testing.B) {
	benchmarkListAppend(b, 100_000, []string{"serializable"}, false)
}

func BenchmarkListAppend1M(b *testing.B) {
	benchmarkListAppend(b, 1_000_000, []string{"strict-serializable"}, false)
}

func BenchmarkListAppend1MLiveHeap(b *testing.B) {
	benchmarkListAppend(b, 1_000_000, []string{"strict-serializable"}, true)
}

func BenchmarkRWRegister100k(b *testing.B) {
	benchmarkWorkload(b, "rw-register", 100_000, []string{"strict-serializable"}, false)
}
