package cluster

import (
	"errors"
	"fmt"
	"time"
)

// How long the targets over these clusters wait: NodeUpTimeout for one
// node's own start (its process up and answering /status), BootTimeout for
// a whole cluster's first health (a Raft election, every 2PC node
// serving).
const (
	NodeUpTimeout = 20 * time.Second
	BootTimeout   = 30 * time.Second
)

// ProcNodes is per-node process control by node name, for a cluster whose
// nodes are each one *Proc: what a target.System's Nodes, Running, Kill,
// Pause, Resume and a killing Stop do, written once for the Raft and 2PC
// clusters (RaftCluster.ProcNodes, TwoPCCluster.ProcNodes).
type ProcNodes struct {
	lookup func(node string) *Proc // nil for an unknown name
	names  func() []string
}

func (n ProcNodes) proc(node string) (*Proc, error) {
	if p := n.lookup(node); p != nil {
		return p, nil
	}
	return nil, fmt.Errorf("no node %q (nodes: %v)", node, n.names())
}

// Nodes lists the node names.
func (n ProcNodes) Nodes() []string { return n.names() }

// Running reports whether node's process runs (paused counts as running).
func (n ProcNodes) Running(node string) bool {
	p := n.lookup(node)
	return p != nil && p.Running()
}

// Kill sends node SIGKILL and waits until it is gone.
func (n ProcNodes) Kill(node string) error {
	p, err := n.proc(node)
	if err != nil {
		return err
	}
	return p.Kill()
}

// Pause stops node with SIGSTOP.
func (n ProcNodes) Pause(node string) error {
	p, err := n.proc(node)
	if err != nil {
		return err
	}
	return p.Pause()
}

// Resume continues a paused node.
func (n ProcNodes) Resume(node string) error {
	p, err := n.proc(node)
	if err != nil {
		return err
	}
	return p.Resume()
}

// KillAll kills every node, the Stop(kill) of a target: no grace period.
func (n ProcNodes) KillAll() error {
	var errs []error
	for _, node := range n.names() {
		errs = append(errs, n.Kill(node))
	}
	return errors.Join(errs...)
}
