package faultnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/loopback"
)

// Fault is what happens to bytes flowing from one node to another. The
// zero Fault passes everything at once.
type Fault struct {
	// Blackhole: bytes vanish; the connection stays open.
	Blackhole bool `json:"blackhole,omitempty"`
	// Delay holds every chunk this long, ± a uniform Jitter.
	Delay  time.Duration `json:"delay,omitempty"`
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss is the probability that a chunk is lost (0 to 1). A connection
	// direction that lost a chunk passes nothing more (see doc.go).
	Loss float64 `json:"loss,omitempty"`
}

// clean reports whether f loses nothing: a damaged connection on a clean
// pair is closed.
func (f Fault) clean() bool { return !f.Blackhole && f.Loss == 0 }

// pair is an ordered pair of nodes: bytes flow from src to dst.
type pair struct{ src, dst string }

// state is the fault configuration; a Net swaps whole states, never edits
// one in place, so a reader sees either the old one or the new.
type state struct {
	grudge Grudge
	cut    map[pair]bool  // from grudge: dst drops traffic from src
	slow   Fault          // Delay and Jitter for every pair
	links  map[pair]Fault // per-pair faults set with Set
}

// fault is the effective fault of bytes from src to dst: the pair's own
// fault if Set gave one, else the net-wide Slow, blackholed when the
// grudge cuts the pair.
func (s *state) fault(src, dst string) Fault {
	f, ok := s.links[pair{src, dst}]
	if !ok || (f.Delay == 0 && f.Jitter == 0) {
		f.Delay, f.Jitter = s.slow.Delay, s.slow.Jitter
	}
	if s.cut[pair{src, dst}] {
		f.Blackhole = true
	}
	return f
}

// Counts are the bytes a pair of nodes passed and dropped so far.
type Counts struct {
	Passed  int64 `json:"passed"`
	Dropped int64 `json:"dropped"`
}

type counters struct{ passed, dropped atomic.Int64 }

// Net is the network between the nodes of one cluster: every proxy, every
// connection through them and the faults they obey. Its methods are safe
// for concurrent use.
type Net struct {
	log    *slog.Logger
	ctx    context.Context // ends at Close: cancels dials to upstreams
	cancel context.CancelFunc
	st     atomic.Pointer[state]
	wg     sync.WaitGroup // every goroutine the Net started

	mu      sync.Mutex
	closed  bool
	proxies map[proxyKey]*proxy
	pipes   map[*pipe]struct{}
	nodes   map[string]bool
	counts  map[pair]*counters

	rngMu sync.Mutex
	rng   *rand.Rand // jitter and loss; timing makes them unrepeatable anyway
}

type proxyKey struct{ from, to, upstream string }

// proxy listens for node `from`'s connections to `to` at upstream.
type proxy struct {
	proxyKey
	ln net.Listener
}

// dialTimeout bounds a proxy's dial to its upstream; a node that is down
// refuses at once on loopback, so this only guards a wedged kernel.
const dialTimeout = 2 * time.Second

// New returns an empty Net, every link passing. log (nil: discard) gets
// one line per change of faults.
func New(log *slog.Logger) *Net {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Net{
		log: log, ctx: ctx, cancel: cancel,
		proxies: map[proxyKey]*proxy{},
		pipes:   map[*pipe]struct{}{},
		nodes:   map[string]bool{},
		counts:  map[pair]*counters{},
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	n.st.Store(&state{grudge: Grudge{}})
	return n
}

// Via returns the address node `from` must dial to reach node `to` at
// upstream ("127.0.0.1:port"). The proxy is created on the first call and
// the same address is returned for the rest of the Net's life, so a node
// restarted with the same arguments reaches its peer through it again.
func (n *Net) Via(from, to, upstream string) (string, error) {
	if from == "" || to == "" || from == to {
		return "", fmt.Errorf("faultnet: link %q → %q: want two different node names", from, to)
	}
	if err := loopback.Check(upstream); err != nil {
		return "", fmt.Errorf("faultnet: link %s → %s: %w", from, to, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return "", errors.New("faultnet: Via after Close")
	}
	key := proxyKey{from, to, upstream}
	if px, ok := n.proxies[key]; ok {
		return px.ln.Addr().String(), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("faultnet: link %s → %s: %w", from, to, err)
	}
	px := &proxy{proxyKey: key, ln: ln}
	n.proxies[key] = px
	n.nodes[from], n.nodes[to] = true, true
	n.wg.Go(func() { n.accept(px) })
	n.log.Debug("faultnet link", "from", from, "to", to, "upstream", upstream, "via", ln.Addr().String())
	return ln.Addr().String(), nil
}

// Nodes lists every node named by Via so far, sorted.
func (n *Net) Nodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.nodes))
	for k := range n.nodes {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Partition replaces the grudge: from now on every node drops the traffic
// of the nodes g lists for it, in both directions of every connection
// between them. Partition(nil) lifts the grudge and leaves Slow and Set
// faults as they are.
func (n *Net) Partition(g Grudge) {
	g = g.Normalize()
	cut := map[pair]bool{}
	for dst, srcs := range g {
		for _, src := range srcs {
			cut[pair{src, dst}] = true
		}
	}
	n.change(func(s *state) { s.grudge, s.cut = g, cut })
	n.log.Info("faultnet partition", "grudge", g.String())
}

// Slow delays every chunk on every link by delay ± jitter (both 0: no
// delay), except on pairs that Set gave a delay of their own.
func (n *Net) Slow(delay, jitter time.Duration) {
	n.change(func(s *state) { s.slow = Fault{Delay: max(delay, 0), Jitter: max(jitter, 0)} })
	n.log.Info("faultnet slow", "delay", delay, "jitter", jitter)
}

// Set gives bytes from node src to node dst their own fault, replacing
// what Set gave before; the zero Fault removes it. A grudge that cuts the
// pair still blackholes it.
func (n *Net) Set(src, dst string, f Fault) {
	f.Loss = min(max(f.Loss, 0), 1)
	n.change(func(s *state) {
		if f == (Fault{}) {
			delete(s.links, pair{src, dst})
			return
		}
		s.links[pair{src, dst}] = f
	})
	n.log.Info("faultnet link fault", "src", src, "dst", dst, "blackhole", f.Blackhole, "delay", f.Delay, "jitter", f.Jitter, "loss", f.Loss)
}

// Heal restores every link: no grudge, no delay, no loss. Connections
// that lost bytes are closed (their streams have holes); the rest carry on.
func (n *Net) Heal() {
	n.change(func(s *state) { *s = state{grudge: Grudge{}, links: map[pair]Fault{}} })
	n.log.Info("faultnet heal")
}

// Grudge is the grudge in force (empty when none).
func (n *Net) Grudge() Grudge { return n.st.Load().grudge.Normalize() }

// Fault is the effective fault of bytes from src to dst now.
func (n *Net) Fault(src, dst string) Fault { return n.st.Load().fault(src, dst) }

// Counts reports the bytes from src to dst passed and dropped so far.
func (n *Net) Counts(src, dst string) Counts {
	n.mu.Lock()
	c := n.counts[pair{src, dst}]
	n.mu.Unlock()
	if c == nil {
		return Counts{}
	}
	return Counts{Passed: c.passed.Load(), Dropped: c.dropped.Load()}
}

// change installs a copy of the state edited by edit, then closes the
// connections it made whole again.
func (n *Net) change(edit func(*state)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.st.Load()
	s := &state{grudge: old.grudge, cut: old.cut, slow: old.slow, links: make(map[pair]Fault, len(old.links))}
	for k, v := range old.links {
		s.links[k] = v
	}
	edit(s)
	n.st.Store(s)
	n.sweepLocked(s)
}

// sweepLocked closes every connection with a damaged direction whose pair
// is clean in s. Invariant (doc.go, stream integrity): runs after every
// change, with the new state already visible to dir.drop.
func (n *Net) sweepLocked(s *state) {
	for p := range n.pipes {
		for _, d := range p.dirs {
			if d != nil && d.damaged.Load() && s.fault(d.src, d.dst).clean() {
				p.close()
			}
		}
	}
}

// Close closes every proxy listener and connection and waits for every
// goroutine of the Net. Later calls do nothing; Via fails after it.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.wg.Wait()
		return nil
	}
	n.closed = true
	n.cancel()
	var errs []error
	for _, px := range n.proxies {
		if err := px.ln.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	for p := range n.pipes {
		p.close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	return errors.Join(errs...)
}

// accept serves one proxy until its listener closes.
func (n *Net) accept(px *proxy) {
	for {
		c, err := px.ln.Accept()
		if err != nil {
			return
		}
		n.wg.Go(func() { n.serve(px, c) })
	}
}

// serve connects one accepted connection to the upstream and runs it
// until both ends are done or it is closed.
func (n *Net) serve(px *proxy, c net.Conn) {
	d := net.Dialer{Timeout: dialTimeout}
	u, err := d.DialContext(n.ctx, "tcp", px.upstream)
	p := &pipe{c: c, u: u, done: make(chan struct{})}
	if err != nil {
		if !n.Fault(px.from, px.to).Blackhole {
			// The peer is down: the dialler learns it, as from a refusal.
			c.Close()
			return
		}
		// Across a partition not even a refusal gets through: hold the
		// connection, swallowing its bytes, until the link heals.
		u = nil
	}
	p.dirs[0] = n.newDir(p, c, u, px.from, px.to)
	if u != nil {
		p.dirs[1] = n.newDir(p, u, c, px.to, px.from)
	} else {
		p.dirs[0].damaged.Store(true)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		p.close()
		return
	}
	n.pipes[p] = struct{}{}
	n.sweepLocked(n.st.Load()) // the link may have healed since the dial failed
	n.mu.Unlock()

	var wg sync.WaitGroup
	for _, d := range p.dirs {
		if d != nil {
			wg.Go(d.reader)
			if d.out != nil {
				wg.Go(d.writer)
			}
		}
	}
	wg.Wait()
	p.close()
	n.mu.Lock()
	delete(n.pipes, p)
	n.mu.Unlock()
}

func (n *Net) newDir(p *pipe, src, dst net.Conn, from, to string) *dir {
	n.mu.Lock()
	c := n.counts[pair{from, to}]
	if c == nil {
		c = &counters{}
		n.counts[pair{from, to}] = c
	}
	n.mu.Unlock()
	return &dir{n: n, p: p, in: src, out: dst, src: from, dst: to, count: c, q: make(chan chunk, queueLen)}
}

// jitter returns a uniform offset in [-j, j].
func (n *Net) jitter(j time.Duration) time.Duration {
	if j <= 0 {
		return 0
	}
	n.rngMu.Lock()
	defer n.rngMu.Unlock()
	return time.Duration(n.rng.Int64N(int64(2*j)+1)) - j
}

// lose reports whether a chunk is lost at probability p.
func (n *Net) lose(p float64) bool {
	if p <= 0 {
		return false
	}
	n.rngMu.Lock()
	defer n.rngMu.Unlock()
	return n.rng.Float64() < p
}
