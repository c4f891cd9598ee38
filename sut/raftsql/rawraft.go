package raftsql

import (
	"context"
	"errors"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// rawRaft is raft's RawNode behind a mutex: the goroutine that holds a
// message (a peer stream's reader, an /exec handler, the appender with
// its acknowledgements) steps it into raft itself, and wakes the Ready
// loop, which takes the Ready. raft.Node would hand each of them to its
// own goroutine first and that goroutine would hand the Ready on: one
// more goroutine to wake for every proposal, every MsgApp a follower
// receives and every acknowledgement the leader receives, three on the
// path of a write, each a wait for a CPU when the cores are busy.
//
// Every call into the RawNode holds mu (RawNode is not safe for
// concurrent use). A Ready, once taken, belongs to the Ready loop, as
// raft.Node's does.
type rawRaft struct {
	mu   sync.Mutex
	rn   *raft.RawNode
	wake chan struct{} // a Ready may be waiting; buffered, one signal
}

// newRawRaft starts raft from c's storage; peers, if any, bootstrap a new
// cluster (raft.StartNode's job).
func newRawRaft(c *raft.Config, peers []raft.Peer) (*rawRaft, error) {
	rn, err := raft.NewRawNode(c)
	if err != nil {
		return nil, err
	}
	if len(peers) > 0 {
		if err := rn.Bootstrap(peers); err != nil {
			return nil, err
		}
	}
	return &rawRaft{rn: rn, wake: make(chan struct{}, 1)}, nil
}

// signal wakes the Ready loop, unless a wake is already pending.
func (r *rawRaft) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Step steps a message from a peer or from this node's own storage
// goroutines. Like raft.Node, it ignores a local message that came over
// the network and a response from a node not in the configuration.
func (r *rawRaft) Step(_ context.Context, m *raftpb.Message) error {
	r.mu.Lock()
	err := r.rn.Step(m)
	r.mu.Unlock()
	r.signal()
	if errors.Is(err, raft.ErrStepLocalMsg) || errors.Is(err, raft.ErrStepPeerNotFound) {
		return nil
	}
	return err
}

// Propose proposes data; raft.ErrProposalDropped when this node cannot
// (no leader known, a leader transfer, too much uncommitted).
func (r *rawRaft) Propose(_ context.Context, data []byte) error {
	r.mu.Lock()
	err := r.rn.Propose(data)
	r.mu.Unlock()
	r.signal()
	return err
}

// ReadIndex asks raft for a read index; the answer comes in a Ready's
// ReadStates.
func (r *rawRaft) ReadIndex(_ context.Context, rctx []byte) error {
	r.mu.Lock()
	r.rn.ReadIndex(rctx)
	r.mu.Unlock()
	r.signal()
	return nil
}

func (r *rawRaft) Tick() {
	r.mu.Lock()
	r.rn.Tick()
	r.mu.Unlock()
}

// ready takes the pending Ready, if there is one.
func (r *rawRaft) ready() (raft.Ready, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.rn.HasReady() {
		return raft.Ready{}, false
	}
	return r.rn.Ready(), true
}

func (r *rawRaft) Status() raft.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rn.Status()
}

func (r *rawRaft) ApplyConfChange(cc raftpb.ConfChangeI) *raftpb.ConfState {
	r.mu.Lock()
	cs := r.rn.ApplyConfChange(cc)
	r.mu.Unlock()
	r.signal()
	return cs
}

func (r *rawRaft) ReportUnreachable(id uint64) {
	r.mu.Lock()
	r.rn.ReportUnreachable(id)
	r.mu.Unlock()
	r.signal()
}

func (r *rawRaft) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	r.mu.Lock()
	r.rn.ReportSnapshot(id, status)
	r.mu.Unlock()
	r.signal()
}
