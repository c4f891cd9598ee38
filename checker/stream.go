package checker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/chaoscheck/chaoscheck/history"
)

// stream.go judges a history op by op, as history.Stream hands it out, so
// that analyze need not hold it: the linearizable checker keeps 24 bytes
// per operation it will search, stats a few counters and one latency per
// ok op, where the history itself takes 136 bytes per op and more.
//
// A streamed verdict is the verdict Check gives on the same history, or
// none: a Streamer that meets what it cannot judge without the history
// (Jepsen's independent-key tuples, a nonlinearizable key to explain)
// says so, and the caller reads the history whole and calls Check.

// StreamedOpBytes bounds what one op of a streamed history costs the
// linearizable and stats checkers: a 24-byte record per operation (two
// ops), a latency per ok op, the records' chunks, the open invocations.
const StreamedOpBytes = 48

// Streamer judges one history as its ops arrive.
type Streamer interface {
	// Observe takes the next op; op is not retained. ErrNeedsHistory (or
	// any error) means the history must be judged whole, with Check.
	Observe(op *history.Op) error
	// Result is the verdict once every op has been observed, as Check
	// would give it; complete is false when it needs the history after
	// all, and the caller must then call Check.
	Result(ctx context.Context) (r Result, complete bool)
}

// ErrNeedsHistory is a Streamer's answer to a history it cannot judge op
// by op.
var ErrNeedsHistory = errors.New("checker needs the whole history")

// streamable is a checker that can judge a history as a Streamer.
type streamable interface {
	streamer() (Streamer, bool)
}

// Stream returns a Streamer whose Result is Compose(cs...)'s, or false
// when one of the checkers must see the history whole.
func Stream(cs ...Checker) (Streamer, bool) {
	if len(cs) == 0 {
		return nil, false
	}
	ss := make(composedStreamer, len(cs))
	for i, c := range cs {
		sc, ok := c.(streamable)
		if !ok {
			return nil, false
		}
		if ss[i], ok = sc.streamer(); !ok {
			return nil, false
		}
	}
	return ss, true
}

type composedStreamer []Streamer

// Observe hands op to every checker. A panic is a bug in chaoscheck: it
// becomes an error here, and Check, run on the whole history, reports it
// the way Compose reports a checker that panics.
func (ss composedStreamer) Observe(op *history.Op) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: a checker panicked: %v", ErrNeedsHistory, p)
		}
	}()
	for _, s := range ss {
		if err := s.Observe(op); err != nil {
			return err
		}
	}
	return nil
}

// Result runs each checker's Result in its own goroutine, as Compose runs
// their Checks.
func (ss composedStreamer) Result(ctx context.Context) (Result, bool) {
	results := make([]Result, len(ss))
	complete := make([]bool, len(ss))
	var wg sync.WaitGroup
	for i, s := range ss {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					complete[i] = false // Check will report it
				}
			}()
			results[i], complete[i] = s.Result(ctx)
		})
	}
	wg.Wait()
	if slices.Contains(complete, false) {
		return Result{}, false
	}
	return composeResults(results), true
}

// streamer: the linearizable checker streams unless it must draw
// linear.html, which replays the history.
func (c *linearizable) streamer() (Streamer, bool) {
	if c.opts.OutDir != "" {
		return nil, false
	}
	return &linStreamer{c: c, gr: c.grouper()}, true
}

type linStreamer struct {
	c  *linearizable
	gr *linGrouper
}

func (s *linStreamer) Observe(op *history.Op) error {
	// A kv history without keys may be Jepsen's independent tuples, which
	// only the whole history tells (history.UnpackIndependent).
	if s.c.opts.Model == "kv" && op.IsClient() && op.Key == "" || s.gr.n == math.MaxInt32 {
		return ErrNeedsHistory
	}
	s.gr.observe(op)
	return nil
}

func (s *linStreamer) Result(ctx context.Context) (Result, bool) {
	return s.c.judge(ctx, nil, s.gr.finish())
}

func (statsChecker) streamer() (Streamer, bool) { return &statsStreamer{acc: newStatsAcc()}, true }

type statsStreamer struct{ acc *statsAcc }

func (s *statsStreamer) Observe(op *history.Op) error {
	s.acc.observe(op)
	return nil
}

func (s *statsStreamer) Result(ctx context.Context) (Result, bool) {
	if ctx.Err() != nil {
		return interruptedResult(ctx, s.acc.counted()), true
	}
	return s.acc.result(), true
}
