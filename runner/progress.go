package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// countingRecorder records through the history Recorder and keeps the
// tallies the progress line shows, so progress needs no second pass over
// the history and works when the Recorder retains no ops.
type countingRecorder struct {
	rec workload.Recorder
	// failed is called once when an op could not be recorded (Index -1):
	// the recorder records nothing more after that.
	failed     func()
	failedOnce sync.Once

	ok, fail, info atomic.Int64
	faults         atomic.Int64 // nemesis actions completed

	mu      sync.Mutex
	fault   string // the latest nemesis action, as the progress line shows it
	faultAt time.Time
}

func (c *countingRecorder) Record(op history.Op) history.Op {
	op = c.rec.Record(op)
	if op.Index < 0 && c.failed != nil {
		c.failedOnce.Do(c.failed)
	}
	if !op.IsClient() {
		c.mu.Lock()
		c.fault, c.faultAt = describeFault(op), time.Now()
		c.mu.Unlock()
		if op.Type != history.Invoke {
			c.faults.Add(1)
		}
		return op
	}
	switch op.Type {
	case history.OK:
		c.ok.Add(1)
	case history.Fail:
		c.fail.Add(1)
	case history.Info:
		c.info.Add(1)
	}
	return op
}

// currentFault says what the nemesis did last and how long ago.
func (c *countingRecorder) currentFault() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fault == "" {
		return "none yet"
	}
	return fmt.Sprintf("%s (%s ago)", c.fault, time.Since(c.faultAt).Round(time.Second))
}

func describeFault(op history.Op) string {
	s := op.F
	if op.Type == history.Invoke {
		s += "…"
	}
	if op.Value != nil {
		v := fmt.Sprint(op.Value)
		if b, err := json.Marshal(op.Value); err == nil {
			v = string(b)
		}
		if len(v) > 40 {
			v = v[:39] + "…"
		}
		s += " " + v
	}
	if op.Error != "" {
		s += " (error)"
	}
	return s
}

// progress shows the load phase: a live line on a terminal, a log line
// every few seconds otherwise (CI logs should not fill with \r frames).
type progress struct {
	w      io.Writer // nil: no progress at all
	tty    bool
	log    *slog.Logger
	rec    *countingRecorder
	start  time.Time
	limit  time.Duration
	rounds int
	faults bool          // a nemesis runs: show its latest action
	every  time.Duration // between updates
}

func newProgress(cfg Config, log *slog.Logger, rec *countingRecorder) *progress {
	p := &progress{w: cfg.Progress, log: log, rec: rec, start: time.Now(), limit: cfg.TimeLimit, rounds: cfg.Rounds,
		faults: cfg.Nemesis != "none"}
	if f, ok := cfg.Progress.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	p.every = 5 * time.Second
	if p.tty {
		p.every = 250 * time.Millisecond
	}
	return p
}

// run draws progress until ctx ends, then clears the live line.
func (p *progress) run(ctx context.Context) {
	if p.w == nil {
		return
	}
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if p.tty {
				fmt.Fprint(p.w, "\r\033[K")
			}
			return
		case <-t.C:
		}
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", p.line())
		} else {
			args := []any{"elapsed", time.Since(p.start).Round(time.Second), "of", p.of(),
				"ok", p.rec.ok.Load(), "fail", p.rec.fail.Load(), "info", p.rec.info.Load()}
			if p.faults {
				args = append(args, "fault", p.rec.currentFault())
			}
			p.log.Info("progress", args...)
		}
	}
}

// of is what the run lasts: a time limit, or a number of nemesis rounds.
func (p *progress) of() string {
	if p.limit > 0 {
		return p.limit.String()
	}
	return fmt.Sprintf("%d/%d rounds", p.rec.faults.Load(), p.rounds)
}

func (p *progress) line() string {
	s := fmt.Sprintf("%s / %s  ok %d  fail %d  info %d",
		time.Since(p.start).Round(time.Second), p.of(), p.rec.ok.Load(), p.rec.fail.Load(), p.rec.info.Load())
	if p.faults {
		s += "  fault: " + p.rec.currentFault()
	}
	return s
}
