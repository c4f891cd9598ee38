package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
