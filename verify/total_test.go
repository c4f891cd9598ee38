package verify

import (
	"path/filepath"
	"testing"

	"github.com/chaoscheck/chaoscheck/store"
)

// TestExpectedTotalComesFromARealRunsRecord runs a real bank run and
// checks that verify takes the total from what the runner recorded (8
// accounts of 100), not from the run's first read-balances, which the
// bank checker's own inference would trust even when it is already wrong.
func TestExpectedTotalComesFromARealRunsRecord(t *testing.T) {
	storeDir := t.TempDir()
	out, code := runCLI(t, "run", "--workload", "bank", "--nemesis", "none", "--time-limit", "2s",
		"--seed", "7", "--store", storeDir)
	if code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	run, err := filepath.EvalSymlinks(filepath.Join(storeDir, store.LatestLink))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := store.ReadRecord(run)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Total == nil || *rec.Total != 800 || len(rec.Accounts) != 8 || rec.InitialBalance != 100 {
		t.Fatalf("record total %v, accounts %v, initial balance %d; want 800 over 8 accounts of 100", rec.Total, rec.Accounts, rec.InitialBalance)
	}
	total, source, notes := expectedTotal(run, nil)
	if total == nil || *total != 800 || source != store.ConfigFile {
		t.Errorf("expected total %v from %q (notes %v); want 800 from %s", total, source, notes, store.ConfigFile)
	}
}
