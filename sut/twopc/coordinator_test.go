package twopc

import (
	"strings"
	"testing"
)

func TestHashOpsIdentifiesThePayload(t *testing.T) {
	base := map[string][]Op{"p1": {{Account: "a1", Delta: -5}}, "p2": {{Account: "a1", Delta: 5}}}
	same := map[string][]Op{"p2": {{Account: "a1", Delta: 5}}, "p1": {{Account: "a1", Delta: -5}}}
	other := map[string][]Op{"p1": {{Account: "a1", Delta: -6}}, "p2": {{Account: "a1", Delta: 6}}}
	if hashOps(base) != hashOps(same) {
		t.Errorf("equal ops hash differently")
	}
	if hashOps(base) == hashOps(other) {
		t.Errorf("different ops hash equal")
	}
}

func TestValidateTxn(t *testing.T) {
	c := &coordinator{cfg: CoordinatorConfig{Participants: map[string]string{"p1": "x", "p2": "y"}}, names: []string{"p1", "p2"}}
	cases := []struct {
		name string
		tx   Txn
		want string // substring of the complaint; "" for valid
	}{
		{"valid", Txn{TxID: "t1", Ops: map[string][]Op{"p1": {{Account: "a1", Delta: 1}}}}, ""},
		{"no tx_id", Txn{Ops: map[string][]Op{"p1": {{Account: "a1", Delta: 1}}}}, "tx_id is required"},
		{"no ops", Txn{TxID: "t1"}, "at least one participant"},
		{"unknown participant", Txn{TxID: "t1", Ops: map[string][]Op{"p9": {{Account: "a1"}}}}, "unknown participant"},
		{"empty op list", Txn{TxID: "t1", Ops: map[string][]Op{"p1": {}}}, "no ops"},
		{"op without account", Txn{TxID: "t1", Ops: map[string][]Op{"p1": {{Delta: 1}}}}, "without an account"},
	}
	for _, tc := range cases {
		got := c.validateTxn(tc.tx)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: validateTxn = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParseBugs(t *testing.T) {
	b, err := ParseBugs([]string{BugNoDedup, BugOnePhase})
	if err != nil || !b.Has(BugNoDedup) || !b.Has(BugOnePhase) || b.Has(BugMemoryDedup) {
		t.Fatalf("ParseBugs = %v, %v", b, err)
	}
	if _, err := ParseBugs([]string{"no-such-bug"}); err == nil || !strings.Contains(err.Error(), "unknown seeded bug") {
		t.Fatalf("unknown bug name: err %v", err)
	}
}
