package workload

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
)

// Stats summarizes what Run did.
type Stats struct {
	Invoked   int64 // invocations recorded
	OK        int64 // completions by type
	Fail      int64
	Info      int64
	Processes int64 // processes used (one per worker, plus one per info)
	// NextProcess is above every process the load used: where the final
	// reads start.
	NextProcess int64
	Elapsed     time.Duration // from start until the last worker stopped
}

// Run is the worker loop. It starts opts.Concurrency workers; worker w
// acts as process w. Each op: the generator's next invocation is recorded,
// the client performs it under opts.OpTimeout, and its completion is
// recorded. A completion of type info ends that process (Jepsen: the op
// may still take effect at any time, so the process stays "in flight"
// forever): the worker continues as process + Concurrency with a new
// client.
//
// Run stops issuing ops when opts.TimeLimit has passed or ctx ends. An op
// in flight when the time limit passes is finished normally; one in flight
// when ctx ends is cancelled and recorded as info. Either way no
// invocation is left without a completion. Run returns ctx's error when
// ctx ended it, nil when the time limit did.
func Run(ctx context.Context, w Workload, d Driver, rec Recorder, opts Options) (Stats, error) {
	opts = opts.WithDefaults()
	start := time.Now()
	issue := ctx // while issue is live, workers start new ops
	if opts.TimeLimit > 0 {
		var cancel context.CancelFunc
		issue, cancel = context.WithTimeout(ctx, opts.TimeLimit)
		defer cancel()
	}

	l := &loop{
		w: w, d: d, rec: rec, opts: opts,
		gen:   w.Generator(opts.Seed),
		limit: newLimiter(opts.Rate),
	}
	var wg sync.WaitGroup
	errs := make([]error, opts.Concurrency)
	for i := range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.worker(ctx, issue, int64(i))
		}()
	}
	wg.Wait()

	l.mu.Lock()
	st := l.stats
	l.mu.Unlock()
	st.Elapsed = time.Since(start)
	for _, err := range errs {
		if err != nil {
			return st, err
		}
	}
	return st, ctx.Err()
}

// loop is the state the workers of one Run share.
type loop struct {
	w     Workload
	d     Driver
	rec   Recorder
	opts  Options
	limit *limiter

	mu    sync.Mutex // serializes the generator; guards stats
	gen   Generator
	stats Stats
}

// worker runs ops until issue ends. ctx bounds the op in flight.
func (l *loop) worker(ctx, issue context.Context, process int64) error {
	client, err := l.open(process)
	if err != nil {
		return err
	}
	for issue.Err() == nil {
		if l.limit.wait(issue) != nil {
			break
		}
		done := l.step(ctx, client, process)
		if done.Type == history.Info {
			client.Close()
			process += int64(l.opts.Concurrency)
			if client, err = l.open(process); err != nil {
				return err
			}
		}
	}
	client.Close()
	return nil
}

func (l *loop) open(process int64) (Client, error) {
	c, err := l.d.NewClient(process)
	if err != nil {
		return nil, fmt.Errorf("workload %s: client for process %d: %w", l.w.Name(), process, err)
	}
	l.mu.Lock()
	l.stats.Processes++
	l.stats.NextProcess = max(l.stats.NextProcess, process+1)
	l.mu.Unlock()
	return c, nil
}

// step performs one op and returns its recorded completion.
func (l *loop) step(ctx context.Context, client Client, process int64) history.Op {
	l.mu.Lock()
	op := l.gen.Next(process)
	l.mu.Unlock()
	op.Type, op.Process, op.Index, op.Time = history.Invoke, process, 0, 0
	op.Node, op.Error = "", ""
	inv := l.rec.Record(op)

	opCtx, cancel := context.WithTimeout(ctx, l.opts.OpTimeout)
	c := client.Invoke(opCtx, inv)
	cancel()
	done := l.rec.Record(completion(inv, c, ctx.Err()))

	l.mu.Lock()
	defer l.mu.Unlock()
	if u, ok := l.gen.(Updater); ok {
		u.Update(done)
	}
	l.stats.Invoked++
	switch done.Type {
	case history.OK:
		l.stats.OK++
	case history.Fail:
		l.stats.Fail++
	default:
		l.stats.Info++
	}
	return done
}

// completion makes c a well-formed completion of inv: same process, f, key
// and tx_id, and a completion type. A client that returned no completion
// type leaves the outcome unknown, so it is info.
func completion(inv, c history.Op, ctxErr error) history.Op {
	c.Index, c.Time = 0, 0
	c.Process, c.F = inv.Process, inv.F
	if c.Key == "" {
		c.Key = inv.Key
	}
	if c.TxID == "" {
		c.TxID = inv.TxID
	}
	switch c.Type {
	case history.OK, history.Fail, history.Info:
	default:
		c.Type = history.Info
		if c.Error == "" {
			c.Error = "client returned no completion"
			if ctxErr != nil {
				c.Error = ctxErr.Error()
			}
		}
		if c.Value == nil {
			c.Value = inv.Value
		}
	}
	return c
}

// limiter spaces op starts over all workers 1/rate apart.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return nil
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until this caller's slot comes, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
