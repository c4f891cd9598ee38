package cluster

import "sync"

// Target is the running system under test that a workload and a nemesis
// act on. Exactly the parts the scenario booted are non-nil.
type Target struct {
	Raft  *RaftCluster
	TwoPC *TwoPCCluster

	mu sync.Mutex
	// via maps an API address ("127.0.0.1:7001") to the address workload
	// clients dial instead, e.g. a nemesis's fault proxy in front of it.
	via map[string]string
}

// ClientAddr returns the address a workload client should dial to reach
// the node API at addr: a fault proxy's, when a nemesis installed one,
// otherwise addr itself.
func (t *Target) ClientAddr(addr string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.via[addr]; ok {
		return v
	}
	return addr
}

// SetClientAddr routes workload clients created from now on that want
// addr to via instead; via "" removes the route. Nemeses call it in their
// Setup, before the workload creates its clients.
func (t *Target) SetClientAddr(addr, via string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if via == "" {
		delete(t.via, addr)
		return
	}
	if t.via == nil {
		t.via = map[string]string{}
	}
	t.via[addr] = via
}
