package verify

import (
	"errors"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// part builds a participant as read from its database: effects maps
// tx_id → effect rows, states tx_id → its record's state.
func part(name string, effects map[string]int, states map[string]string, balances map[string]int64) participant {
	st := twopc.ParticipantState{Balances: balances, Effects: effects}
	for tx, s := range states {
		st.Txs = append(st.Txs, twopc.TxRecord{TxID: tx, XID: tx, State: s})
	}
	return participant{Node: Node{Name: name}, state: st, states: txStates(st)}
}

func TestAtomicityVerdicts(t *testing.T) {
	coord := &Node{Name: "coordinator", Dir: "/c"}
	committed := []twopc.DecisionRecord{{TxID: "t1", XID: "t1", State: twopc.Committed, Participants: []string{"p1", "p2"}}}
	applied := map[string]int{"t1": 1}
	for _, tc := range []struct {
		name     string
		ps       []participant
		coord    *Node
		recs     []twopc.DecisionRecord
		coordErr error
		want     checker.Validity
		kind     string
	}{
		{"applied everywhere", []participant{part("p1", applied, map[string]string{"t1": "committed"}, nil), part("p2", applied, map[string]string{"t1": "committed"}, nil)},
			coord, committed, nil, checker.Valid, ""},
		{"prepared everywhere: in doubt, not partial", []participant{part("p1", nil, map[string]string{"t1": "prepared"}, nil), part("p2", nil, map[string]string{"t1": "prepared"}, nil)},
			coord, committed, nil, checker.Valid, ""},
		{"applied on one, prepared on the other: stopped mid-commit, pending", []participant{part("p1", applied, map[string]string{"t1": "committed"}, nil), part("p2", nil, map[string]string{"t1": "prepared"}, nil)},
			coord, committed, nil, checker.Unknown, ""},
		{"applied on one, aborted on the other", []participant{part("p1", applied, map[string]string{"t1": "committed"}, nil), part("p2", nil, map[string]string{"t1": "aborted"}, nil)},
			coord, committed, nil, checker.Invalid, "partial-commit"},
		{"aborted by a participant after a commit decision", []participant{part("p1", nil, map[string]string{"t1": "prepared"}, nil), part("p2", nil, map[string]string{"t1": "aborted"}, nil)},
			coord, committed, nil, checker.Invalid, "lost-commit"},
		{"applied although aborted", []participant{part("p1", applied, map[string]string{"t1": "committed"}, nil)},
			coord, []twopc.DecisionRecord{{TxID: "t1", XID: "t1", State: twopc.Aborted, Participants: []string{"p1"}}}, nil, checker.Invalid, "applied-without-commit"},
		{"a listed participant without data", []participant{part("p1", applied, map[string]string{"t1": "committed"}, nil)},
			coord, committed, nil, checker.Unknown, ""},
		{"no coordinator", []participant{part("p1", applied, nil, nil)}, nil, nil, nil, checker.Unknown, ""},
		{"coordinator running", []participant{part("p1", applied, nil, nil)}, coord, nil, errCoordinatorRunning, checker.Unknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkAtomicity(tc.ps, tc.coord, tc.recs, tc.coordErr)
			if res.Valid != tc.want {
				t.Fatalf("verdict %s, want %s: %+v", res.Valid, tc.want, res)
			}
			if tc.kind != "" && (len(res.Anomalies) == 0 || res.Anomalies[0].Kind != tc.kind || res.Anomalies[0].Key != "t1") {
				t.Errorf("anomalies %+v, want %s t1", res.Anomalies, tc.kind)
			}
		})
	}
}

func TestConservationVerdicts(t *testing.T) {
	total := int64(200)
	ok := []participant{part("p1", nil, nil, map[string]int64{"a1": 60, "a2": 40}), part("p2", nil, nil, map[string]int64{"a1": 100})}
	if res := checkConservation(ok, &total, "--total"); res.Valid != checker.Valid {
		t.Errorf("conserved: %+v", res)
	}
	res := checkConservation(ok, nil, "")
	if res.Valid != checker.Unknown || !strings.Contains(strings.Join(res.Notes, " "), "sum to 200") {
		t.Errorf("no total: want unknown reporting the sum, got %+v", res)
	}
	neg := []participant{part("p1", nil, nil, map[string]int64{"a1": 110, "a2": -10}), part("p2", nil, nil, map[string]int64{"a1": 100})}
	if res := checkConservation(neg, &total, "--total"); res.Valid != checker.Invalid || res.Anomalies[0].Key != "p1/a2" {
		t.Errorf("negative balance: %+v", res)
	}
	unread := append(ok[:1:1], participant{Node: Node{Name: "p2"}, err: errors.New("disk gone")})
	if res := checkConservation(unread, &total, "--total"); res.Valid != checker.Unknown {
		t.Errorf("a participant unread: want unknown, got %+v", res)
	}
}

// TestStoppedMidCommitIsPendingNotInvalid is a 2PC cluster stopped after
// the commit reached p1 and before it reached p2: the protocol will still
// finish t1 (the coordinator re-drives the commit), so each check that
// sees it says unknown, naming the pending tx, and none says invalid.
func TestStoppedMidCommitIsPendingNotInvalid(t *testing.T) {
	coord := &Node{Name: "coordinator", Dir: "/c"}
	recs := []twopc.DecisionRecord{{TxID: "t1", XID: "t1", State: twopc.Committed, Participants: []string{"p1", "p2"}}}
	// t1 moves 10 from p1/a1 to p2/a1; p1 applied it, p2 holds it prepared.
	ps := []participant{
		part("p1", map[string]int{"t1": 1}, map[string]string{"t1": "committed"}, map[string]int64{"a1": 90}),
		part("p2", nil, map[string]string{"t1": "prepared"}, map[string]int64{"a1": 100}),
	}
	total := int64(200)
	for _, res := range []checker.Result{
		checkInDoubt(ps, decisionsByTx(recs)),
		checkAtomicity(ps, coord, recs, nil),
		checkConservation(ps, &total, "config.json"),
	} {
		notes := strings.Join(res.Notes, "\n")
		if res.Valid != checker.Unknown || len(res.Anomalies) > 0 || !strings.Contains(notes, "pending") {
			t.Errorf("%s: verdict %s, anomalies %+v, notes %q; want unknown, none, and the pending reason", res.Checker, res.Valid, res.Anomalies, notes)
		}
	}
	if notes := strings.Join(checkInDoubt(ps, decisionsByTx(recs)).Notes, "\n"); !strings.Contains(notes, "p2 holds t1") || !strings.Contains(notes, "decision: committed") {
		t.Errorf("in-doubt notes %q do not name p2, t1 and the decision", notes)
	}
}
