package cluster

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// procState reads the state letter of pid from /proc (R running, S
// sleeping, T stopped …).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return strings.Fields(s[i+1:])[0]
}

func TestProcKillRestartPauseStop(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProc(ProcSpec{Name: "sleeper", Bin: "/bin/sleep", Args: []string{"300"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	pid := p.Pid()
	if pid == 0 || !p.Running() {
		t.Fatalf("not running after Start")
	}
	if err := p.Start(); err == nil {
		t.Fatalf("second Start of a running node succeeded")
	}

	if err := p.Pause(); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, "T")
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	waitState(t, pid, "S")

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatalf("running after Kill")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("pid %d still exists after Kill", pid)
	}

	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == 0 || p.Pid() == pid {
		t.Fatalf("Restart did not start a new process: pid %d (old %d)", p.Pid(), pid)
	}
	// Stop must work on a paused node too (SIGCONT before SIGTERM).
	p.Pause()
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Fatalf("running after Stop")
	}
}

func waitState(t *testing.T, pid int, want string) {
	t.Helper()
	err := WaitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func(context.Context) (bool, error) {
		return procState(t, pid) == want, nil
	})
	if err != nil {
		t.Fatalf("pid %d never reached state %s (now %q)", pid, want, procState(t, pid))
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p <= 0 {
			t.Fatalf("port %d repeated or invalid in %v", p, ports)
		}
		seen[p] = true
	}
}
