package raftsql

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// recvServer serves a Transport's handler on addr and records the index
// of every message stepped, until stopped.
type recvServer struct {
	mu   sync.Mutex
	got  []uint64
	srv  *http.Server
	tr   *Transport // its handler's: Stop closes the accepted streams
	done chan struct{}
}

func serveRecv(t *testing.T, addr string) *recvServer {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &recvServer{done: make(chan struct{}), tr: NewTransport(2, nil, &recordingReporter{}, discardLogger())}
	h := r.tr.Handler(func(_ context.Context, m *raftpb.Message) error {
		r.mu.Lock()
		r.got = append(r.got, m.GetIndex())
		r.mu.Unlock()
		return nil
	})
	r.srv = &http.Server{Handler: h}
	go func() { r.srv.Serve(l); close(r.done) }()
	return r
}

func (r *recvServer) stop() { r.srv.Close(); r.tr.Stop(); <-r.done }

func (r *recvServer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Messages go over one stream per peer, in the order sent; when the peer
// goes away and comes back, the next messages open a new stream.
func TestTransportStreamsInOrderAndReopensAfterThePeerRestarts(t *testing.T) {
	addr := closedAddr(t)
	recv := serveRecv(t, addr)
	rep := &recordingReporter{}
	tr := NewTransport(1, map[uint64]string{2: addr}, rep, discardLogger())
	tr.Start()
	defer tr.Stop()
	send := func(from, to uint64) {
		for i := from; i < to; i++ {
			tr.Send([]*raftpb.Message{{Type: raftpb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Index: new(i)}})
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // stay below the queue's bound
			}
		}
	}
	send(0, 2000)
	waitFor(t, "2000 messages", func() bool { return recv.count() == 2000 })
	recv.mu.Lock()
	for i, idx := range recv.got {
		if idx != uint64(i) {
			t.Fatalf("message %d has index %d: out of order", i, idx)
		}
	}
	recv.mu.Unlock()

	recv.stop()
	// To a dead peer: the first writes may still land in the socket's
	// buffer (lost, as on any stream; raft resends), the next fail and are
	// reported, as raft's heartbeats would be.
	waitFor(t, "an unreachable report", func() bool {
		send(2000, 2001)
		time.Sleep(5 * time.Millisecond)
		rep.mu.Lock()
		defer rep.mu.Unlock()
		return rep.unreachable > 0
	})
	again := serveRecv(t, addr)
	defer again.stop()
	waitFor(t, "a message over a new stream", func() bool {
		send(3000, 3001)
		time.Sleep(10 * time.Millisecond)
		return again.count() > 0
	})
}
