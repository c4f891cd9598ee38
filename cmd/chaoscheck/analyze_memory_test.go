package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// TestAnalyzeMemoryBudgetHoldsOnInfoWrites is issue 16's row 3: a 200k-op
// history with 60 concurrent info writes on one key grew analyze to 11 GB.
// With --memory 400MiB the process's peak RSS, measured by the kernel for
// the child, stays within 400 MiB, and the verdict is unknown with a note
// naming the key, never valid and never an OOM.
func TestAnalyzeMemoryBudgetHoldsOnInfoWrites(t *testing.T) {
	const budget = 400 << 20
	file := filepath.Join(t.TempDir(), "info-writes.jsonl")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := history.WriteJSONL(f, kvgen.InfoWrites(1, 200_000, 60)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "analyze", "--workload", "kv", "--init", "0", "--memory", "400MiB", "--timeout", "2m", file)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUnknown {
		t.Fatalf("analyze: %v, want exit %d (unknown)\n%s", err, exitUnknown, out.String())
	}
	if s := out.String(); !strings.Contains(s, "memory budget of 400 MiB reached") || !strings.Contains(s, "key hot") {
		t.Fatalf("no note naming the budget and key hot:\n%s", s)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Skip("no rusage on this platform")
	}
	peak := ru.Maxrss << 10 // Linux: KiB
	t.Logf("peak RSS %d MiB with a budget of %d MiB", peak>>20, budget>>20)
	if peak > budget {
		t.Fatalf("peak RSS %d MiB is beyond the budget of %d MiB", peak>>20, budget>>20)
	}
}

// TestAnalyzeStreamsAKVHistoryLargerThanTheBudget: analyze of a kv history
// with the linearizable and stats checkers does not hold the history
// (history.Stream, checker.Stream). A 450k-operation history, which held
// whole would take more than the 128 MiB budget (and is refused that way:
// --out makes analyze read it whole), is judged valid within the budget.
//
// The peak is the child's VmHWM, sampled every 2 ms until it exits: the
// kernel's rusage figure would count this test process's own peak (it
// generated the history), since a child started by os/exec shares its
// parent's memory until it execs. Sampling can only miss growth in the
// child's last 2 ms, after its verdict is printed.
func TestAnalyzeStreamsAKVHistoryLargerThanTheBudget(t *testing.T) {
	const budget = 128 << 20
	file := filepath.Join(t.TempDir(), "kv.jsonl")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := history.WriteJSONL(f, kvgen.Linearizable(2, 10, 50, 450_000)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, int64, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binPath, append([]string{"analyze", "--workload", "kv", "--init", "0", "--memory", "128MiB"}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		peak := make(chan int64)
		done := make(chan struct{})
		go func() {
			var hwm int64
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				hwm = max(hwm, vmHWM(cmd.Process.Pid))
				select {
				case <-done:
					peak <- hwm
					return
				case <-tick.C:
				}
			}
		}()
		err := cmd.Wait()
		close(done)
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("analyze: %v", err)
		}
		return code, <-peak, out.String()
	}
	if code, _, out := run("--out", t.TempDir(), file); code != exitBadInput || !strings.Contains(out, "too large") {
		t.Fatalf("read whole: exit %d, want %d refusing a history too large for the budget:\n%s", code, exitBadInput, out)
	}
	code, peak, out := run(file)
	if code != 0 || !strings.Contains(out, "verdict: VALID") {
		t.Fatalf("streamed: exit %d, want 0 (valid):\n%s", code, out)
	}
	if peak == 0 {
		t.Skip("no /proc/PID/status VmHWM on this platform")
	}
	t.Logf("streamed: peak RSS %d MiB with a budget of %d MiB", peak>>20, budget>>20)
	if peak > budget {
		t.Errorf("streamed: peak RSS %d MiB is beyond the budget of %d MiB", peak>>20, budget>>20)
	}
}

// vmHWM is process pid's peak RSS so far in bytes, 0 if unknown.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
