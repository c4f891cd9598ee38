// Package testbin builds the chaoscheck binary once per test binary, for
// integration tests that start real node processes.
package testbin

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Build compiles ./cmd/chaoscheck into a fresh temporary directory and
// returns the binary's path and a cleanup that removes the directory. It
// also sets CHAOSCHECK_BIN so sut/cluster starts nodes from it. Call it from
// TestMain; the build cache makes repeated builds a link step only.
func Build() (bin string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "chaoscheck-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	root, err := moduleRoot()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	bin = filepath.Join(dir, "chaoscheck")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/chaoscheck")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("go build ./cmd/chaoscheck: %v\n%s", err, out)
	}
	os.Setenv("CHAOSCHECK_BIN", bin)
	return bin, cleanup, nil
}

// moduleRoot finds the directory holding go.mod, from this source file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testbin: no caller information")
	}
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir || strings.HasSuffix(parent, string(filepath.Separator)) && parent == "/" {
			return "", fmt.Errorf("testbin: go.mod not found above %s", file)
		}
		dir = parent
	}
}

// Main is the TestMain of a package with integration tests: unless the run
// is -short, it builds the binary and sets *built, runs the tests, removes
// the build and exits with the tests' code.
func Main(m *testing.M, built *bool) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	_, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration tests:", err)
		os.Exit(1)
	}
	*built = true
	code := m.Run()
	cleanup()
	os.Exit(code)
}
