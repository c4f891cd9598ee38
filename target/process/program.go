package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// program is one running client program: its stdin to write messages to
// and a stream of its stdout lines.
type program struct {
	label string // "client process 3", for errors
	cmd   *exec.Cmd
	stdin *os.File
	lines chan []byte   // stdout lines; closed at EOF or on a line over maxLine
	eof   error         // why lines closed (read once lines is closed)
	done  chan struct{} // closed once the process has been reaped
	exit  error         // how it ended (read once done is closed)
	tail  *tailWriter   // the end of its stderr, for error messages

	quit     chan struct{} // closed by close or kill: stop reading
	quitOnce sync.Once
}

// startProgram starts argv in dir with env added to chaoscheck's own,
// its stderr appended, line by line under label, to log.
func startProgram(label string, argv, env []string, dir string, log io.Writer) (*program, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p := &program{label: label, stdin: inW, lines: make(chan []byte, 1), done: make(chan struct{}),
		quit: make(chan struct{}), tail: &tailWriter{prefix: "[" + label + "] ", log: log}}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.tail
	// Own process group, so a kill reaches what it forked; parent-death
	// signal, so none outlives chaoscheck.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second // a grandchild holding stderr open must not stall Wait
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%s: start %q: %w", label, argv[0], err)
	}
	p.cmd = cmd
	go func() {
		p.exit = cmd.Wait()
		close(p.done)
	}()
	go p.read(outR)
	return p, nil
}

func (p *program) read(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxLine {
			p.eof = fmt.Errorf("wrote a line longer than %d bytes", maxLine)
			close(p.lines)
			return
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if len(bytes.TrimSpace(line)) > 0 && !p.deliver(line) { // a last line without its newline still counts
				return
			}
			p.eof = err
			close(p.lines)
			return
		}
		if len(bytes.TrimSpace(line)) > 0 && !p.deliver(bytes.TrimRight(line, "\r\n")) {
			return
		}
		line = nil
	}
}

// alive says whether the program has not exited yet.
func (p *program) alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// relabel names a spare program once it is given a process.
func (p *program) relabel(label string) {
	p.label = label
	p.tail.mu.Lock()
	p.tail.prefix = "[" + label + "] "
	p.tail.mu.Unlock()
}

// deliver hands a line to recv; false once the program is being ended.
func (p *program) deliver(line []byte) bool {
	select {
	case p.lines <- line:
		return true
	case <-p.quit:
		return false
	}
}

// send writes one message line, giving up when ctx ends (a program that
// stopped reading must not block chaoscheck).
func (p *program) send(ctx context.Context, msg []byte) error {
	if dl, ok := ctx.Deadline(); ok {
		p.stdin.SetWriteDeadline(dl)
	}
	_, err := p.stdin.Write(append(msg, '\n'))
	p.stdin.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("%s: write to its stdin: %w%s", p.label, err, p.gone())
	}
	return nil
}

// errNoAnswer wraps ctx's error when the program did not answer in time.
var errNoAnswer = errors.New("no answer")

// recv returns the next stdout line.
func (p *program) recv(ctx context.Context) ([]byte, error) {
	select {
	case l, ok := <-p.lines:
		if ok {
			return l, nil
		}
		if p.eof != nil && !errors.Is(p.eof, io.EOF) && !errors.Is(p.eof, os.ErrClosed) {
			return nil, fmt.Errorf("%s: %v", p.label, p.eof)
		}
		return nil, fmt.Errorf("%s closed its stdout before answering%s", p.label, p.gone())
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w: %w", p.label, errNoAnswer, ctx.Err())
	}
}

// gone says how the program ended, if it has (waiting briefly for the
// reaper), with the end of its stderr.
func (p *program) gone() string {
	select {
	case <-p.done:
	case <-time.After(500 * time.Millisecond):
		return ""
	}
	how := "exited"
	if p.exit != nil {
		how = p.exit.Error()
	}
	if t := p.tail.String(); t != "" {
		return fmt.Sprintf(" (%s; stderr ends: %q)", how, t)
	}
	return fmt.Sprintf(" (%s)", how)
}

// close ends the program: EOF on its stdin, then SIGKILL to its process
// group if it has not exited within grace.
func (p *program) close(grace time.Duration) {
	p.quitOnce.Do(func() { close(p.quit) })
	p.stdin.Close()
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	p.kill()
}

// kill sends SIGKILL to the program's process group and waits until it
// is reaped.
func (p *program) kill() {
	p.quitOnce.Do(func() { close(p.quit) })
	p.stdin.Close()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// tailWriter copies a program's stderr line by line into the shared
// clients log under a prefix and keeps its last bytes for errors.
type tailWriter struct {
	prefix string
	log    io.Writer

	mu      sync.Mutex
	partial []byte
	last    []byte
}

const tailBytes = 512

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last = append(t.last, b...)
	if len(t.last) > tailBytes {
		t.last = t.last[len(t.last)-tailBytes:]
	}
	t.partial = append(t.partial, b...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		if t.log != nil {
			t.log.Write(append([]byte(t.prefix), t.partial[:i+1]...))
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > 4096 { // a very long line without newline: flush it
		if t.log != nil {
			t.log.Write(append(append([]byte(t.prefix), t.partial...), '\n'))
		}
		t.partial = nil
	}
	return len(b), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.last))
}
