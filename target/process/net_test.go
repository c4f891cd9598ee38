package process

import (
	"io"
	"net"
	"sync"
	"testing"
)

// linkNet is a partition layer for these tests until package faultnet is
// on main: one loopback TCP proxy per directed link (from, to), which
// isolate cuts (closing its connections and refusing new ones).
type linkNet struct {
	t     *testing.T
	mu    sync.Mutex
	links map[[2]string]*link
}

type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
}

func newLinkNet(t *testing.T) *linkNet {
	n := &linkNet{t: t, links: map[[2]string]*link{}}
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, l := range n.links {
			l.ln.Close()
			l.setCut(true)
		}
	})
	return n
}

func (n *linkNet) Via(from, to, addr string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	l := &link{ln: ln, target: addr, conns: map[net.Conn]bool{}}
	n.mu.Lock()
	n.links[[2]string{from, to}] = l
	n.mu.Unlock()
	go l.serve()
	return ln.Addr().String(), nil
}

// isolate cuts (or heals) every link to and from node.
func (n *linkNet) isolate(node string, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, l := range n.links {
		if k[0] == node || k[1] == node {
			l.setCut(cut)
		}
	}
}

// healAll heals every link.
func (n *linkNet) healAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.links {
		l.setCut(false)
	}
}

func (l *link) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

func (l *link) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	for _, c := range cs {
		l.conns[c] = true
	}
	return true
}

func (l *link) untrack(cs ...net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range cs {
		delete(l.conns, c)
		c.Close()
	}
}

func (l *link) serve() {
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			out, err := net.Dial("tcp", l.target)
			if err != nil {
				in.Close()
				return
			}
			if !l.track(in, out) {
				in.Close()
				out.Close()
				return
			}
			done := make(chan struct{}, 2)
			go func() { io.Copy(out, in); done <- struct{}{} }()
			go func() { io.Copy(in, out); done <- struct{}{} }()
			<-done
			l.untrack(in, out)
		}()
	}
}
