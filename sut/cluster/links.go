package cluster

import "fmt"

// ViaFunc routes a node-to-node link: it returns the address node `from`
// must dial to reach node `to`, whose real address is addr, e.g. a
// faultnet proxy's (faultnet.Net.Via). Node names are the cluster's own:
// n1, n2 … for Raft, "coordinator", p1, p2 … for 2PC. Client traffic
// never goes through it.
type ViaFunc func(from, to, addr string) (string, error)

// route returns the address from dials to reach to at addr: via's answer,
// or addr itself when via is nil.
func (via ViaFunc) route(from, to, addr string) (string, error) {
	if via == nil {
		return addr, nil
	}
	a, err := via(from, to, addr)
	if err != nil {
		return "", fmt.Errorf("route %s → %s: %w", from, to, err)
	}
	return a, nil
}
