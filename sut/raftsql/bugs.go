// bugs.go: the seeded bugs a replica can carry (--sut-bug).

package raftsql

import (
	"fmt"
	"sort"
	"strings"
)

// Bugs are defects a run can seed on purpose (--sut-bug NAME) to show that
// the checkers notice them. Each is one `if` in the real path.
type Bugs struct {
	ForgetAppliedIndex bool // state machine: applied index not stored with the data
	NoDedup            bool // state machine: a retried request id applies again
	MemoryDedup        bool // state machine: dedup table lost on restart
	StaleRead          bool // /query served from local state, no ReadIndex, any node
	AckBeforeCommit    bool // /exec answered once proposed, before commit
	UnsyncedLog        bool // the log is never fsynced
	LocalLeaderRead    bool // /query on a node that believes it leads skips ReadIndex
	SplitTxn           bool // state machine: an entry's statements commit one by one
}

var bugSetters = map[string]func(*Bugs){
	"forget-applied-index": func(b *Bugs) { b.ForgetAppliedIndex = true },
	"no-dedup":             func(b *Bugs) { b.NoDedup = true },
	"memory-dedup":         func(b *Bugs) { b.MemoryDedup = true },
	"stale-read":           func(b *Bugs) { b.StaleRead = true },
	"ack-before-commit":    func(b *Bugs) { b.AckBeforeCommit = true },
	"unsynced-log":         func(b *Bugs) { b.UnsyncedLog = true },
	"local-leader-read":    func(b *Bugs) { b.LocalLeaderRead = true },
	"split-txn":            func(b *Bugs) { b.SplitTxn = true },
}

// BugNames lists the names ParseBugs accepts, sorted.
func BugNames() []string {
	names := make([]string, 0, len(bugSetters))
	for k := range bugSetters {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ParseBugs turns --sut-bug names into Bugs; an unknown name is an error
// that lists the known ones.
func ParseBugs(names []string) (Bugs, error) {
	var b Bugs
	for _, name := range names {
		set, ok := bugSetters[strings.TrimSpace(name)]
		if !ok {
			return Bugs{}, fmt.Errorf("unknown SUT bug %q (known: %s)", name, strings.Join(BugNames(), ", "))
		}
		set(&b)
	}
	return b, nil
}

// Names lists the bugs switched on.
func (b Bugs) Names() []string {
	var names []string
	for _, name := range BugNames() {
		var one Bugs
		bugSetters[name](&one)
		if b.ForgetAppliedIndex && one.ForgetAppliedIndex || b.NoDedup && one.NoDedup || b.MemoryDedup && one.MemoryDedup ||
			b.StaleRead && one.StaleRead || b.AckBeforeCommit && one.AckBeforeCommit || b.UnsyncedLog && one.UnsyncedLog ||
			b.LocalLeaderRead && one.LocalLeaderRead || b.SplitTxn && one.SplitTxn {
			names = append(names, name)
		}
	}
	return names
}

func (b Bugs) stateMachineOptions() Options {
	return Options{ForgetAppliedIndex: b.ForgetAppliedIndex, NoDedup: b.NoDedup, MemoryDedup: b.MemoryDedup, SplitTxn: b.SplitTxn}
}
