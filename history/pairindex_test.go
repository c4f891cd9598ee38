package history

import (
	"slices"
	"testing"
)

// TestPairIndexesIsTheOnePairingRule spells out the rule every consumer
// (checkers, report, Pairs) now shares: a completion closes its process's
// open invocation; one with none open is ignored; an invocation that is
// never completed, or whose process invokes again first, stays open (-1);
// nemesis ops are skipped.
func TestPairIndexesIsTheOnePairingRule(t *testing.T) {
	h := History{
		{Index: 0, Type: OK, Process: 5, F: "add"},     // no open invocation: ignored
		{Index: 1, Type: Invoke, Process: 0, F: "add"}, // re-invoked at 2 before completing: stays open
		{Index: 2, Type: Invoke, Process: 0, F: "add"}, // completed at 4
		{Index: 3, Type: Invoke, Process: NemesisProcess, F: "kill"},
		{Index: 4, Type: OK, Process: 0, F: "add"},
		{Index: 5, Type: Invoke, Process: 1, F: "add"}, // never completed
		{Index: 6, Type: Info, Process: NemesisProcess, F: "kill"},
	}
	want := []IndexPair{{Inv: 1, Done: -1}, {Inv: 2, Done: 4}, {Inv: 5, Done: -1}}
	if got := PairIndexes(h); !slices.Equal(got, want) {
		t.Fatalf("PairIndexes = %v, want %v", got, want)
	}
	pairs := Pairs(h)
	if len(pairs) != 3 || pairs[0].Completed || !pairs[1].Completed || pairs[1].Completion.Index != 4 ||
		pairs[2].Completion.Type != Info || pairs[2].Completion.Index != -1 {
		t.Errorf("Pairs = %+v; want the same pairs, open ones completed by a synthetic info", pairs)
	}
	if got := PairIndexes(nil); len(got) != 0 {
		t.Errorf("PairIndexes(nil) = %v", got)
	}
}
