package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/soak"
	"github.com/chaoscheck/chaoscheck/store"
)

// The soak tests run the built binary: real node processes, real runs,
// kept short with --time-limit. Each soak runs in its own process group,
// killed at the end of the test, so no node outlives it.

// startSoak starts `chaoscheck soak args…` with stdout and stderr captured.
func startSoak(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"soak"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, &out, &errb
}

// waitExit waits up to limit for cmd to exit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, out, errb *bytes.Buffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(limit):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("soak still running after %s\nstdout:\n%s\nstderr:\n%s", limit, out, errb)
		return -1
	}
}

func readSoakJSON(t *testing.T, path string) soak.Summary {
	t.Helper()
	var s soak.Summary
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func readJUnit(t *testing.T, path string) soak.JUnitSuites {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var suites soak.JUnitSuites
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&suites); err != nil {
		t.Fatalf("JUnit XML %s does not parse: %v\n%s", path, err, b)
	}
	if len(suites.Suites) != 1 {
		t.Fatalf("JUnit XML has %d testsuites, want 1", len(suites.Suites))
	}
	return suites
}

func TestSoakCommandStoresEveryRunWithSoakJSONAndJUnit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junit := filepath.Join(dir, "reports", "soak.xml")
	cmd, out, errb := startSoak(t, "--runs", "2", "--time-limit", "3s", "--scenarios", "leader-restart",
		"--seed", "11", "--store", dir, "--junit", junit)
	if code := waitExit(t, cmd, 90*time.Second, out, errb); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	s := readSoakJSON(t, filepath.Join(dir, soak.File))
	if len(s.Runs) != 2 || s.Stopped != "runs" || s.Valid != checker.Valid || s.Seed != 11 {
		t.Fatalf("soak.json: %d runs, stopped %q, verdict %s, seed %d", len(s.Runs), s.Stopped, s.Valid, s.Seed)
	}
	for i, r := range s.Runs {
		if r.Seed != soak.RunSeed(11, i+1) {
			t.Errorf("run %d seed %d, want %d derived from the soak seed", i+1, r.Seed, soak.RunSeed(11, i+1))
		}
		res, err := store.Load(r.Dir)
		if err != nil || res.Seed != r.Seed || res.Scenario != "leader-restart" || res.Valid != r.Valid || res.Ops != r.Ops {
			t.Errorf("run %d: results.json %+v (%v) does not match soak.json's %+v", i+1, res, err, r)
		}
		if _, err := os.Stat(filepath.Join(r.Dir, report.HTMLFile)); err != nil {
			t.Errorf("run %d: no report.html: %v", i+1, err)
		}
	}
	suites := readJUnit(t, junit)
	cases := suites.Suites[0].Cases
	if suites.Tests != 2 || suites.Failures != 0 || len(cases) != 2 {
		t.Fatalf("JUnit: %d tests, %d failures, %d testcases; want 2, 0, 2", suites.Tests, suites.Failures, len(cases))
	}
	for i, c := range cases {
		if want := fmt.Sprintf("leader-restart seed=%d", s.Runs[i].Seed); c.Name != want || c.Failure != nil || c.Time == "" {
			t.Errorf("testcase %d: name %q time %q failure %v; want %q", i, c.Name, c.Time, c.Failure, want)
		}
	}
	for _, want := range []string{"SCENARIO", "leader-restart", "VALID", "2 runs in", "soak verdict: VALID (exit 0)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestSoakCommandFailsOnASeededBug soaks the 2PC retry scenario with the
// coordinator's tx_id dedup switched off: the retry workload resubmits
// tx_ids from its first seconds, so the txid checker finds duplicates in
// every run, and the soak must stop at the first with exit 1.
func TestSoakCommandFailsOnASeededBug(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junit := filepath.Join(dir, "soak.xml")
	cmd, out, errb := startSoak(t, "--runs", "3", "--time-limit", "3s", "--scenarios", "retry-idempotent",
		"--sut-bug", "no-dedup", "--store", dir, "--junit", junit)
	if code := waitExit(t, cmd, 90*time.Second, out, errb); code != 1 {
		t.Fatalf("exit %d, want 1 (invalid)\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	s := readSoakJSON(t, filepath.Join(dir, soak.File))
	last := s.Runs[len(s.Runs)-1]
	if s.Stopped != "invalid run" || last.Valid != checker.Invalid || s.Counts["invalid"] != 1 {
		t.Fatalf("soak.json: stopped %q, last run %s, counts %v; want a stop at the first invalid run", s.Stopped, last.Valid, s.Counts)
	}
	cases := readJUnit(t, junit).Suites[0].Cases
	fl := cases[len(cases)-1].Failure
	reproduce := fmt.Sprintf("chaoscheck run --scenario retry-idempotent --time-limit 3s --seed %d --sut-bug no-dedup", last.Seed)
	if fl == nil || fl.Type != "invalid" || !strings.Contains(fl.Text, "txid: ") || !strings.Contains(fl.Text, reproduce) {
		t.Errorf("last testcase's failure lacks the verdict, the txid anomalies or %q: %+v", reproduce, fl)
	}
	if !strings.Contains(out.String(), "reproduce: "+reproduce) {
		t.Errorf("summary lacks the reproduce command:\n%s", out)
	}
}

func TestSoakCommandCtrlCStopsAfterTheCurrentRunIsStored(t *testing.T) {
	// SIGTERM (CI runners, systemd, `timeout`) stops a soak as Ctrl-C does.
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { soakUntil(t, sig) })
	}
}

func soakUntil(t *testing.T, sig os.Signal) {
	dir := t.TempDir()
	cmd, out, errb := startSoak(t, "--duration", "1h", "--time-limit", "3s", "--scenarios", "leader-restart", "--store", dir)
	// Interrupt once the first run is under way: its history has ops.
	deadline := time.Now().Add(60 * time.Second)
	for {
		// latest leads to the run under way from its start: the first.
		if fi, err := os.Stat(filepath.Join(dir, store.LatestLink, store.HistoryFile)); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ops recorded 60s into the soak\nstderr:\n%s", errb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, cmd, 60*time.Second, out, errb); code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errb)
	}
	s := readSoakJSON(t, filepath.Join(dir, soak.File))
	if len(s.Runs) != 1 || s.Stopped != "interrupted" {
		t.Fatalf("soak.json: %d runs, stopped %q; want the one run under way, then a stop", len(s.Runs), s.Stopped)
	}
	res, err := store.Load(s.Runs[0].Dir)
	if err != nil || res.Interrupted || res.Valid != checker.Valid {
		t.Errorf("the run under way at Ctrl-C: interrupted %v, verdict %s, %v; want it finished and stored whole", res.Interrupted, res.Valid, err)
	}
	if !strings.Contains(errb.String(), "stopping after the current run") {
		t.Errorf("stderr does not say the soak stops after the current run:\n%s", errb)
	}
}

func TestSoakCommandBadFlagsExit254(t *testing.T) {
	for _, args := range [][]string{
		{"soak", "--scenarios", "leader-restart"}, // no --runs or --duration
		{"soak", "--runs", "1", "--scenarios", "nope"},
		{"soak", "--runs", "-1"},
		{"soak", "--runs", "1", "--time-limit", "soon"},
		{"soak", "--runs", "1", "extra"},
	} {
		args = append(args, "--store", t.TempDir())
		if _, errText, code := chaoscheck(t, args...); code != exitBadInput {
			t.Errorf("chaoscheck %s: exit %d, want %d\n%s", strings.Join(args, " "), code, exitBadInput, errText)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	help, err := exec.CommandContext(ctx, binPath, "soak", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--duration", "--runs", "--keep-going", "--junit", "--sut-bug", "leader-restart", "Exit codes", "Ctrl-C"} {
		if !bytes.Contains(help, []byte(want)) {
			t.Errorf("soak --help lacks %q", want)
		}
	}
}
