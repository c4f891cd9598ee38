package main

import (
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// TestNodeSUTBugTakesQualifiedNames: `node raft --sut-bug raft/stale-read`
// (the README's spelling) and the bare name both switch the bug on; a bug
// of the other system is refused.
func TestNodeSUTBugTakesQualifiedNames(t *testing.T) {
	saved := raftFlags
	t.Cleanup(func() { raftFlags = saved })
	raftFlags.data = t.TempDir()
	for _, given := range []string{"raft/stale-read", "stale-read"} {
		raftFlags.bugs = []string{given}
		cfg, err := raftConfig()
		if err != nil || !cfg.Bugs.StaleRead {
			t.Errorf("node raft --sut-bug %s: stale-read on %v, err %v; want it on", given, cfg.Bugs.StaleRead, err)
		}
	}
	raftFlags.bugs = []string{"twopc/one-phase"}
	if _, err := raftConfig(); err == nil || !strings.Contains(err.Error(), "bug of twopc") {
		t.Errorf("node raft --sut-bug twopc/one-phase: err %v; want it refused as twopc's", err)
	}
	for _, given := range []string{"twopc/no-dedup", "no-dedup"} {
		b, err := twopc.ParseBugs([]string{given})
		if err != nil || !b.Has(twopc.BugNoDedup) {
			t.Errorf("node participant --sut-bug %s: %v, %v; want no-dedup on", given, b, err)
		}
	}
}
