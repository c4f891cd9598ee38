package twopc

import (
	"sort"

	"github.com/chaoscheck/chaoscheck/sut/bugs"
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

// BugNames lists every seeded bug, sorted: the registry's (sut/bugs),
// which holds each one's doc.
func BugNames() []string { return bugs.Names(bugs.TwoPC) }

// BugHelp is one line per seeded bug, for --help.
func BugHelp() string { return bugs.Help(bugs.TwoPC) }

// Bugs is the set of seeded bugs a node runs with. Both node kinds accept
// every name, so a runner can pass the same --sut-bug list to all nodes;
// each kind acts on its own.
type Bugs map[string]bool

// ParseBugs checks names against the known seeded bugs; each may be
// qualified ("twopc/no-dedup") or bare.
func ParseBugs(names []string) (Bugs, error) {
	resolved, err := bugs.ResolveNames(bugs.TwoPC, names)
	if err != nil {
		return nil, err
	}
	b := Bugs{}
	for _, n := range resolved {
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
