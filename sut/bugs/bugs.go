package bugs

import (
	"fmt"
	"slices"
	"strings"
)

// Systems are the embedded systems' names, as targets and IDs use them.
const (
	Raft  = "raft"
	TwoPC = "twopc"
)

// Bug is one seeded bug.
type Bug struct {
	System string // Raft or TwoPC
	Name   string // what the system's nodes are told (--sut-bug NAME)
	Doc    string // what goes wrong, in one line
}

// ID is the bug's qualified name, "system/name".
func (b Bug) ID() string { return b.System + "/" + b.Name }

// registry lists every seeded bug, sorted by ID.
var registry = []Bug{
	{Raft, "ack-before-commit", "a write is acknowledged once proposed, before it commits"},
	{Raft, "forget-applied-index", "the applied index is not stored with the data: a restarted replica applies its log again"},
	{Raft, "local-leader-read", "a node that believes it leads answers reads from its own state, without ReadIndex"},
	{Raft, "memory-dedup", "request ids are remembered in memory only: a retry after a restart applies again"},
	{Raft, "no-dedup", "a retried request id is applied again"},
	{Raft, "split-txn", "a replica commits between the statements of one entry: a txn is seen, and left by a crash, half applied"},
	{Raft, "stale-read", "any replica answers reads from its own state, no ReadIndex"},
	{Raft, "unsynced-log", "the Raft log is never fsynced: a crash of every replica loses acknowledged entries"},
	{TwoPC, "commit-before-decision", "coordinator sends commits before forcing its decision and forgets it on a crash"},
	{TwoPC, "forget-prepared", "participant drops prepared txs on restart and aborts them on its own"},
	{TwoPC, "memory-dedup", "coordinator keeps tx_id dedup in memory only: a retry after a restart runs again"},
	{TwoPC, "no-dedup", "coordinator forgets tx_ids: a retry runs again"},
	{TwoPC, "one-phase", "coordinator commits participants one by one without prepare"},
	{TwoPC, "unilateral-abort", "participant that cannot reach the coordinator aborts an in-doubt tx on its own"},
}

// All lists every seeded bug, sorted by ID.
func All() []Bug { return slices.Clone(registry) }

// Of lists system's bugs, sorted by name.
func Of(system string) []Bug {
	var out []Bug
	for _, b := range registry {
		if b.System == system {
			out = append(out, b)
		}
	}
	return out
}

// Names lists system's bug names, sorted.
func Names(system string) []string {
	var out []string
	for _, b := range Of(system) {
		out = append(out, b.Name)
	}
	return out
}

// IDs lists every bug's ID, sorted.
func IDs() []string {
	out := make([]string, len(registry))
	for i, b := range registry {
		out[i] = b.ID()
	}
	return out
}

// Find returns the bugs given names: an ID names one bug, a bare name
// every system's bug of that name (none when no system has it).
func Find(given string) []Bug {
	given = strings.TrimSpace(given)
	var out []Bug
	for _, b := range registry {
		if b.ID() == given || b.Name == given {
			out = append(out, b)
		}
	}
	return out
}

// Lookup resolves what a user gave, an ID or a bare name, to one bug of
// any system; a bare name two systems share is ambiguous and an error
// naming both IDs.
func Lookup(given string) (Bug, error) {
	found := Find(given)
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return Bug{}, fmt.Errorf("unknown seeded bug %q (known: %s)", given, strings.Join(IDs(), ", "))
	}
	ids := make([]string, len(found))
	for i, b := range found {
		ids[i] = b.ID()
	}
	return Bug{}, fmt.Errorf("seeded bug %q is ambiguous: say %s", given, strings.Join(ids, " or "))
}

// Resolve resolves given to one of system's bugs: its ID, or its bare
// name (which is unambiguous within one system). A bug of another system
// is an error that says so.
func Resolve(system, given string) (Bug, error) {
	given = strings.TrimSpace(given)
	name := given
	if sys, bare, ok := strings.Cut(given, "/"); ok {
		if sys != system {
			return Bug{}, fmt.Errorf("seeded bug %q is a bug of %s, not of %s", given, sys, system)
		}
		name = bare
	}
	for _, b := range Of(system) {
		if b.Name == name {
			return b, nil
		}
	}
	var known []string
	for _, b := range Of(system) {
		known = append(known, b.ID())
	}
	return Bug{}, fmt.Errorf("unknown seeded bug %q for %s (known: %s)", given, system, strings.Join(known, ", "))
}

// ResolveNames resolves each of given to system's bug names, as the
// system's nodes take them.
func ResolveNames(system string, given []string) ([]string, error) {
	out := make([]string, 0, len(given))
	for _, g := range given {
		b, err := Resolve(system, g)
		if err != nil {
			return nil, err
		}
		out = append(out, b.Name)
	}
	return out, nil
}

// Help is one line per bug of system, "  ID  doc", for --help.
func Help(system string) string {
	var b strings.Builder
	for _, bug := range Of(system) {
		fmt.Fprintf(&b, "  %-30s %s\n", bug.ID(), bug.Doc)
	}
	return b.String()
}
