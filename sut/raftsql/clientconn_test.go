package raftsql

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// A node restarted (or killed) between two requests has closed the
// client's idle connection. The next request must go on a new
// connection, succeed, and count once: written into the dead connection
// it would be lost and reported indeterminate although the node never
// saw it.
func TestClientDoesNotReuseAConnectionTheNodeClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	var calls, conns atomic.Int64
	serve := func(l net.Listener) *http.Server {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			okExec(w, r)
		}), ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
		go srv.Serve(l)
		return srv
	}
	srv := serve(l)
	c := NewClient(map[uint64]string{1: addr}, ClientOptions{Timeout: 5 * time.Second})
	for i := range 3 {
		if _, _, err := c.Exec(context.Background(), "r", Stmt{SQL: "INSERT INTO t VALUES (1)"}); err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
	}
	if conns.Load() != 1 {
		t.Errorf("3 requests used %d connections, want 1 kept alive", conns.Load())
	}
	srv.Close() // closes the idle connection too, like a killed node
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	srv2 := serve(l2)
	t.Cleanup(func() { srv2.Close() })
	// The node's FIN may take a moment to reach the client's socket.
	deadline := time.Now().Add(5 * time.Second)
	for !c.conns.idleClosed(addr) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	before := calls.Load()
	if _, _, err := c.Exec(context.Background(), "r", Stmt{SQL: "INSERT INTO t VALUES (1)"}); err != nil {
		t.Fatalf("exec after the node restarted: %v (indeterminate %v)", err, IsIndeterminate(err))
	}
	if got := calls.Load() - before; got != 1 {
		t.Errorf("the restarted node served %d requests, want 1", got)
	}
	if conns.Load() != 2 {
		t.Errorf("%d connections, want 2: one per node process", conns.Load())
	}
}

// Cancelling the caller's context ends a request the node sits on at
// once, and the outcome of an exec is then unknown.
func TestClientCancelEndsARequestInFlight(t *testing.T) {
	release := make(chan struct{})
	n := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for the handler
	c := NewClient(map[uint64]string{1: n.addr()}, ClientOptions{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := c.Exec(ctx, "r", Stmt{SQL: "INSERT INTO t VALUES (1)"})
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("exec returned %v after cancel", took)
	}
	if !IsIndeterminate(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v: want an indeterminate error wrapping context.Canceled", err)
	}
}
