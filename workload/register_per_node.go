package workload

import (
	"fmt"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
	"github.com/chaoscheck/chaoscheck/sut/raftsql"
)

func init() { constructors["register-per-node"] = newRegisterPerNode }

// registerPerNode is the register workload with every client process bound
// to one replica, the way Jepsen binds its clients to nodes: process p
// talks only to the p-th replica (mod the cluster size), which forwards to
// the leader what it may not serve itself.
//
// The register workload's clients all try n1 first and then stay with
// whichever node answered, so whether a follower ever serves their reads
// is luck. Here most reads arrive at followers, which a correct replica
// forwards to the leader (ReadIndex) and a replica that answers from its
// own state (raftsql's stale-read) serves stale: a follower that was
// paused, or a deposed leader, answers with what it had before the rest
// of the cluster moved on.
type registerPerNode struct{ register }

func newRegisterPerNode(opts Options) (Workload, error) {
	return &registerPerNode{register{opts: opts}}, nil
}

func (*registerPerNode) Name() string { return "register-per-node" }

func (w *registerPerNode) NewClient(t *cluster.Target, process int64) (Client, error) {
	rc, err := raftOf(t)
	if err != nil {
		return nil, err
	}
	ids := rc.IDs()
	if len(ids) == 0 {
		return nil, fmt.Errorf("register-per-node: the Raft cluster has no nodes")
	}
	id := ids[int(process%int64(len(ids)))]
	// One address only: the client cannot wander off to another node,
	// and its reads are served (or forwarded) by its own replica.
	c := raftsql.NewClient(map[uint64]string{id: t.ClientAddr(rc.APIAddr(id))}, raftsql.ClientOptions{Timeout: w.opts.OpTimeout})
	w.procs.saw(process)
	return &registerClient{c: c, ids: requestIDs{prefix: fmt.Sprintf("register-p%d", process)}}, nil
}
