package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// ProcSpec says how to start one node process.
type ProcSpec struct {
	Name    string   // node name, e.g. "n1" or "p2"; used in logs and errors
	Bin     string   // the chaoscheck binary
	Args    []string // e.g. ["node", "raft", "--id", "1", …]
	Dir     string   // working directory; node.log goes here unless LogPath is set
	LogPath string   // stdout and stderr are appended here
	Env     []string // extra environment (KEY=VALUE), e.g. GOFAIL_FAILPOINTS
	// Credential, when set, runs the process as another user (PostgreSQL
	// refuses to run as root). Dir must be usable by that user.
	Credential *syscall.Credential
}

// Proc is one node process that can be killed and started again with the
// same spec (and so the same data dir).
type Proc struct {
	spec ProcSpec

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current process has been reaped
	paused bool
	exit   error // how the last process ended
}

// NewProc returns a Proc that is not running yet.
func NewProc(spec ProcSpec) *Proc {
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(spec.Dir, "node.log")
	}
	return &Proc{spec: spec}
}

// StartProc creates a Proc and starts it.
func StartProc(spec ProcSpec) (*Proc, error) {
	p := NewProc(spec)
	return p, p.Start()
}

// Spec returns the spec the process runs with.
func (p *Proc) Spec() ProcSpec { return p.spec }

// Name is the node's name.
func (p *Proc) Name() string { return p.spec.Name }

// SetEnv replaces the extra environment used by the next Start.
func (p *Proc) SetEnv(env []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.spec.Env = append([]string(nil), env...)
}

// Start starts the process; it is an error if it is already running.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return fmt.Errorf("node %s: already running (pid %d)", p.spec.Name, p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(p.spec.Dir, 0o755); err != nil {
		return fmt.Errorf("node %s: %w", p.spec.Name, err)
	}
	logf, err := os.OpenFile(p.spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("node %s: open log: %w", p.spec.Name, err)
	}
	cmd := exec.Command(p.spec.Bin, p.spec.Args...)
	cmd.Dir = p.spec.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), p.spec.Env...)
	// Own process group so a kill reaches anything the node forks; the
	// parent-death signal so a crashed or interrupted runner leaves no
	// node behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.spec.Credential}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("node %s: start %s: %w", p.spec.Name, p.spec.Bin, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.paused, p.exit = cmd, done, false, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exit = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *Proc) runningLocked() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Running reports whether the process is alive (paused counts as alive).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

// Paused reports whether the process is stopped by Pause.
func (p *Proc) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.runningLocked()
}

// Pid is the current process id, or 0 when not running.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Exited returns a channel closed when the current process has been reaped
// (nil when never started), and how it ended once closed.
func (p *Proc) Exited() (<-chan struct{}, func() error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done, func() error { p.mu.Lock(); defer p.mu.Unlock(); return p.exit }
}

func (p *Proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return fmt.Errorf("node %s: not running", p.spec.Name)
	}
	// Negative pid: the whole process group.
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("node %s: %v: %w", p.spec.Name, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return nil
}

// Kill sends SIGKILL to the node's process group and waits until it is
// reaped: no fsync, no shutdown hook, what a power cut does to a process.
// Killing a node that is not running is a no-op.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil && p.Running() {
		return err
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("node %s: not reaped 10s after SIGKILL", p.spec.Name)
	}
}

// Restart kills the node (if running) and starts it on the same data dir.
func (p *Proc) Restart() error {
	if err := p.Kill(); err != nil {
		return err
	}
	return p.Start()
}

// Pause stops the node with SIGSTOP: it keeps its sockets and state but
// answers nothing, like a long GC pause or a stalled VM.
func (p *Proc) Pause() error { return p.signal(syscall.SIGSTOP) }

// Resume continues a paused node with SIGCONT.
func (p *Proc) Resume() error { return p.signal(syscall.SIGCONT) }

// Stop asks the node to exit (SIGTERM, after SIGCONT in case it is
// paused), waits up to grace, then kills it.
func (p *Proc) Stop(grace time.Duration) error {
	if !p.Running() {
		return nil
	}
	_ = p.signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(grace):
		return p.Kill()
	}
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. The ports are
// released before returning, so another process can in principle take one
// first; callers retry the start of a node whose port was taken.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Binary returns the chaoscheck binary to start nodes from: $CHAOSCHECK_BIN
// when set (tests point it at a freshly built binary), otherwise the
// running executable.
func Binary() (string, error) {
	if b := os.Getenv("CHAOSCHECK_BIN"); b != "" {
		return b, nil
	}
	return os.Executable()
}

// WaitFor polls cond every interval until it returns true, ctx ends or
// the deadline passes; it returns the last error cond gave, if any, so a
// timeout says what was still wrong.
func WaitFor(ctx context.Context, timeout, interval time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
