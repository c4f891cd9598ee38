package nemesis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Proxy is an HTTP proxy on 127.0.0.1 in front of one node API, between
// the workload's clients and the node. While its faults are on, it
// duplicates requests (forwards a second copy concurrently, whose answer
// nobody reads) and drops responses (forwards the request, lets it take
// effect, then closes the client's connection without an answer). Both
// are what a retrying client and a lossy network do to a system: the
// client sees a timeout or reset, cannot tell whether its request took
// effect, and resubmits the same tx_id; the system must apply it once.
type Proxy struct {
	upstream string // "127.0.0.1:port"
	ln       net.Listener
	srv      *http.Server
	hc       *http.Client

	mu        sync.Mutex
	rng       *rand.Rand
	dup, drop float64 // probabilities per request; 0: off

	copies     sync.WaitGroup // duplicate requests still in flight
	duplicated atomic.Int64
	dropped    atomic.Int64
}

// maxProxyBody bounds a request body the proxy buffers to send twice.
const maxProxyBody = 8 << 20

// StartProxy starts a proxy to upstream on a free loopback port, faults
// off. seed fixes its random choices (which request is duplicated or
// dropped, given the order requests arrive in).
func StartProxy(upstream string, seed int64) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", upstream, err)
	}
	p := &Proxy{
		upstream: upstream,
		ln:       ln,
		rng:      rand.New(rand.NewSource(seed)),
		hc:       &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Addr is the address clients dial instead of the upstream.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Upstream is the node API the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// SetFaults sets the probability that a request is duplicated and that
// its response is dropped; zeros make the proxy faithful.
func (p *Proxy) SetFaults(dup, drop float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dup, p.drop = dup, drop
}

// Counts returns how many requests were duplicated and how many
// responses dropped so far.
func (p *Proxy) Counts() (duplicated, dropped int64) {
	return p.duplicated.Load(), p.dropped.Load()
}

// Close stops the proxy and waits for its duplicate requests to end.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		p.srv.Close()
	}
	p.copies.Wait()
	p.hc.CloseIdleConnections()
	return err
}

func (p *Proxy) faults() (dup, drop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Draw both every time, so one fault's setting does not shift the
	// other's random sequence.
	d, r := p.rng.Float64(), p.rng.Float64()
	return d < p.dup, r < p.drop
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxProxyBody))
	if err != nil {
		http.Error(w, "proxy: read request: "+err.Error(), http.StatusBadGateway)
		return
	}
	dup, drop := p.faults()
	if dup {
		p.duplicated.Add(1)
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			// The copy outlives the original: a real duplicate arrives on
			// its own schedule, whatever happened to the first.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
			defer cancel()
			if resp, err := p.forward(ctx, r, body); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	resp, err := p.forward(r.Context(), r, body)
	if errors.Is(err, syscall.ECONNREFUSED) {
		// The node is down and never saw the request: say so, as a
		// definite error, the way a refused connection would.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "{\"error\": %q}\n", "proxy: "+p.upstream+" refused the connection; request not delivered")
		return
	}
	if err != nil {
		// The upstream gave no answer (reset, timeout): neither does the
		// proxy, leaving the client as uncertain as a direct call would.
		p.hangUp(w)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		p.hangUp(w)
		return
	}
	if drop {
		// The request took effect upstream; its answer is lost.
		p.dropped.Add(1)
		p.hangUp(w)
		return
	}
	for _, h := range []string{"Content-Type"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
}

func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return p.hc.Do(req)
}

// hangUp closes the client's connection without a response.
func (p *Proxy) hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // net/http closes the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
