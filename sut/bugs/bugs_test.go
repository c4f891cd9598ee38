package bugs_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/sut/bugs"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// TestRegistryListsExactlyTheBugsEachSystemActsOn: a bug listed here but
// unknown to the nodes would make a self-test pass vacuously; one the
// nodes know but the registry does not could not be named.
func TestRegistryListsExactlyTheBugsEachSystemActsOn(t *testing.T) {
	for _, tc := range []struct {
		system string
		nodes  []string
	}{{bugs.Raft, raftsql.BugNames()}, {bugs.TwoPC, twopc.BugNames()}} {
		if got := bugs.Names(tc.system); !slices.Equal(got, tc.nodes) {
			t.Errorf("%s: registry %v, nodes act on %v", tc.system, got, tc.nodes)
		}
	}
	for _, b := range bugs.All() {
		if b.Doc == "" || strings.Contains(b.Name, "/") {
			t.Errorf("%s: no doc, or a '/' in its name", b.ID())
		}
	}
}

func TestNamesResolveQualifiedOrBareWhenUnambiguous(t *testing.T) {
	for _, tc := range []struct {
		system, given, want, err string
	}{
		{bugs.Raft, "raft/stale-read", "stale-read", ""},
		{bugs.Raft, "stale-read", "stale-read", ""},
		{bugs.TwoPC, "no-dedup", "no-dedup", ""},
		{bugs.Raft, "twopc/one-phase", "", "bug of twopc"},
		{bugs.Raft, "one-phase", "", "raft/stale-read"},
	} {
		b, err := bugs.Resolve(tc.system, tc.given)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Resolve(%s, %s) = %v, %v; want an error with %q", tc.system, tc.given, b, err, tc.err)
			}
			continue
		}
		if err != nil || b.Name != tc.want || b.System != tc.system {
			t.Errorf("Resolve(%s, %s) = %v, %v; want %s/%s", tc.system, tc.given, b, err, tc.system, tc.want)
		}
	}
	if _, err := bugs.Lookup("no-dedup"); err == nil || !strings.Contains(err.Error(), "raft/no-dedup or twopc/no-dedup") {
		t.Errorf("Lookup(no-dedup): %v; want ambiguous, naming both", err)
	}
	if b, err := bugs.Lookup("one-phase"); err != nil || b.ID() != "twopc/one-phase" {
		t.Errorf("Lookup(one-phase) = %v, %v; want twopc/one-phase", b, err)
	}
}
