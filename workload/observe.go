package workload

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

// processes tracks the highest process a workload's clients used, so its
// final reads run as fresh processes (a process that ended info never
// invokes again).
type processes struct {
	mu  sync.Mutex
	max int64
	any bool
}

func (p *processes) saw(process int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.any || process > p.max {
		p.max, p.any = process, true
	}
}

func (p *processes) fresh() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.any {
		p.max, p.any = 0, true
		return 0
	}
	p.max++
	return p.max
}

// observe records a final observation: the invocation inv, then what do
// returned, as a fresh process; it repeats until an attempt completes ok
// or ctx ends, under a new process after each info. Each attempt gets
// timeout.
func observe(ctx context.Context, rec Recorder, procs *processes, inv history.Op, timeout time.Duration,
	do func(ctx context.Context, inv history.Op) history.Op) error {
	process := procs.fresh()
	backoff := 50 * time.Millisecond
	for {
		inv.Type, inv.Process, inv.Index, inv.Time = history.Invoke, process, 0, 0
		in := rec.Record(inv)
		octx, cancel := context.WithTimeout(ctx, timeout)
		c := rec.Record(completion(in, do(octx, in), octx.Err()))
		cancel()
		switch c.Type {
		case history.OK:
			return nil
		case history.Info:
			process = procs.fresh()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("final %s: %w (last attempt: %s %s)", inv.F, ctx.Err(), c.Type, c.Error)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// retryUntil calls fn until it succeeds or ctx ends, backing off between
// attempts; for unrecorded setup steps on a cluster that may still be
// electing a leader.
func retryUntil(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}
