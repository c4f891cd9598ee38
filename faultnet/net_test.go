package faultnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is a loopback TCP server for the tests: it echoes what it reads
// (echo) or only counts it, and every byte it received is in got.
type server struct {
	ln   net.Listener
	echo bool
	got  atomic.Int64
	wg   sync.WaitGroup
	mu   sync.Mutex
	cs   []net.Conn
}

func startServer(t testing.TB, echo bool) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, echo: echo}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.cs = append(s.cs, c)
			s.mu.Unlock()
			s.wg.Go(func() { s.handle(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.cs {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *server) addr() string { return s.ln.Addr().String() }

func (s *server) handle(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		s.got.Add(int64(n))
		if n > 0 && s.echo {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// newNet returns a Net closed at cleanup.
func newNet(t *testing.T) *Net {
	t.Helper()
	n := New(nil)
	t.Cleanup(func() { n.Close() })
	return n
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within timeout.
func roundTrip(c net.Conn, msg string, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo " + string(buf) + " != " + msg)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readStatus reads from c for d and says what happened: "timeout" (open,
// nothing arrived), "closed" (EOF or reset) or "data".
func readStatus(c net.Conn, d time.Duration) string {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	switch {
	case n > 0:
		return "data"
	case isTimeout(err):
		return "timeout"
	default:
		return "closed"
	}
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBlackholeKeepsConnectionOpenAndPassesNothing(t *testing.T) {
	up := startServer(t, true)
	n := newNet(t)
	addr, err := n.Via("a", "b", up.addr())
	if err != nil {
		t.Fatal(err)
	}
	busy, idle := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{busy, idle} {
		if err := roundTrip(c, "hello", 2*time.Second); err != nil {
			t.Fatalf("before the partition: %v", err)
		}
	}
	before := up.got.Load()

	n.Partition(Grudge{"b": {"a"}}) // b drops traffic from a
	if _, err := io.WriteString(busy, "lost in the partition"); err != nil {
		t.Fatalf("write across the partition: %v (a partition must not refuse)", err)
	}
	for i := range 3 {
		if got := readStatus(busy, 200*time.Millisecond); got != "timeout" {
			t.Fatalf("read %d across the partition: %s, want timeout: the connection must stay open and silent", i, got)
		}
	}
	if got := up.got.Load(); got != before {
		t.Fatalf("upstream received %d bytes during the partition", got-before)
	}
	if c := n.Counts("a", "b"); c.Dropped != int64(len("lost in the partition")) {
		t.Fatalf("Counts(a, b) = %+v, want the %d bytes written dropped", c, len("lost in the partition"))
	}
	// A new connection across the partition is accepted and is as silent.
	fresh := dial(t, addr)
	io.WriteString(fresh, "ping")
	if got := readStatus(fresh, 200*time.Millisecond); got != "timeout" {
		t.Fatalf("new connection across the partition: %s, want timeout", got)
	}

	n.Heal()
	// A stream that lost bytes cannot go on: it is closed at the heal.
	if got := readStatus(busy, 2*time.Second); got != "closed" {
		t.Fatalf("damaged connection after heal: %s, want closed", got)
	}
	// One that lost nothing carries on.
	if err := roundTrip(idle, "again", 2*time.Second); err != nil {
		t.Fatalf("idle connection after heal: %v", err)
	}
	if err := roundTrip(dial(t, addr), "new", 2*time.Second); err != nil {
		t.Fatalf("new connection after heal: %v", err)
	}
}

// A connection dialled by b to a carries b's requests and a's replies: a
// grudge in which b drops traffic from a must silence the replies while
// the requests still arrive.
func TestGrudgeCutsRepliesOnConnectionsTheOtherSideDialled(t *testing.T) {
	up := startServer(t, true) // node a's server
	n := newNet(t)
	addr, err := n.Via("b", "a", up.addr())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	if err := roundTrip(c, "x", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	n.Partition(Grudge{"b": {"a"}})
	io.WriteString(c, "request")
	waitFor(t, 2*time.Second, "the request did not reach a", func() bool { return up.got.Load() == int64(1+len("request")) })
	if got := readStatus(c, 300*time.Millisecond); got != "timeout" {
		t.Fatalf("reply across the grudge: %s, want timeout (a's reply must vanish)", got)
	}
	if c := n.Counts("a", "b"); c.Dropped == 0 {
		t.Errorf("Counts(a, b) = %+v: the reply was not counted as dropped", c)
	}
}

func TestOneWayShapeIsOneWay(t *testing.T) {
	atA, atB := startServer(t, false), startServer(t, false)
	n := newNet(t)
	aToB, _ := n.Via("a", "b", atB.addr())
	bToA, _ := n.Via("b", "a", atA.addr())
	g, err := Shape(ShapeOneWay, []string{"a", "b"}, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Partition(g)
	ca, cb := dial(t, aToB), dial(t, bToA)
	io.WriteString(ca, "from a")
	io.WriteString(cb, "from b")
	waitFor(t, 2*time.Second, "b's bytes did not reach a", func() bool { return atA.got.Load() == int64(len("from b")) })
	// a's bytes had as long; give them a moment more before judging.
	time.Sleep(100 * time.Millisecond)
	if got := atB.got.Load(); got != 0 {
		t.Fatalf("b received %d bytes from a, whose outbound traffic is dropped", got)
	}
}

func TestDelayIsAppliedPerDirectionAndKeepsOrder(t *testing.T) {
	up := startServer(t, true)
	n := newNet(t)
	addr, _ := n.Via("a", "b", up.addr())
	c := dial(t, addr)
	if err := roundTrip(c, "warm", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	const delay, jitter = 100 * time.Millisecond, 40 * time.Millisecond
	n.Slow(delay, jitter)
	start := time.Now()
	if err := roundTrip(c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	rtt := time.Since(start)
	if least := 2 * (delay - jitter); rtt < least {
		t.Fatalf("round trip %v under Slow(%v, %v), want at least %v (both directions delayed)", rtt, delay, jitter, least)
	}
	t.Logf("round trip under Slow(%v, %v): %v", delay, jitter, rtt)

	// Many small writes under jitter come back in order.
	var want bytes.Buffer
	for i := range 50 {
		msg := strings.Repeat(string(rune('a'+i%26)), 1+i%7)
		want.WriteString(msg)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	got := make([]byte, want.Len())
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("jitter reordered the stream:\n got %q\nwant %q", got, want.Bytes())
	}

	n.Heal()
	start = time.Now()
	if err := roundTrip(c, "fast", 2*time.Second); err != nil {
		t.Fatalf("after heal: %v (a delayed connection lost nothing and must carry on)", err)
	}
	t.Logf("round trip after heal: %v", time.Since(start))
}

func TestLossDropsConnectionsAndHealClosesThem(t *testing.T) {
	up := startServer(t, true)
	n := newNet(t)
	addr, _ := n.Via("a", "b", up.addr())
	n.Set("a", "b", Fault{Loss: 0.5})
	conns := make([]net.Conn, 40)
	errs := make([]error, len(conns))
	var wg sync.WaitGroup
	for i := range conns {
		conns[i] = dial(t, addr)
		wg.Go(func() { errs[i] = roundTrip(conns[i], "p", time.Second) })
	}
	wg.Wait()
	var passed, lost []net.Conn
	for i, err := range errs {
		switch {
		case err == nil:
			passed = append(passed, conns[i])
		case isTimeout(err):
			lost = append(lost, conns[i])
		default:
			t.Fatalf("lossy link: %v, want a pass or a silent loss", err)
		}
	}
	if len(passed) == 0 || len(lost) == 0 {
		t.Fatalf("Loss 0.5 over 40 connections: %d passed, %d lost", len(passed), len(lost))
	}
	// A lost chunk leaves a hole: nothing more passes on that connection.
	n.Set("a", "b", Fault{Loss: 0.000001})
	if err := roundTrip(lost[0], "q", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("connection after a lost chunk: %v, want silence", err)
	}
	n.Set("a", "b", Fault{})
	for i, c := range lost {
		if got := readStatus(c, 2*time.Second); got != "closed" {
			t.Fatalf("lost connection %d after the loss ended: %s, want closed", i, got)
		}
	}
	for i, c := range passed {
		if err := roundTrip(c, "still", 2*time.Second); err != nil {
			t.Fatalf("connection %d that lost nothing: %v", i, err)
		}
	}
}

func TestPartitionChangeClosesOnlyLinksItHeals(t *testing.T) {
	up := startServer(t, true)
	n := newNet(t)
	ab, _ := n.Via("a", "b", up.addr())
	cb, _ := n.Via("c", "b", up.addr())
	c1, c2 := dial(t, ab), dial(t, cb)
	n.Partition(Isolate([]string{"a", "b", "c"}, "b"))
	io.WriteString(c1, "x")
	io.WriteString(c2, "y")
	if readStatus(c1, 100*time.Millisecond) != "timeout" || readStatus(c2, 100*time.Millisecond) != "timeout" {
		t.Fatal("isolated b still answers")
	}
	// Now only a is cut off: the c–b link heals, a–b stays cut.
	n.Partition(Isolate([]string{"a", "b", "c"}, "a"))
	if got := readStatus(c2, 2*time.Second); got != "closed" {
		t.Errorf("damaged c→b connection on a healed link: %s, want closed", got)
	}
	if got := readStatus(c1, 300*time.Millisecond); got != "timeout" {
		t.Errorf("damaged a→b connection on a link still cut: %s, want it open and silent", got)
	}
	if g := n.Grudge().String(); g != `{"a":["b","c"],"b":["a"],"c":["a"]}` {
		t.Errorf("Grudge() = %s", g)
	}
}

func TestUpstreamDownIsRefusedUnlessPartitioned(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	n := newNet(t)
	addr, _ := n.Via("a", "b", dead)
	if got := readStatus(dial(t, addr), 2*time.Second); got != "closed" {
		t.Fatalf("dial of a down node: %s, want closed", got)
	}
	n.Partition(Grudge{"b": {"a"}})
	held := dial(t, addr)
	if got := readStatus(held, 300*time.Millisecond); got != "timeout" {
		t.Fatalf("dial of a down node across a partition: %s, want silence", got)
	}
	n.Heal()
	if got := readStatus(held, 2*time.Second); got != "closed" {
		t.Fatalf("held connection after heal: %s, want closed", got)
	}
}

func TestViaIsStableAndValidated(t *testing.T) {
	n := newNet(t)
	a1, err := n.Via("a", "b", "127.0.0.1:7")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := n.Via("a", "b", "127.0.0.1:7")
	a3, _ := n.Via("a", "b", "127.0.0.1:8")
	a4, _ := n.Via("b", "a", "127.0.0.1:7")
	if a1 != a2 || a1 == a3 || a1 == a4 || a3 == a4 {
		t.Errorf("Via addresses: same link %s %s, other upstream %s, other direction %s", a1, a2, a3, a4)
	}
	if !strings.HasPrefix(a1, "127.0.0.1:") {
		t.Errorf("proxy listens on %s, want 127.0.0.1", a1)
	}
	for _, c := range [][3]string{{"a", "a", "127.0.0.1:7"}, {"", "b", "127.0.0.1:7"}, {"a", "b", "10.0.0.1:7"}, {"a", "b", "nohost"}} {
		if _, err := n.Via(c[0], c[1], c[2]); err == nil {
			t.Errorf("Via(%q, %q, %q): no error", c[0], c[1], c[2])
		}
	}
	if got := n.Nodes(); strings.Join(got, ",") != "a,b" {
		t.Errorf("Nodes() = %v", got)
	}
	n.Close()
	if _, err := n.Via("a", "c", "127.0.0.1:7"); err == nil {
		t.Error("Via after Close: no error")
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestCloseLeavesNoGoroutineOrSocket(t *testing.T) {
	up := startServer(t, true)
	time.Sleep(10 * time.Millisecond) // let the server's accept loop start
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	n := New(nil)
	var conns []net.Conn
	for _, l := range [][2]string{{"a", "b"}, {"b", "a"}, {"c", "a"}, {"a", "c"}} {
		addr, err := n.Via(l[0], l[1], up.addr())
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if err := roundTrip(c, "hi", 2*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Leave bytes everywhere: held by a delay, swallowed by a blackhole.
	n.Slow(time.Hour, 0)
	n.Partition(Grudge{"c": {"a"}})
	for _, c := range conns {
		io.WriteString(c, "in flight")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if got := readStatus(c, 2*time.Second); got != "closed" {
			t.Errorf("client connection %d after Close: %s, want closed", i, got)
		}
		c.Close()
	}
	waitFor(t, 5*time.Second, "goroutines or sockets left after Close", func() bool {
		return runtime.NumGoroutine() <= goroutines && openFDs(t) <= fds
	})
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
