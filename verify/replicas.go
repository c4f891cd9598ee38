package verify

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

// Replica is what the replicas check read from one Raft replica.
type Replica struct {
	Node
	AppliedIndex uint64 `json:"applied_index"`
	ContentHash  string `json:"content_hash,omitempty"`
	Error        string `json:"error,omitempty"` // the state machine could not be read
}

// checkReplicas compares the replicas' state machines. Only replicas at
// the same applied index can be compared: each is the same log prefix
// applied by the same deterministic state machine, so different content
// there is a divergence. A replica behind the most advanced one has simply
// not applied the rest yet (a follower that was down): lagging, a failure
// only when strict. With no two replicas at one index nothing is
// compared, and the verdict is unknown.
func checkReplicas(ctx context.Context, nodes []Node, strict bool) checker.Result {
	res := checker.Result{Checker: "replicas", Counts: map[string]int{"replicas": len(nodes), "compared": 0, "lagging": 0, "diverged": 0}}
	replicas := make([]Replica, len(nodes))
	unread := false
	for i, n := range nodes {
		replicas[i].Node = n
		in, err := raftsql.InspectStateMachine(ctx, filepath.Join(n.Dir, raftStateDB))
		if err != nil {
			replicas[i].Error = err.Error()
			res.Notes = append(res.Notes, fmt.Sprintf("%s: could not read its state machine: %v", n.Name, err))
			unread = true
			continue
		}
		replicas[i].AppliedIndex, replicas[i].ContentHash = in.AppliedIndex, in.ContentHash
		res.Notes = append(res.Notes, fmt.Sprintf("%s: applied index %d, content %s", n.Name, in.AppliedIndex, short(in.ContentHash)))
	}
	res.Details = replicas

	byIndex := map[uint64][]Replica{}
	var top uint64
	for _, r := range replicas {
		if r.Error == "" {
			byIndex[r.AppliedIndex] = append(byIndex[r.AppliedIndex], r)
			top = max(top, r.AppliedIndex)
		}
	}
	for _, idx := range slices.Sorted(maps.Keys(byIndex)) {
		group := byIndex[idx]
		if idx < top {
			for _, r := range group {
				res.Counts["lagging"]++
				detail := fmt.Sprintf("%s applied index %d < %d (%s); its content is not compared", r.Name, idx, top, names(byIndex[top]))
				if strict {
					res.Anomalies = append(res.Anomalies, checker.Anomaly{Kind: "lagging", Key: r.Name, Detail: detail})
				} else {
					res.Notes = append(res.Notes, "lagging: "+detail)
				}
			}
		}
		if len(group) < 2 {
			continue
		}
		res.Counts["compared"] += len(group)
		res.Anomalies = append(res.Anomalies, divergences(idx, group)...)
	}
	for _, a := range res.Anomalies {
		if a.Kind == "divergence" {
			res.Counts["diverged"]++
		}
	}
	switch {
	case len(res.Anomalies) > 0:
		res.Valid = checker.Invalid
	case unread:
		res.Valid = checker.Unknown
	case res.Counts["compared"] == 0:
		res.Valid = checker.Unknown
		res.Notes = append(res.Notes, "no two replicas at the same applied index: nothing to compare")
	default:
		res.Valid = checker.Valid
	}
	return res
}

// divergences names the replicas of one applied index whose content
// differs from the majority's; with no majority, every replica of the
// group is named in one anomaly.
func divergences(idx uint64, group []Replica) []checker.Anomaly {
	byHash := map[string][]Replica{}
	for _, r := range group {
		byHash[r.ContentHash] = append(byHash[r.ContentHash], r)
	}
	if len(byHash) == 1 {
		return nil
	}
	var majority string
	for h, rs := range byHash {
		if 2*len(rs) > len(group) {
			majority = h
		}
	}
	if majority == "" {
		var parts []string
		for _, h := range slices.Sorted(maps.Keys(byHash)) {
			parts = append(parts, fmt.Sprintf("%s has %s", names(byHash[h]), short(h)))
		}
		return []checker.Anomaly{{Kind: "divergence", Key: names(group),
			Detail: fmt.Sprintf("at applied index %d the replicas hold different content and no majority agrees: %s", idx, strings.Join(parts, "; "))}}
	}
	var out []checker.Anomaly
	for _, r := range group {
		if r.ContentHash == majority {
			continue
		}
		out = append(out, checker.Anomaly{Kind: "divergence", Key: r.Name,
			Detail: fmt.Sprintf("%s at applied index %d has content %s; %s have %s", r.Name, idx, short(r.ContentHash), names(byHash[majority]), short(majority))})
	}
	return out
}

func names(rs []Replica) string {
	var ns []string
	for _, r := range rs {
		ns = append(ns, r.Name)
	}
	slices.SortFunc(ns, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b)) })
	return strings.Join(ns, ", ")
}

// short is a hash prefix long enough to tell two hashes apart by eye.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
