package etcd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/target"
)

// Why front doors: the partition layer wants every node-to-node link as
// its own address, Net.Via(from, to, addr), but an etcd member cannot be
// told a per-member view of its peers. Every member dials member X at the
// peer URL X advertises, which is replicated in the cluster's membership,
// and member IDs are hashed from the peer URLs in --initial-cluster, so
// members given different URLs for X would not even form one cluster.
//
// So each member advertises a front door: a listener on 127.0.0.1 that
// reads the first HTTP request of each connection, learns the dialing
// member from the X-PeerURLs header rafthttp sets on every stream and
// pipeline request (the dialer's own advertised URL, which is its front
// door), and splices the connection to Net.Via(dialer, X, X's listener).
// Raft's messages (streams, pipelines, snapshots) all carry that header,
// so the partition layer can cut any pair.
//
// Directions are kept: a connection spliced onto Via(A, X) carries A's
// requests to X and X's replies (and X's stream messages) back to A, and
// the partition layer faults each direction as its own ordered pair.
//
// What it cannot cut: requests without the header (GET /version, the
// rafthttp prober's /raft/probing, lease forwarding, /members) go straight
// to X: they carry no Raft messages, only health and version checks.
type frontDoors struct {
	direct map[string]string       // member → its own peer listener
	via    map[[2]string]string    // (from, to) → what from dials for to
	byURL  map[string]string       // advertised peer URL → member
	ls     map[string]net.Listener // member → its front door

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newFrontDoors(members []*member, nw target.Net) (*frontDoors, error) {
	d := &frontDoors{
		direct: map[string]string{}, via: map[[2]string]string{}, byURL: map[string]string{},
		ls: map[string]net.Listener{}, conns: map[net.Conn]struct{}{},
	}
	for _, m := range members {
		d.direct[m.name] = m.peerAddr
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("etcd front door for %s: %w", m.name, err)
		}
		d.ls[m.name] = l
		d.byURL["http://"+l.Addr().String()] = m.name
	}
	for _, from := range members {
		for _, to := range members {
			if from == to {
				continue
			}
			a, err := nw.Via(from.name, to.name, to.peerAddr)
			if err != nil {
				d.Close()
				return nil, fmt.Errorf("etcd peer link %s→%s: %w", from.name, to.name, err)
			}
			d.via[[2]string{from.name, to.name}] = a
		}
	}
	for name, l := range d.ls {
		d.wg.Add(1)
		go d.serve(name, l)
	}
	return d, nil
}

// addr is the front door of member name, the peer address it advertises.
func (d *frontDoors) addr(name string) string { return d.ls[name].Addr().String() }

func (d *frontDoors) serve(to string, l net.Listener) {
	defer d.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !d.track(c) {
			c.Close()
			return
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.splice(to, c)
		}()
	}
}

// splice identifies the dialer of c and joins c to the link it must take.
func (d *frontDoors) splice(to string, c net.Conn) {
	defer d.untrack(c)
	var seen bytes.Buffer
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(io.TeeReader(c, &seen)))
	c.SetReadDeadline(time.Time{})
	if err != nil {
		return
	}
	dial := d.direct[to]
	if from, ok := d.dialer(req.Header.Get("X-PeerURLs")); ok && from != to {
		dial = d.via[[2]string{from, to}]
	}
	up, err := net.DialTimeout("tcp", dial, 5*time.Second)
	if err != nil {
		return
	}
	if !d.track(up) {
		up.Close()
		return
	}
	defer d.untrack(up)
	// seen holds every byte read from c so far: the request head and
	// whatever of the body the reader buffered.
	if _, err := up.Write(seen.Bytes()); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done // either side ending ends both (the deferred closes)
}

// dialer maps an X-PeerURLs header to the member whose front door it names.
func (d *frontDoors) dialer(urls string) (string, bool) {
	for _, u := range strings.Split(urls, ",") {
		if n, ok := d.byURL[strings.TrimSpace(u)]; ok {
			return n, true
		}
	}
	return "", false
}

func (d *frontDoors) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *frontDoors) untrack(c net.Conn) {
	c.Close()
	d.mu.Lock()
	delete(d.conns, c)
	d.mu.Unlock()
}

// Close stops the front doors and cuts every connection through them.
func (d *frontDoors) Close() {
	d.mu.Lock()
	d.closed = true
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	for _, l := range d.ls {
		l.Close()
	}
	d.wg.Wait()
}
