package twopc

import (
	"reflect"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
	tpc "github.com/chaoscheck/chaoscheck/sut/twopc"
)

func TestTransferTxnDebitsFromAndCreditsTo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		want     map[string][]tpc.Op
	}{
		{"across participants", "p1/a3", "p2/a1", map[string][]tpc.Op{
			"p1": {{Account: "a3", Delta: -4}}, "p2": {{Account: "a1", Delta: 4}}}},
		{"one participant", "p2/a1", "p2/a2", map[string][]tpc.Op{
			"p2": {{Account: "a1", Delta: -4}, {Account: "a2", Delta: 4}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := map[string]any{"from": tc.from, "to": tc.to, "amount": int64(4)}
			tx, err := transferTxn(history.Op{F: "transfer", TxID: "t9", Value: v})
			if err != nil {
				t.Fatal(err)
			}
			if tx.TxID != "t9" || !reflect.DeepEqual(tx.Ops, tc.want) {
				t.Fatalf("txn %+v, want t9 with %v", tx, tc.want)
			}
		})
	}
	if _, err := transferTxn(history.Op{F: "transfer", Value: "p1/a1"}); err == nil {
		t.Fatal("a transfer whose value is not a map became a transaction")
	}
}

func TestEffectsValueIsParticipantTxIDCount(t *testing.T) {
	got := effectsValue(map[string]tpc.Observation{
		"p1": {Effects: map[string]int{"t1": 1, "t2": 2}},
		"p2": {},
	})
	want := map[string]any{"p1": map[string]any{"t1": int64(1), "t2": int64(2)}, "p2": map[string]any{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("effectsValue = %v, want %v", got, want)
	}
}
