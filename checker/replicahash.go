package checker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/history"
)

// NewReplicaHash returns the checker of a replicated system's final
// state: every ok "final-hash" op (a target's final observation, made once
// the faults have healed and every replica has applied the same log)
// maps each replica to {"revision": r, "hash": h}. All replicas must
// report the same revision and the same hash; otherwise a
// "replica-divergence" anomaly names the replicas outside the largest
// agreeing group. This catches what client-visible checks can miss: a
// replica that silently skipped or re-applied an entry (etcd issue
// #13766) serves wrong data only to the clients that happen to read it.
//
// Without an ok final-hash op the verdict is unknown.
func NewReplicaHash() Checker { return replicaHashChecker{} }

// ReplicaHashF is the f of the ops NewReplicaHash judges.
const ReplicaHashF = "final-hash"

type replicaHashChecker struct{}

func (replicaHashChecker) Name() string { return "replica-hash" }

func (c replicaHashChecker) Check(ctx context.Context, h history.History) Result {
	res := Result{Checker: c.Name(), Valid: Unknown, Counts: map[string]int{}}
	for _, op := range h {
		if op.F != ReplicaHashF || op.Type != history.OK {
			continue
		}
		if ctx.Err() != nil {
			res.Valid = Unknown
			res.Notes = append(res.Notes, "cancelled")
			return res
		}
		res.Counts["observations"]++
		groups, err := replicaGroups(op.Value)
		if err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("op %d: %v", op.Index, err))
			continue
		}
		res.Counts["replicas"] = max(res.Counts["replicas"], countReplicas(groups))
		if res.Valid == Unknown {
			res.Valid = Valid
		}
		if len(groups) == 1 {
			continue
		}
		res.Valid = Invalid
		var diverged []string
		var parts []string
		for i, g := range groups {
			parts = append(parts, fmt.Sprintf("%s at %s", strings.Join(g.replicas, ","), g.state))
			if i > 0 {
				diverged = append(diverged, g.replicas...)
			}
		}
		res.Anomalies = append(res.Anomalies, Anomaly{
			Kind: "replica-divergence", Ops: []int64{op.Index}, Key: strings.Join(diverged, ","),
			Detail: "replicas diverge after the faults healed: " + strings.Join(parts, "; "),
		})
	}
	if res.Counts["observations"] == 0 {
		res.Notes = append(res.Notes, "no ok final-hash observation in the history")
	}
	return res
}

type replicaGroup struct {
	state    string // "revision R hash H"
	replicas []string
}

// replicaGroups groups the replicas of a final-hash value by state,
// largest group first (ties by the first replica's name), replicas sorted.
func replicaGroups(v any) ([]replicaGroup, error) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, fmt.Errorf("final-hash value %v is not a map of replica → {revision, hash}", v)
	}
	by := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		st, ok := m[name].(map[string]any)
		if !ok || st["revision"] == nil || st["hash"] == nil {
			return nil, fmt.Errorf("final-hash: replica %s: %v has no revision and hash", name, m[name])
		}
		key := fmt.Sprintf("revision %v hash %v", st["revision"], st["hash"])
		by[key] = append(by[key], name)
	}
	groups := make([]replicaGroup, 0, len(by))
	for state, rs := range by {
		groups = append(groups, replicaGroup{state: state, replicas: rs})
	}
	slices.SortFunc(groups, func(a, b replicaGroup) int {
		if len(a.replicas) != len(b.replicas) {
			return len(b.replicas) - len(a.replicas)
		}
		return strings.Compare(a.replicas[0], b.replicas[0])
	})
	return groups, nil
}

func countReplicas(gs []replicaGroup) int {
	n := 0
	for _, g := range gs {
		n += len(g.replicas)
	}
	return n
}
