package twopc

import (
	"fmt"
	"sort"
	"strings"
)

// Seeded bugs: deliberate protocol errors that a run can switch on
// (`--sut-bug NAME`, repeatable) to show that chaoscheck's checkers catch
// them. Each is one `if` on the real path, marked "seeded bug" there.
const (
	// BugNoDedup: the coordinator forgets tx_ids; every request, retries
	// included, runs as a new transaction.
	BugNoDedup = "no-dedup"
	// BugMemoryDedup: the coordinator's tx_id dedup lives in memory only;
	// after a restart a retry runs again.
	BugMemoryDedup = "memory-dedup"
	// BugForgetPrepared: a restarted participant drops its prepared txs
	// and aborts them on its own.
	BugForgetPrepared = "forget-prepared"
	// BugCommitBeforeDecision: the coordinator sends commits before it
	// forces its decision, so a crash in between forgets a commit that
	// participants already applied.
	BugCommitBeforeDecision = "commit-before-decision"
	// BugOnePhase: the coordinator commits participants one by one with no
	// prepare phase.
	BugOnePhase = "one-phase"
	// BugUnilateralAbort: a prepared participant that cannot reach the
	// coordinator when it asks for the decision aborts on its own (the
	// textbook "fix" for 2PC blocking), although the coordinator may have
	// decided commit.
	BugUnilateralAbort = "unilateral-abort"
)

var bugDoc = map[string]string{
	BugNoDedup:              "coordinator forgets tx_ids: a retry runs again",
	BugMemoryDedup:          "coordinator keeps tx_id dedup in memory only: a retry after a restart runs again",
	BugForgetPrepared:       "participant drops prepared txs on restart and aborts them on its own",
	BugCommitBeforeDecision: "coordinator sends commits before forcing its decision and forgets it on a crash",
	BugOnePhase:             "coordinator commits participants one by one without prepare",
	BugUnilateralAbort:      "participant that cannot reach the coordinator aborts an in-doubt tx on its own",
}

// BugNames lists every seeded bug, sorted.
func BugNames() []string {
	names := make([]string, 0, len(bugDoc))
	for n := range bugDoc {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BugHelp is one line per seeded bug, for --help.
func BugHelp() string {
	var b strings.Builder
	for _, n := range BugNames() {
		fmt.Fprintf(&b, "  %-24s %s\n", n, bugDoc[n])
	}
	return b.String()
}

// Bugs is the set of seeded bugs a node runs with. Both node kinds accept
// every name, so a runner can pass the same --sut-bug list to all nodes;
// each kind acts on its own.
type Bugs map[string]bool

// ParseBugs checks names against the known seeded bugs.
func ParseBugs(names []string) (Bugs, error) {
	b := Bugs{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if _, ok := bugDoc[n]; !ok {
			return nil, fmt.Errorf("unknown seeded bug %q (known: %s)", n, strings.Join(BugNames(), ", "))
		}
		b[n] = true
	}
	return b, nil
}

// Has reports whether bug is on.
func (b Bugs) Has(bug string) bool { return b[bug] }

// List is the enabled bugs, sorted.
func (b Bugs) List() []string {
	var l []string
	for n, on := range b {
		if on {
			l = append(l, n)
		}
	}
	sort.Strings(l)
	return l
}
