package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/testbin"
	"github.com/chaoscheck/chaoscheck/store"
)

var binPath string

func TestMain(m *testing.M) {
	bin, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// chaoscheck runs the built binary and returns stdout, stderr and the exit
// code.
func chaoscheck(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run chaoscheck %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// testdataWorkload finds the workload a testdata file is for from its
// name: <workload>-<anomaly or description>.<ext>, longest name first so
// cas-register is not read as register.
func testdataWorkload(t *testing.T, name string) string {
	ws := checker.Workloads()
	sort.Slice(ws, func(i, j int) bool { return len(ws[i]) > len(ws[j]) })
	for _, w := range ws {
		if strings.HasPrefix(name, w+"-") {
			return w
		}
	}
	t.Fatalf("testdata file %s: name does not start with a workload (%v)", name, ws)
	return ""
}

// sidecarArgs reads the optional <file>.args: extra analyze arguments.
func sidecarArgs(t *testing.T, file string) []string {
	b, err := os.ReadFile(file + ".args")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func historyFiles(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".jsonl", ".json", ".edn":
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	if len(files) == 0 {
		t.Fatalf("no histories in %s", dir)
	}
	return files
}

// TestAnalyzeTestdataVerdicts runs analyze on every testdata history:
// good/ must be valid (exit 0); bad/ must be invalid (exit 1) with an
// anomaly whose kind the file name states (linearizability anomalies are
// all "nonlinearizable"; the name then says which kind of history it is).
func TestAnalyzeTestdataVerdicts(t *testing.T) {
	root := filepath.Join("..", "..", "testdata")
	for _, dir := range []string{"good", "bad"} {
		for _, file := range historyFiles(t, filepath.Join(root, dir)) {
			name := filepath.Base(file)
			t.Run(dir+"/"+name, func(t *testing.T) {
				w := testdataWorkload(t, name)
				args := append([]string{"analyze", "--json", "--workload", w}, sidecarArgs(t, file)...)
				args = append(args, file)
				stdout, stderr, code := chaoscheck(t, args...)
				var a store.Results
				if err := json.Unmarshal([]byte(stdout), &a); err != nil {
					t.Fatalf("exit %d, output is not JSON: %v\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
				}
				if dir == "good" {
					if code != exitValid || a.Valid != checker.Valid {
						t.Fatalf("%s: exit %d, verdict %v; want valid\n%s\n%s", name, code, a.Valid, stdout, stderr)
					}
					return
				}
				if code != exitInvalid || a.Valid != checker.Invalid {
					t.Fatalf("%s: exit %d, verdict %v; want invalid\n%s\n%s", name, code, a.Valid, stdout, stderr)
				}
				var kinds []string
				for _, r := range a.Checkers {
					kinds = append(kinds, r.AnomalyKinds()...)
				}
				stem := strings.TrimSuffix(name, filepath.Ext(name))
				for _, k := range kinds {
					if strings.Contains(stem, k) || k == "nonlinearizable" {
						return
					}
				}
				t.Fatalf("%s: anomaly kinds %v; none is named in the file name", name, kinds)
			})
		}
	}
}

// TestAnalyzeMalformedInputNamesFileAndLine: unusable input exits 254 with
// one line naming the file and the line (taken from the file name's
// -lineN suffix), never a panic.
func TestAnalyzeMalformedInputNamesFileAndLine(t *testing.T) {
	lineRE := regexp.MustCompile(`-line(\d+)\.`)
	for _, file := range historyFiles(t, filepath.Join("..", "..", "testdata", "malformed")) {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			m := lineRE.FindStringSubmatch(name)
			if m == nil {
				t.Fatalf("malformed testdata %s lacks a -lineN suffix", name)
			}
			_, stderr, code := chaoscheck(t, "analyze", "--workload", "register", file)
			if code != exitBadInput {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitBadInput, stderr)
			}
			want := file + ":" + m[1] + ":"
			if !strings.Contains(stderr, want) {
				t.Fatalf("stderr does not name %q:\n%s", want, stderr)
			}
			if strings.Contains(stderr, "panic") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Fatalf("want one clear line, got:\n%s", stderr)
			}
		})
	}
}

func TestAnalyzeBadArgumentsExit254(t *testing.T) {
	good := historyFiles(t, filepath.Join("..", "..", "testdata", "good"))[0]
	cases := []struct {
		name string
		args []string
	}{
		{"missing file", []string{"analyze", filepath.Join(t.TempDir(), "nope.jsonl")}},
		{"unknown workload", []string{"analyze", "--workload", "nosuch", good}},
		{"unknown checker", []string{"analyze", "--checkers", "nosuch", good}},
		{"unknown flag", []string{"analyze", "--no-such-flag", good}},
		{"no file", []string{"analyze"}},
		{"workload and checkers", []string{"analyze", "--workload", "set", "--checkers", "set", good}},
		{"init not JSON", []string{"analyze", "--init", "{bad", good}},
		{"init with trailing data", []string{"analyze", "--init", "0 1", good}},
		{"init unterminated string", []string{"analyze", "--init", `"x`, good}},
		{"memory not a size", []string{"analyze", "--memory", "lots", good}},
		{"memory below 1MiB", []string{"analyze", "--memory", "4096", good}},
		{"memory unknown unit", []string{"analyze", "--memory", "3XB", good}},
		{"history beyond the memory budget", []string{"analyze", "--memory", "1MiB", bigHistory(t)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := chaoscheck(t, c.args...)
			if code != exitBadInput {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitBadInput, stderr)
			}
			if strings.TrimSpace(stderr) == "" {
				t.Fatalf("no error message")
			}
		})
	}
}

func TestAnalyzeWritesResultsToOut(t *testing.T) {
	bad := filepath.Join("..", "..", "testdata", "bad")
	files := historyFiles(t, bad)
	out := t.TempDir()
	file := files[0]
	args := append([]string{"analyze", "--out", out, "--workload", testdataWorkload(t, filepath.Base(file))}, sidecarArgs(t, file)...)
	_, stderr, code := chaoscheck(t, append(args, file)...)
	if code != exitInvalid {
		t.Fatalf("exit %d; stderr %s", code, stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a store.Results
	if err := json.Unmarshal(b, &a); err != nil || a.Valid != checker.Invalid || len(a.Checkers) == 0 {
		t.Fatalf("results.json: err %v, %+v", err, a)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(string(html)), "invalid") {
		t.Fatalf("report.html does not show the invalid verdict")
	}
}

// TestAnalyzeInvalidUTF8KeysNeverMerge: keys "k\xff" and "k\xfe" are two
// keys; decoding both to "k\uFFFD" would merge them and judge a read of a
// never-written key valid. The same history with ASCII keys is invalid, so
// the invalid-UTF-8 one must be rejected (254), never valid.
func TestAnalyzeInvalidUTF8KeysNeverMerge(t *testing.T) {
	bad, err := os.ReadFile(filepath.Join("..", "..", "testdata", "malformed", "invalid-utf8-key-line1.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ascii := filepath.Join(t.TempDir(), "ascii.jsonl")
	b := bytes.ReplaceAll(bytes.ReplaceAll(bad, []byte("k\xff"), []byte("ka")), []byte("k\xfe"), []byte("kb"))
	if bytes.Equal(b, bad) {
		t.Fatal("testdata no longer holds the keys k\\xff and k\\xfe")
	}
	if err := os.WriteFile(ascii, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := chaoscheck(t, "analyze", "--workload", "kv", "--init", "0", ascii); code != exitInvalid {
		t.Fatalf("ASCII keys: exit %d, want %d (a read of a never-written key); stderr %s", code, exitInvalid, stderr)
	}
	file := filepath.Join("..", "..", "testdata", "malformed", "invalid-utf8-key-line1.jsonl")
	_, stderr, code := chaoscheck(t, "analyze", "--workload", "kv", "--init", "0", file)
	if code != exitBadInput || !strings.Contains(stderr, file+":1:") || !strings.Contains(stderr, "UTF-8") {
		t.Fatalf("invalid UTF-8 keys: exit %d, stderr %q; want %d naming %s:1 and UTF-8", code, stderr, exitBadInput, file)
	}
}

// TestAnalyzeEndlessInputFailsAtOnce: a device that never ends and holds
// no history is refused from its first bytes, not read to the end.
func TestAnalyzeEndlessInputFailsAtOnce(t *testing.T) {
	for _, dev := range []string{"/dev/zero", "/dev/urandom"} {
		t.Run(dev, func(t *testing.T) {
			if _, err := os.Stat(dev); err != nil {
				t.Skipf("no %s here: %v", dev, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binPath, "analyze", dev)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("analyze %s still running after 20 s", dev)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitBadInput || !strings.Contains(errb.String(), dev+":1:") {
				t.Fatalf("analyze %s: %v, stderr %q; want exit %d naming line 1", dev, err, errb.String(), exitBadInput)
			}
		})
	}
}

// bigHistory writes a history of 20k ops (several MiB in memory) and
// returns its path.
func bigHistory(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "big.jsonl")
	var b strings.Builder
	for i := range 10_000 {
		fmt.Fprintf(&b, `{"index":%d,"type":"invoke","process":0,"f":"write","key":"k","value":%d}`+"\n", 2*i, i)
		fmt.Fprintf(&b, `{"index":%d,"type":"ok","process":0,"f":"write","key":"k","value":%d}`+"\n", 2*i+1, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
