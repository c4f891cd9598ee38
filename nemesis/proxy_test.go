package nemesis

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/cluster"
)

// countingUpstream is a loopback HTTP server that counts the requests
// it receives, per body.
type countingUpstream struct {
	mu   sync.Mutex
	seen map[string]int
	srv  *http.Server
	addr string
}

func startUpstream(t *testing.T) *countingUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &countingUpstream{seen: map[string]int{}, addr: ln.Addr().String()}
	u.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.seen[string(b)]++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "got "+string(b))
	})}
	go u.srv.Serve(ln)
	t.Cleanup(func() { u.srv.Close() })
	return u
}

func (u *countingUpstream) count(body string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[body]
}

func post(addr, body string) (string, int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Post("http://"+addr+"/txn", "text/plain", strings.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

func TestProxyFaithfulWhenFaultsOff(t *testing.T) {
	u := startUpstream(t)
	p, err := StartProxy(u.addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, status, err := post(p.Addr(), "a")
	if err != nil || got != "got a" || status != http.StatusCreated {
		t.Fatalf("through the proxy: %q %d %v, want the upstream's answer", got, status, err)
	}
	if n := u.count("a"); n != 1 {
		t.Fatalf("upstream saw the request %d times, want 1", n)
	}
}

func TestProxyDuplicatesRequests(t *testing.T) {
	u := startUpstream(t)
	p, err := StartProxy(u.addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	p.SetFaults(1, 0)
	if got, _, err := post(p.Addr(), "b"); err != nil || got != "got b" {
		t.Fatalf("duplicated request answered %q, %v", got, err)
	}
	if err := p.Close(); err != nil { // waits for the copy
		t.Fatal(err)
	}
	if n := u.count("b"); n != 2 {
		t.Fatalf("upstream saw the request %d times, want 2", n)
	}
	if d, _ := p.Counts(); d != 1 {
		t.Fatalf("duplicated count %d, want 1", d)
	}
}

func TestProxyDropsResponsesAfterTheRequestTookEffect(t *testing.T) {
	u := startUpstream(t)
	p, err := StartProxy(u.addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.SetFaults(0, 1)
	if got, _, err := post(p.Addr(), "c"); err == nil {
		t.Fatalf("dropped response still answered %q", got)
	}
	if n := u.count("c"); n != 1 {
		t.Fatalf("upstream saw the request %d times, want 1 (dropping the answer must not drop the request)", n)
	}
	p.SetFaults(0, 0)
	if got, _, err := post(p.Addr(), "d"); err != nil || got != "got d" {
		t.Fatalf("after faults off: %q, %v", got, err)
	}
}

func TestProxyAnswersNothingWhenUpstreamIsDown(t *testing.T) {
	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartProxy(net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	got, status, err := post(p.Addr(), "e")
	if err != nil || status != http.StatusBadGateway || !strings.Contains(got, "not delivered") {
		t.Fatalf("proxy to a dead upstream: %d %q %v, want 502 saying the request was not delivered", status, got, err)
	}
}
