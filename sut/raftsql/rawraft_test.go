package raftsql

import (
	"context"
	"errors"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// rawRaft keeps raft.Node's rules at the network's edge: a local message
// that arrives from a peer and a response from a node outside the
// configuration are ignored (not errors, not stepped), a proposal with no
// leader is refused at once, and every call that may make a Ready wakes
// the Ready loop, one pending wake at most.
func TestRawRaftStepsLikeRaftNode(t *testing.T) {
	c := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: raft.NewMemoryStorage(),
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 16, AsyncStorageWrites: true}
	r, err := newRawRaft(c, []raft.Peer{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	drainWake := func() bool {
		select {
		case <-r.wake:
			return true
		default:
			return false
		}
	}
	drainWake()

	if err := r.Propose(context.Background(), []byte("x")); !errors.Is(err, raft.ErrProposalDropped) {
		t.Errorf("propose with no leader: %v, want ErrProposalDropped", err)
	}
	if !drainWake() {
		t.Error("a proposal did not wake the Ready loop")
	}

	// MsgHup is this node's own "campaign now": from the network it must be
	// ignored, or any peer could start elections here. A lone voter that
	// stepped it would campaign at once.
	hup := &raftpb.Message{Type: raftpb.MsgHup.Enum(), From: new(uint64(2)), To: new(uint64(1))}
	if err := r.Step(context.Background(), hup); err != nil {
		t.Errorf("step a local message from a peer: %v, want it ignored", err)
	}
	if st := r.Status(); st.RaftState != raft.StateFollower || st.GetTerm() != 1 {
		t.Errorf("after a remote MsgHup: %v at term %d, want a follower still at term 1", st.RaftState, st.GetTerm())
	}

	resp := &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: new(uint64(9)), To: new(uint64(1)), Term: new(uint64(1))}
	if err := r.Step(context.Background(), resp); err != nil {
		t.Errorf("step a response from unknown node 9: %v, want it ignored", err)
	}

	// Wakes coalesce: many steps, one pending signal.
	drainWake()
	for range 3 {
		_ = r.Step(context.Background(), resp)
	}
	if n := len(r.wake); n != 1 {
		t.Errorf("%d pending wakes after 3 steps, want 1", n)
	}
}
