package checker

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// linearizable_memory.go keeps the linearizability search within a memory
// budget. porcupine's search caches every (linearized set, state) pair it
// visits, each with a bitset of the key's operations, and takes no memory
// limit: on a key with many concurrent info writes the cache grows without
// end (issue 16: 11 GB after two minutes on a 200k-op history). A watchdog
// samples the live heap and, when it reaches the budget, abandons the
// search that has cached the most; that key becomes unknown with a note,
// the other keys go on. A verdict is never made valid by giving up.

// linSearch is one porcupine search in progress, for one key or several.
type linSearch struct {
	stop  *atomic.Bool // the whole check's: its deadline or cancellation
	over  atomic.Bool  // this search's alone: the memory budget abandoned it
	steps atomic.Int64 // model steps that succeeded, each a likely cache entry
	nops  int
	// perStep is the bytes one successful step caches: 0 for porcupine's
	// search (a bitset of nops bits and the entry around it), else
	// regSearchBytesPerStep for the typed search.
	perStep int64
	budget  *linBudget // nil: none
}

// mayAllocate tells a search about to allocate n bytes in one piece
// whether the budget allows it. The heap is measured now, garbage
// included; when that says no, a GC tells the live heap for sure.
func (s *linSearch) mayAllocate(n int64) bool {
	b := s.budget
	if b == nil || b.limit <= 0 {
		return true
	}
	threshold := uint64(float64(b.limit) * linBudgetShare)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Uint64()+uint64(n) <= threshold {
		return true
	}
	runtime.GC()
	metrics.Read(sample)
	return sample[0].Value.Uint64()+uint64(n) <= threshold
}

func (s *linSearch) halted() bool { return s.stop.Load() || s.over.Load() }

// cached estimates the bytes the search's cache holds: per successful
// step, porcupine keeps a bitset of nops bits plus the entry around it.
func (s *linSearch) cached() int64 {
	if s.perStep > 0 {
		return s.steps.Load() * s.perStep
	}
	return s.steps.Load() * int64(s.nops/8+64)
}

// linBudget is the watchdog over the searches of one check.
type linBudget struct {
	limit int64 // bytes of live heap at which searches are abandoned; 0: none
	mu    sync.Mutex
	live  map[*linSearch]bool
	// victim was abandoned and has not returned yet; no other search is
	// abandoned until it has and a GC has measured the heap without it.
	victim    *linSearch
	abandoned int
}

// linBudgetShare is the part of the budget the live heap may take before a
// search is abandoned: the rest is room for garbage between collections
// and for the runtime's own memory, so that the process stays within the
// budget.
const linBudgetShare = 0.75

// linSmallSearch is the estimated cache below which a search is not
// abandoned while the live heap is still within the budget.
const linSmallSearch = 1 << 20

func newLinBudget(limit int64) *linBudget {
	return &linBudget{limit: limit, live: map[*linSearch]bool{}}
}

func (b *linBudget) begin(s *linSearch) {
	b.mu.Lock()
	b.live[s] = true
	b.mu.Unlock()
}

func (b *linBudget) end(s *linSearch) {
	b.mu.Lock()
	delete(b.live, s)
	b.mu.Unlock()
}

// watch runs until done is closed. It also makes the budget the Go
// runtime's soft memory limit while the check runs, when no lower limit is
// in force, so that garbage is collected before the budget is reached.
func (b *linBudget) watch(done <-chan struct{}) {
	if b.limit <= 0 {
		return
	}
	if prev := debug.SetMemoryLimit(-1); b.limit < prev {
		debug.SetMemoryLimit(b.limit)
		defer debug.SetMemoryLimit(prev)
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	threshold := uint64(float64(b.limit) * linBudgetShare)
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		b.mu.Lock()
		if v := b.victim; v != nil && !b.live[v] {
			b.victim = nil
			b.mu.Unlock()
			runtime.GC() // measure the heap without the abandoned cache
			continue
		}
		waiting := b.victim != nil
		b.mu.Unlock()
		if waiting {
			continue
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() < threshold {
			continue
		}
		live := sample[0].Value.Uint64()
		b.mu.Lock()
		var worst *linSearch
		for s := range b.live {
			if !s.over.Load() && (worst == nil || s.cached() > worst.cached()) {
				worst = s
			}
		}
		// A search that has cached little is not what fills the heap (the
		// history may, on its own): it is spared until the whole budget is
		// live, so small keys are still decided.
		if worst != nil && worst.cached() < linSmallSearch && live < uint64(b.limit) {
			worst = nil
		}
		if worst != nil {
			worst.over.Store(true)
			b.victim = worst
			b.abandoned++
		}
		b.mu.Unlock()
	}
}

// note says what the budget cost, for Result.Notes.
func (b *linBudget) note(keys []string) string {
	return fmt.Sprintf("memory budget of %s reached: the search of %d keys was abandoned (unknown): %s; give more memory (analyze --memory) to decide them",
		formatBytes(b.limit), len(keys), linList(keys, 10))
}

// formatBytes renders a byte count for people: 512 MiB, 1.5 GiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
