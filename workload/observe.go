package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

// FinalReads performs ops (a workload's FinalOps, a target's own final
// observations) in order through clients of d. Each runs as a fresh
// process, from firstProcess up (above every process the load used: a
// process that ended info never invokes again), and is repeated until an
// attempt completes ok or ctx ends, under a new process after each info.
// Each attempt gets timeout. It returns the first process it did not use.
func FinalReads(ctx context.Context, ops []history.Op, d Driver, rec Recorder, firstProcess int64, timeout time.Duration) (int64, error) {
	next := firstProcess
	fresh := func() int64 { next++; return next - 1 }
	for _, op := range ops {
		if err := observe(ctx, rec, d, op, fresh, timeout); err != nil {
			return next, err
		}
	}
	return next, nil
}

// observe records one final observation: the invocation inv, then the
// completion a client returned, until one is ok or ctx ends. A process
// keeps its client until an attempt ends info.
func observe(ctx context.Context, rec Recorder, d Driver, inv history.Op, fresh func() int64, timeout time.Duration) error {
	var client Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	var process int64
	backoff := 50 * time.Millisecond
	for {
		if client == nil {
			process = fresh()
			var err error
			if client, err = d.NewClient(process); err != nil {
				return fmt.Errorf("final %s: client for process %d: %w", inv.F, process, err)
			}
		}
		inv.Type, inv.Process, inv.Index, inv.Time = history.Invoke, process, 0, 0
		in := rec.Record(inv)
		octx, cancel := context.WithTimeout(ctx, timeout)
		c := rec.Record(completion(in, client.Invoke(octx, in), octx.Err()))
		cancel()
		switch c.Type {
		case history.OK:
			return nil
		case history.Info:
			client.Close()
			client = nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("final %s: %w (last attempt: %s %s)", inv.F, ctx.Err(), c.Type, c.Error)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// RetryUntil calls fn until it succeeds or ctx ends, backing off between
// attempts: for a driver's unrecorded setup steps on a cluster that may
// still be electing a leader.
func RetryUntil(ctx context.Context, what string, fn func(ctx context.Context) error) error {
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
