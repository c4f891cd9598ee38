package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// memRecorder is an in-memory Recorder: it stamps Index densely and Time
// from a monotonic start, as history.Recorder does.
type memRecorder struct {
	mu    sync.Mutex
	start time.Time
	h     history.History
}

func newMemRecorder() *memRecorder { return &memRecorder{start: time.Now()} }

func (r *memRecorder) Record(op history.Op) history.Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = int64(len(r.h))
	op.Time = int64(time.Since(r.start))
	r.h = append(r.h, op)
	return op
}

func (r *memRecorder) History() history.History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(history.History(nil), r.h...)
}

// fakeWorkload drives fakeClients: an in-process stand-in for a system,
// to test the loop, not a SUT.
type fakeWorkload struct {
	invoke func(ctx context.Context, op history.Op) history.Op
	opened sync.Map // process → true
	closed atomic.Int64
}

// fakeWorkload is both the workload and its driver.
func (*fakeWorkload) Name() string                      { return "fake" }
func (*fakeWorkload) Setup(context.Context) error       { return nil }
func (*fakeWorkload) Checkers(string) []checker.Checker { return nil }
func (*fakeWorkload) FinalOps() []history.Op            { return []history.Op{{F: "read-all"}} }
func (*fakeWorkload) Generator(seed int64) Generator    { return &counterGen{} }

func (w *fakeWorkload) NewClient(process int64) (Client, error) {
	if _, dup := w.opened.LoadOrStore(process, true); dup {
		return nil, fmt.Errorf("process %d opened twice", process)
	}
	return fakeClient{w}, nil
}

type fakeClient struct{ w *fakeWorkload }

func (c fakeClient) Invoke(ctx context.Context, op history.Op) history.Op { return c.w.invoke(ctx, op) }
func (c fakeClient) Close() error                                         { c.w.closed.Add(1); return nil }

// counterGen writes 0, 1, 2 … to key "k".
type counterGen struct{ n int64 }

func (g *counterGen) Next(int64) history.Op {
	g.n++
	return history.Op{F: "write", Key: "k", Value: g.n}
}

func okAfter(d time.Duration) func(ctx context.Context, op history.Op) history.Op {
	return func(ctx context.Context, op history.Op) history.Op {
		select {
		case <-time.After(d):
			op.Type = history.OK
		case <-ctx.Done():
			op.Type, op.Error = history.Info, ctx.Err().Error()
		}
		return op
	}
}

// checkWellFormed fails t unless every process alternates invoke and
// completion, no process invokes after an info, and no invocation is left
// open.
func checkWellFormed(t *testing.T, h history.History) {
	t.Helper()
	open := map[int64]history.Op{}
	dead := map[int64]history.Op{}
	for i, op := range h {
		if op.Index != int64(i) {
			t.Fatalf("op %d has index %d", i, op.Index)
		}
		if op.Type == history.Invoke {
			if prev, ok := open[op.Process]; ok {
				t.Fatalf("process %d invokes %+v while %+v is open", op.Process, op, prev)
			}
			if info, ok := dead[op.Process]; ok {
				t.Fatalf("process %d invokes %+v after its info %+v", op.Process, op, info)
			}
			open[op.Process] = op
			continue
		}
		inv, ok := open[op.Process]
		if !ok {
			t.Fatalf("completion %+v without invocation", op)
		}
		if inv.F != op.F || inv.Key != op.Key {
			t.Fatalf("completion %+v does not match invocation %+v", op, inv)
		}
		delete(open, op.Process)
		if op.Type == history.Info {
			dead[op.Process] = op
		}
	}
	for _, op := range open {
		t.Errorf("invocation left open: %+v", op)
	}
}

func TestRunStopsAtTimeLimitWithNoOpenInvocation(t *testing.T) {
	w := &fakeWorkload{invoke: okAfter(3 * time.Millisecond)}
	rec := newMemRecorder()
	st, err := Run(context.Background(), w, w, rec, Options{Concurrency: 4, TimeLimit: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := rec.History()
	checkWellFormed(t, h)
	if st.Invoked < 20 || st.OK != st.Invoked || int64(len(h)) != 2*st.Invoked {
		t.Fatalf("stats %+v, %d ops recorded", st, len(h))
	}
	if st.Processes != 4 || w.closed.Load() != 4 {
		t.Fatalf("processes %d, clients closed %d; want 4 and 4", st.Processes, w.closed.Load())
	}
}

func TestRunInfoMovesWorkerToNewProcess(t *testing.T) {
	var n atomic.Int64
	w := &fakeWorkload{invoke: func(ctx context.Context, op history.Op) history.Op {
		if n.Add(1)%3 == 0 {
			op.Type, op.Error = history.Info, "timeout"
			return op
		}
		op.Type = history.OK
		return op
	}}
	rec := newMemRecorder()
	const conc = 3
	st, err := Run(context.Background(), w, w, rec, Options{Concurrency: conc, TimeLimit: 100 * time.Millisecond, Rate: 300})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	h := rec.History()
	checkWellFormed(t, h)
	if st.Info == 0 {
		t.Fatalf("no info completions: %+v", st)
	}
	// Worker w's processes are w, w+conc, w+2conc …: each one's
	// predecessor ended with an info.
	infos := map[int64]bool{}
	for _, op := range h {
		if op.Type == history.Info {
			infos[op.Process] = true
		}
		if op.Type == history.Invoke && op.Process >= conc && !infos[op.Process-conc] {
			t.Fatalf("process %d invoked %+v but process %d had no info", op.Process, op, op.Process-conc)
		}
	}
	if want := conc + st.Info; st.Processes != want {
		t.Fatalf("processes %d, want %d (one per worker plus one per info)", st.Processes, want)
	}
}

func TestRunCancelRecordsInFlightOpsAsInfo(t *testing.T) {
	started := make(chan struct{}, 16)
	w := &fakeWorkload{invoke: func(ctx context.Context, op history.Op) history.Op {
		started <- struct{}{}
		<-ctx.Done()        // the system never answers
		return history.Op{} // and the client reports nothing
	}}
	rec := newMemRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, w, w, rec, Options{Concurrency: 2, OpTimeout: time.Minute})
		done <- err
	}()
	<-started
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	h := rec.History()
	checkWellFormed(t, h)
	if len(h) != 4 {
		t.Fatalf("want 2 invocations and 2 completions, got %v", h)
	}
	for _, op := range h[2:] {
		if op.Type != history.Info || op.Error == "" || op.Value == nil {
			t.Fatalf("in-flight op completed as %+v, want info with error and the invoked value", op)
		}
	}
}

func TestRunOpTimeoutIsInfo(t *testing.T) {
	w := &fakeWorkload{invoke: okAfter(time.Hour)}
	rec := newMemRecorder()
	st, err := Run(context.Background(), w, w, rec, Options{Concurrency: 1, OpTimeout: 20 * time.Millisecond, TimeLimit: 70 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkWellFormed(t, rec.History())
	if st.Info < 2 || st.OK != 0 {
		t.Fatalf("stats %+v: want only info completions", st)
	}
}

func TestRunRateLimitsAcrossWorkers(t *testing.T) {
	w := &fakeWorkload{invoke: okAfter(0)}
	rec := newMemRecorder()
	st, err := Run(context.Background(), w, w, rec, Options{Concurrency: 8, Rate: 100, TimeLimit: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// 100/s for 0.3s: about 30 ops, whatever the concurrency.
	if st.Invoked < 15 || st.Invoked > 40 {
		t.Fatalf("%d ops in 300ms at 100/s", st.Invoked)
	}
}

func TestRunSerializesGeneratorInOrder(t *testing.T) {
	w := &fakeWorkload{invoke: okAfter(time.Millisecond)}
	rec := newMemRecorder()
	if _, err := Run(context.Background(), w, w, rec, Options{Concurrency: 5, TimeLimit: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// The shared generator yields 1, 2, 3 …: the invocations hold each
	// value exactly once, whichever worker got it.
	seen := map[int64]bool{}
	var max int64
	for _, op := range rec.History() {
		if op.Type != history.Invoke {
			continue
		}
		v := op.Value.(int64)
		if seen[v] {
			t.Fatalf("value %d generated twice", v)
		}
		seen[v] = true
		if v > max {
			max = v
		}
	}
	if int64(len(seen)) != max {
		t.Fatalf("values 1..%d with %d distinct: the generator skipped some", max, len(seen))
	}
}
