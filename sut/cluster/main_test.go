package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/chaoscheck/chaoscheck/internal/testbin"
)

// TestMain builds the chaoscheck binary once, so integration tests start
// real node processes from the code under test.
func TestMain(m *testing.M) {
	_, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build chaoscheck:", err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}
