package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserInputErrorsExit254 holds issue 16's rows 2, 5, 6 and 7: each
// is the user's input, so exit 254 with a line naming it, and a run that
// is refused writes nothing.
func TestUserInputErrorsExit254(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(tmp, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes through mode bits; sysfs refuses a new directory
		// to root as well (EPERM).
		readOnly = "/sys/chaoscheck-store"
	}
	fresh := func(name string) string { return filepath.Join(tmp, name) }
	for _, tc := range []struct {
		name    string
		args    []string
		want    string // in stderr
		noStore string // a store that must not exist afterwards
	}{
		{"rate NaN", []string{"run", "--rate", "NaN", "--store", fresh("nan")}, "rate NaN", fresh("nan")},
		{"rate +Inf", []string{"run", "--rate", "+Inf", "--store", fresh("inf")}, "rate +Inf", fresh("inf")},
		{"a billion keys", []string{"run", "--keys", "1000000000", "--time-limit", "2s", "--store", fresh("keys")}, "keys 1000000000", fresh("keys")},
		{"store is a file", []string{"run", "--store", file, "--time-limit", "1s"}, "not a directory", ""},
		{"store under a file", []string{"run", "--store", filepath.Join(file, "s"), "--time-limit", "1s"}, "not a directory", ""},
		{"read-only store", []string{"run", "--store", filepath.Join(readOnly, "s"), "--time-limit", "1s"}, "--store", ""},
		{"soak store is a file", []string{"soak", "--runs", "1", "--store", file}, "not a directory", ""},
		{"selftest store is a file", []string{"selftest", "--bugs", "twopc/one-phase", "--store", file}, "not a directory", ""},
		{"node raft --data a file", []string{"node", "raft", "--data", file}, "is a file", ""},
		{"participant --data under a file", []string{"node", "participant", "--id", "p1", "--api", "127.0.0.1:0", "--data", filepath.Join(file, "p1")}, "is a file", ""},
		{"participant --api not loopback", []string{"node", "participant", "--id", "p1", "--api", "0.0.0.0:7101", "--data", fresh("p1")}, "is not loopback", ""},
		{"node raft --api not loopback", []string{"node", "raft", "--id", "1", "--peers", "1=127.0.0.1:7101", "--peer-apis", "1=127.0.0.1:7001", "--api", "10.0.0.1:7001", "--data", fresh("n1")}, "is not loopback", ""},
		{"node raft --peers not loopback", []string{"node", "raft", "--id", "1", "--peers", "1=192.168.1.5:7101", "--api", "127.0.0.1:7001", "--data", fresh("n1")}, "is not loopback", ""},
		{"serve --addr bad port", []string{"serve", "--store", tmp, "--addr", "127.0.0.1:99999"}, "--addr", ""},
		{"node bogus", []string{"node", "bogus"}, `unknown command "bogus"`, ""},
		// A target's own flag, judged before the run directory exists.
		{"postgres --isolation bogus", []string{"run", "--target", "postgres", "--workload", "list-append", "--isolation", "bogus", "--store", fresh("iso")}, `--isolation "bogus"`, fresh("iso")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errText, code := chaoscheck(t, tc.args...)
			if code != exitBadInput || !strings.Contains(errText, tc.want) {
				t.Errorf("chaoscheck %s: exit %d, stderr %q; want 254 and %q", strings.Join(tc.args, " "), code, errText, tc.want)
			}
			if strings.Count(strings.TrimSpace(errText), "\n") > 0 {
				t.Errorf("stderr is more than one line:\n%s", errText)
			}
			if tc.noStore != "" {
				if _, err := os.Stat(tc.noStore); !os.IsNotExist(err) {
					t.Errorf("a refused run wrote %s (%v)", tc.noStore, err)
				}
			}
		})
	}
}

// TestAFailedRunSaysTheExitItEndsWith: a run that fails after it was
// stored (a node that exits at boot: chaoscheck's failure to boot the
// system, 255) prints its summary, and the summary's last line names 255,
// not the unknown verdict's 2 (it used to say "verdict: UNKNOWN (exit
// 2)" and exit 255, as issue 16's row 5 did for --rate NaN).
func TestAFailedRunSaysTheExitItEndsWith(t *testing.T) {
	tmp := t.TempDir()
	config := filepath.Join(tmp, "dead.toml")
	toml := `nodes = 1
ports = ["http"]
[node]
command = ["false"]
[health]
tcp = "{addr:http}"
[client]
command = ["true"]
workloads = ["register"]
`
	if err := os.WriteFile(config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errText, code := chaoscheck(t, "run", "--target", "process", "--config", config, "--nemesis", "none", "--time-limit", "1s", "--store", filepath.Join(tmp, "s"))
	last := out[strings.LastIndex(strings.TrimRight(out, "\n"), "\n")+1:]
	if code != exitInternal || !strings.Contains(errText, "exited while starting") || strings.TrimSpace(last) != "verdict: UNKNOWN (exit 255)" {
		t.Fatalf("exit %d, last line %q, stderr %q; want 255, \"verdict: UNKNOWN (exit 255)\" and the boot error", code, last, errText)
	}
}
