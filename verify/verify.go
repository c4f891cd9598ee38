package verify

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/report"
	"github.com/chaoscheck/chaoscheck/store"
	"github.com/chaoscheck/chaoscheck/sut/twopc"
)

// Report is verify's outcome: the merged verdict, one checker.Result per
// check (the same shape as a run's results.json checkers) and the data
// dirs judged.
type Report struct {
	Valid    checker.Validity `json:"valid"`
	Checkers []checker.Result `json:"checkers"`
	Notes    []string         `json:"notes,omitempty"`
	Nodes    Inputs           `json:"nodes"`
}

// Inputs lists the data dirs a report judged.
type Inputs struct {
	Raft         []Node `json:"raft,omitempty"`
	Participants []Node `json:"participants,omitempty"`
	Coordinator  *Node  `json:"coordinator,omitempty"`
}

// Verify runs every check the data dirs in o allow: replicas for Raft
// replicas; in-doubt, applied-once, conservation and atomicity for a 2PC
// cluster. Call o.Resolve first for dirs a user named (FromRunDir's are
// found by their files). With no data dir at all the verdict is unknown.
func Verify(ctx context.Context, o Options) Report {
	rep := Report{Notes: o.Notes, Nodes: Inputs{Raft: o.Raft, Participants: o.Participants, Coordinator: o.Coordinator}}
	if len(o.Raft) > 0 {
		rep.Checkers = append(rep.Checkers, checkReplicas(ctx, o.Raft, o.Strict))
	}
	if len(o.Participants) > 0 || o.Coordinator != nil {
		var recs []twopc.DecisionRecord
		var coordErr error
		var decided map[string]decision
		if o.Coordinator != nil {
			recs, coordErr = readDecisions(o.Coordinator.Dir)
			if coordErr == nil {
				decided = decisionsByTx(recs)
			}
		}
		ps := readParticipants(ctx, o.Participants)
		if len(ps) > 0 {
			rep.Checkers = append(rep.Checkers, checkInDoubt(ps, decided), checkAppliedOnce(ps),
				checkConservation(ps, o.Total, o.TotalSource))
		}
		rep.Checkers = append(rep.Checkers, checkAtomicity(ps, o.Coordinator, recs, coordErr))
	}
	if len(rep.Checkers) == 0 {
		rep.Valid = checker.Unknown
		rep.Notes = append(rep.Notes, "no data dirs to verify")
		return rep
	}
	rep.Valid = checker.Valid
	for _, c := range rep.Checkers {
		rep.Valid = checker.Merge(rep.Valid, c.Valid)
	}
	return rep
}

// WriteSummary prints the data dirs judged, then the verdict and each
// check as analyze prints its checkers.
func WriteSummary(w io.Writer, rep Report) error {
	var b strings.Builder
	list := func(kind string, ns []Node) {
		for _, n := range ns {
			fmt.Fprintf(&b, "  %-12s %-12s %s\n", kind, n.Name, n.Dir)
		}
	}
	list("raft", rep.Nodes.Raft)
	list("participant", rep.Nodes.Participants)
	if c := rep.Nodes.Coordinator; c != nil {
		list("coordinator", []Node{*c})
	}
	if b.Len() > 0 {
		if _, err := fmt.Fprintf(w, "data dirs:\n%s\n", b.String()); err != nil {
			return err
		}
	}
	return report.WriteSummary(w, store.Results{Valid: rep.Valid, Checkers: rep.Checkers, Notes: rep.Notes})
}
