package workload

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

func TestByNameBootsWhatEachWorkloadNeeds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     Options
		raft     int
		twopc    bool
		checkers []string
	}{
		{"register", Options{}, 3, false, []string{"linearizable", "stats"}},
		{"set", Options{RaftNodes: 5}, 5, false, []string{"set", "stats"}},
		{"bank", Options{}, 0, true, []string{"bank", "txid", "stats"}},
		{"retry", Options{}, 0, true, []string{"bank", "txid", "stats"}},
		{"retry", Options{Target: "raft"}, 3, false, []string{"txid", "stats"}},
	} {
		t.Run(tc.name+"-"+tc.opts.Target, func(t *testing.T) {
			w, err := ByName(tc.name, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b := w.Boot()
			if b.RaftNodes != tc.raft || (b.TwoPC != nil) != tc.twopc {
				t.Fatalf("Boot() = %+v, want %d raft nodes, 2pc %v", b, tc.raft, tc.twopc)
			}
			if b.TwoPC != nil {
				want := []string{"p1/a1", "p2/a1", "p1/a2", "p2/a2", "p1/a3", "p2/a3", "p1/a4", "p2/a4"}
				if !reflect.DeepEqual(b.TwoPC.Accounts, want) || b.TwoPC.InitialBalance != 100 ||
					!reflect.DeepEqual(b.TwoPC.Participants, []string{"p1", "p2"}) {
					t.Fatalf("2PC spec %+v, want 8 accounts over p1, p2 at 100", b.TwoPC)
				}
			}
			var names []string
			for _, c := range w.Checkers(t.TempDir()) {
				names = append(names, c.Name())
			}
			if !reflect.DeepEqual(names, tc.checkers) {
				t.Fatalf("checkers %v, want %v", names, tc.checkers)
			}
			// Generator(seed) is deterministic through the workload too.
			a, b2 := take(w.Generator(3), 200), take(w.Generator(3), 200)
			if !reflect.DeepEqual(a, b2) {
				t.Fatalf("Generator(3) yields two sequences")
			}
		})
	}
	for _, bad := range []struct {
		name string
		opts Options
		err  string
	}{
		{"queue", Options{}, "unknown workload"},
		{"retry", Options{Target: "etcd"}, "target"},
		{"bank", Options{Accounts: 1}, "at least 2"},
	} {
		if _, err := ByName(bad.name, bad.opts); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("ByName(%q, %+v) error %v, want one containing %q", bad.name, bad.opts, err, bad.err)
		}
	}
}

func TestTransferTxnDebitsFromAndCreditsTo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		want     map[string][]twopc.Op
	}{
		{"across participants", "p1/a3", "p2/a1", map[string][]twopc.Op{
			"p1": {{Account: "a3", Delta: -4}}, "p2": {{Account: "a1", Delta: 4}}}},
		{"one participant", "p2/a1", "p2/a2", map[string][]twopc.Op{
			"p2": {{Account: "a1", Delta: -4}, {Account: "a2", Delta: 4}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := transferTxn(history.Op{F: "transfer", TxID: "t9", Value: transferValue(tc.from, tc.to, 4)})
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
	got := effectsValue(map[string]twopc.Observation{
		"p1": {Effects: map[string]int{"t1": 1, "t2": 2}},
		"p2": {},
	})
	want := map[string]any{"p1": map[string]any{"t1": int64(1), "t2": int64(2)}, "p2": map[string]any{}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("effectsValue = %v, want %v", got, want)
	}
}
