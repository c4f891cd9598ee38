package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/workload"
)

// driver is the workload.Driver of a booted process system: it starts the
// user's client program, one per history process.
type driver struct {
	argv, env []string
	dir       string // the config's directory: the program's working directory
	hello     hello  // Process left nil; each session sets its own
	start     time.Duration
	log       io.Writer // clients.log
	remarks   *slog.Logger

	mu     sync.Mutex
	live   map[*program]bool
	closed bool
	warned int // protocol errors logged so far (the history has them all)
	// spare is a program started ahead of the next NewClient, so a worker
	// whose op ended info goes on without waiting for an interpreter to
	// start (about a second for Python on a loaded 2-core machine).
	spare *program
}

// Closing grace: a program gets this long to exit on EOF before SIGKILL.
const closeGrace = time.Second

// open starts a program and completes the hello for process (nil: the
// setup session).
func (d *driver) open(ctx context.Context, process *int64) (*program, error) {
	label := "setup client"
	if process != nil {
		label = fmt.Sprintf("client process %d", *process)
	}
	p, err := d.take(label, process != nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.start)
	defer cancel()
	h := d.hello
	h.Process = process
	msg, _ := json.Marshal(h)
	err = p.send(ctx, msg)
	var line []byte
	if err == nil {
		line, err = p.recv(ctx)
		if errors.Is(err, errNoAnswer) {
			err = fmt.Errorf("%s: no answer to the hello within %v (client.start_timeout)", label, d.start)
		}
	}
	if err == nil {
		var a answer
		if a, err = parseAnswer(line); err == nil && a.Type != "ready" {
			err = fmt.Errorf("answered %s, want {\"type\":\"ready\"}", quote(line))
		}
		if err != nil {
			err = fmt.Errorf("%s: hello: %w%s", label, err, p.gone())
		}
	}
	if err != nil {
		d.end(p, false)
		return nil, fmt.Errorf("process target: client program %q: %w", d.argv, err)
	}
	return p, nil
}

// take returns a started program: the spare when there is a live one
// and spare is true (then another spare starts in the background), else
// a new one.
func (d *driver) take(label string, spare bool) (*program, error) {
	if spare {
		d.mu.Lock()
		p := d.spare
		d.spare = nil
		d.mu.Unlock()
		go d.refill()
		if p != nil && p.alive() {
			p.relabel(label)
			return p, nil
		}
		if p != nil {
			d.end(p, false) // died while waiting: start afresh, so its failure shows
		}
	}
	p, err := startProgram(label, d.argv, d.env, d.dir, d.log)
	if err != nil {
		return nil, fmt.Errorf("process target: client program: %w", err)
	}
	if !d.track(p) {
		p.kill()
		return nil, errors.New("process target: system stopped")
	}
	return p, nil
}

// refill starts a spare program unless there is one.
func (d *driver) refill() {
	p, err := startProgram("spare client", d.argv, d.env, d.dir, d.log)
	if err != nil {
		return // the next take starts one itself and reports the error
	}
	if !d.track(p) {
		p.kill()
		return
	}
	d.mu.Lock()
	if d.spare == nil && !d.closed {
		d.spare = p
		p = nil
	}
	d.mu.Unlock()
	if p != nil {
		d.end(p, false)
	}
}

func (d *driver) track(p *program) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.live[p] = true
	return true
}

// end stops p, gently (EOF, then SIGKILL after closeGrace) or at once.
func (d *driver) end(p *program, gently bool) {
	if gently {
		p.close(closeGrace)
	} else {
		p.kill()
	}
	d.mu.Lock()
	delete(d.live, p)
	d.mu.Unlock()
}

// closeAll kills every program still running; no new one starts after.
func (d *driver) closeAll() {
	d.mu.Lock()
	d.closed = true
	ps := make([]*program, 0, len(d.live))
	for p := range d.live {
		ps = append(ps, p)
	}
	d.mu.Unlock()
	for _, p := range ps {
		d.end(p, false)
	}
}

// setupTimeout caps Setup when ctx has no earlier deadline.
const setupTimeout = 2 * time.Minute

// Setup runs the setup session: {"type":"setup"} until the program
// answers ok. fail and info mean "not yet" (the system may still be
// electing); a broken program (bad hello, garbage, exit) is an error at
// once, since asking again would not mend it.
func (d *driver) Setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	p, err := d.open(ctx, nil)
	if err != nil {
		return err
	}
	defer d.end(p, true)
	var last string
	for {
		if err := p.send(ctx, []byte(`{"type":"setup"}`)); err != nil {
			return fmt.Errorf("process target: setup: %w", err)
		}
		line, err := p.recv(ctx)
		if err != nil {
			if last != "" {
				err = fmt.Errorf("%w (last answer: %s)", err, last)
			}
			return fmt.Errorf("process target: setup: %w", err)
		}
		a, err := parseAnswer(line)
		if err != nil {
			return fmt.Errorf("process target: setup: %s: %w", p.label, err)
		}
		switch history.Type(a.Type) {
		case history.OK:
			return nil
		case history.Fail, history.Info:
			last = quote(line)
		default:
			return fmt.Errorf("process target: setup: %s answered %s, want type ok, fail or info", p.label, quote(line))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process target: setup did not succeed: %w (last answer: %s)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// NewClient starts the client program for process and completes its
// hello. A program that cannot start or does not say ready is an error
// naming the command and the end of its stderr.
func (d *driver) NewClient(process int64) (workload.Client, error) {
	p, err := d.open(context.Background(), &process)
	if err != nil {
		return nil, err
	}
	return &client{d: d, p: p}, nil
}

// client is one history process: one program, one op at a time.
type client struct {
	d *driver
	p *program // nil once ended by a protocol error or a timeout
}

// Invoke sends the invocation and waits for its completion until ctx (the
// op timeout) ends. Anything but a well-formed answer to this op leaves
// the outcome unknown: the op is info and the program is killed (the
// worker continues as a new process, with a new program).
func (c *client) Invoke(ctx context.Context, op history.Op) history.Op {
	if c.p == nil {
		return c.info(op, errors.New("client program already ended"), false)
	}
	msg, err := json.Marshal(op)
	if err != nil {
		// The op came from a generator; it cannot reach the program.
		op.Type, op.Error = history.Fail, "process target: op not encodable: "+err.Error()
		return op
	}
	if err := c.p.send(ctx, msg); err != nil {
		return c.info(op, err, true)
	}
	line, err := c.p.recv(ctx)
	if err != nil {
		if errors.Is(err, errNoAnswer) {
			// Expected under faults: not a failure of the program.
			return c.info(op, fmt.Errorf("timeout: %s gave no completion within the op timeout", c.p.label), false)
		}
		return c.info(op, err, true)
	}
	done, err := completion(op, line)
	if err != nil {
		return c.info(op, fmt.Errorf("%s: protocol error: %w", c.p.label, err), true)
	}
	return done
}

// info records why op's outcome is unknown and ends the program.
func (c *client) info(op history.Op, err error, warn bool) history.Op {
	if c.p != nil {
		c.d.end(c.p, false)
		c.p = nil
	}
	if warn {
		c.d.warn(err)
	}
	op.Type, op.Error = history.Info, err.Error()
	return op
}

// warn logs the first few client-program failures; the history keeps
// every one in its ops' error field.
func (d *driver) warn(err error) {
	d.mu.Lock()
	d.warned++
	n := d.warned
	d.mu.Unlock()
	if n <= 5 {
		d.remarks.Warn("process target: client program failure; op recorded as info", "err", err)
	}
}

// Close ends the program: EOF on stdin, SIGKILL if it lingers.
func (c *client) Close() error {
	if c.p != nil {
		c.d.end(c.p, true)
		c.p = nil
	}
	return nil
}

// lockedWriter serializes writes from many programs' stderr copiers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
