package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/store"
)

// lockedBuffer is a bytes.Buffer a test may read while the child process
// still writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond every 20ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesUnder lists the pids whose command line names dir: the nodes
// of a run stored there.
func processesUnder(dir string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestRunStopsAlikeOnSIGINTAndSIGTERMInEveryPhase sends each signal while
// the cluster boots and while the load runs. Either way the run stops
// within a deadline with exit 2, its directory holds config.json,
// history.jsonl and results.json marked interrupted, latest leads to it,
// no node is left, and analyze of the run directory gives the same
// verdict the run did (issue 16 row 11's one rule).
func TestRunStopsAlikeOnSIGINTAndSIGTERMInEveryPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("boots Raft clusters")
	}
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		phase string // "boot" or "load"
	}{
		{"SIGTERM while booting", syscall.SIGTERM, "boot"},
		{"SIGINT while booting", syscall.SIGINT, "boot"},
		{"SIGTERM under load", syscall.SIGTERM, "load"},
		{"SIGINT under load", syscall.SIGINT, "load"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(binPath, "run", "--workload", "register", "--nemesis", "none", "--time-limit", "5m", "--store", dir)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var out, errb lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
			switch tc.phase {
			case "boot":
				waitFor(t, time.Minute, "the boot", func() bool { return strings.Contains(errb.String(), "booting the system under test") })
			case "load":
				waitFor(t, 2*time.Minute, "ops in the history", func() bool {
					fi, err := os.Stat(filepath.Join(dir, store.LatestLink, store.HistoryFile))
					return err == nil && fi.Size() > 0
				})
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatalf("still running a minute after %s\nstderr:\n%s", tc.sig, errb.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != exitUnknown {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitUnknown, out.String(), errb.String())
			}
			run, err := filepath.EvalSymlinks(filepath.Join(dir, store.LatestLink))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{store.ConfigFile, store.HistoryFile, store.ResultsFile} {
				if _, err := os.Stat(filepath.Join(run, f)); err != nil {
					t.Errorf("run directory lacks %s: %v", f, err)
				}
			}
			if res, err := store.Load(run); err != nil || !res.Interrupted {
				t.Errorf("results.json: interrupted %v, %v; want interrupted", res.Interrupted, err)
			}
			waitFor(t, 10*time.Second, "no node left", func() bool { return len(processesUnder(dir)) == 0 })

			// One history, one verdict: analyze of the interrupted run
			// is unknown too, and says why.
			aout, aerr, code := chaoscheck(t, "analyze", run)
			if code != exitUnknown || !strings.Contains(aout, "interrupted") {
				t.Errorf("analyze of the interrupted run: exit %d, want %d and the reason\n%s\n%s", code, exitUnknown, aout, aerr)
			}
		})
	}
}
