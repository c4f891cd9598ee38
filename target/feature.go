package target

import "slices"

// Feature is an ability of a booted system that some nemesis needs. A
// Target lists its features before boot, so a run whose nemesis the
// target cannot serve is refused before anything starts.
type Feature string

const (
	// Kill: Kill and Start work (chaoscheck started the processes).
	Kill Feature = "kill"
	// Pause: Pause and Resume work.
	Pause Feature = "pause"
	// LeaderFeature: the System implements Leader.
	LeaderFeature Feature = "leader"
	// Partition: node-to-node links go through Env.Net.
	Partition Feature = "partition"
	// CommitWindowFeature: the System implements CommitWindow.
	CommitWindowFeature Feature = "commit-window"
	// ClientProxy: the System implements ClientRouter.
	ClientProxy Feature = "client-proxy"
	// RaftFailpoints: chaoscheck's embedded Raft store, whose replicas'
	// apply loop a nemesis can stall (lag-follower).
	RaftFailpoints Feature = "raft-failpoints"
	// Coordinator: a 2PC coordinator node that can be killed on its own
	// (restart-coordinator, coordinator-crash).
	Coordinator Feature = "coordinator"
	// CoordinatorFailpoints: chaoscheck's embedded 2PC coordinator, whose
	// decision and commit failpoints a nemesis holds (coordinator-crash).
	CoordinatorFailpoints Feature = "coordinator-failpoints"
)

// Has says whether fs holds every feature of need, and returns the first
// one missing.
func Has(fs []Feature, need ...Feature) (Feature, bool) {
	for _, n := range need {
		if !slices.Contains(fs, n) {
			return n, false
		}
	}
	return "", true
}

// Conditional is a Target some of whose features depend on what its
// options describe (the process target: on its config file). Help lists
// the nemeses these features add, with the conditions, so a user does
// not take the option-less list for all the target can do.
type Conditional interface {
	// MoreFeatures maps each feature the options can add to the
	// condition that adds it, in words.
	MoreFeatures() map[Feature]string
}
