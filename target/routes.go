package target

import "sync"

// Routes is the table behind ClientRouter, for a System to embed: which
// address clients dial instead of a node's own (a nemesis's fault proxy).
// The zero value routes nothing.
type Routes struct {
	mu  sync.Mutex
	via map[string]string
}

// RouteClients makes clients created from now on dial via instead of addr;
// via "" removes the route.
func (r *Routes) RouteClients(addr, via string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if via == "" {
		delete(r.via, addr)
		return
	}
	if r.via == nil {
		r.via = map[string]string{}
	}
	r.via[addr] = via
}

// ClientAddr is the address a client should dial to reach addr.
func (r *Routes) ClientAddr(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.via[addr]; ok {
		return v
	}
	return addr
}
