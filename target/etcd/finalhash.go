package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/target"
)

// FinalHash is the f of the final observation that compares the members:
// its ok completion's value maps each member to {"revision", "hash",
// "hash_revision", "applied_index"}, which checker.NewReplicaHash judges.
const FinalHash = checker.ReplicaHashF

// finalHash observes every member once the cluster is quiet: it waits
// until all members answer Status with the same Raft applied index (so
// every member has applied the same log prefix, and equal state is
// required of them), then records each member's revision and its HashKV at
// the lowest revision any member has (HashKV cannot hash past a member's
// own revision, and a member whose revision differs has already
// diverged). It returns info when ctx ends before the members settle.
func (s *system) finalHash(ctx context.Context, op history.Op) history.Op {
	op.Node = ""
	var last error
	for {
		v, err := s.hashOnce(ctx)
		if err == nil {
			op.Type, op.Value = history.OK, v
			return op
		}
		last = err
		select {
		case <-ctx.Done():
			op.Type, op.Error = history.Info, fmt.Sprintf("members not settled: %v", last)
			return op
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *system) hashOnce(ctx context.Context) (map[string]any, error) {
	sts := make([]*clientv3.StatusResponse, len(s.members))
	for i, m := range s.members {
		st, err := s.status(ctx, m)
		if err != nil {
			return nil, err
		}
		if i > 0 && st.RaftAppliedIndex != sts[0].RaftAppliedIndex {
			return nil, fmt.Errorf("%s applied %d, %s %d", s.members[0].name, sts[0].RaftAppliedIndex, m.name, st.RaftAppliedIndex)
		}
		sts[i] = st
	}
	rev := sts[0].Header.Revision
	for _, st := range sts {
		rev = min(rev, st.Header.Revision)
	}
	out := map[string]any{}
	for i, m := range s.members {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		h, err := m.client.HashKV(hctx, m.clientURL, rev)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s hashkv at %d: %w", m.name, rev, err)
		}
		out[m.name] = map[string]any{
			"revision":      sts[i].Header.Revision,
			"hash":          int64(h.Hash),
			"hash_revision": rev,
			"applied_index": int64(sts[i].RaftAppliedIndex),
		}
	}
	return out, nil
}

// FinalOps and Checkers make the system a target.Observer: the member
// comparison runs after every workload's final reads.
func (s *system) FinalOps() []history.Op      { return []history.Op{{F: FinalHash}} }
func (s *system) Checkers() []checker.Checker { return []checker.Checker{checker.NewReplicaHash()} }

var _ target.Observer = (*system)(nil)
