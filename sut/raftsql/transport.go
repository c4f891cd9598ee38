package raftsql

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Reporter is the part of raft.Node the transport tells about failed
// deliveries.
type Reporter interface {
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// Transport carries raft messages between replicas: an HTTP POST of a
// batch of protobuf-encoded raftpb.Messages to the peer's /raft endpoint.
//
// Invariant: Send never blocks. Each peer has its own bounded queue and
// sender goroutine, and a full queue drops the message (raft retransmits
// whatever matters), so a dead or paused peer never stalls the Ready loop.
// Snapshots go on their own goroutine so a large one does not hold up
// heartbeats; the outcome is reported with ReportSnapshot (raft docs: the
// application must report every MsgSnap it was given).
type Transport struct {
	id       uint64
	peers    map[uint64]*peer
	reporter Reporter
	client   *http.Client
	log      *slog.Logger

	stop chan struct{}
	wg   sync.WaitGroup
}

// RaftPath is the peer endpoint messages are POSTed to.
const RaftPath = "/raft"

const (
	peerQueueLen    = 512
	maxBatch        = 64
	msgTimeout      = 2 * time.Second
	snapshotTimeout = 30 * time.Second
	maxBodyBytes    = 1 << 30
)

type peer struct {
	id    uint64
	url   string
	queue chan *raftpb.Message

	mu      sync.Mutex
	failing bool // last send failed; logged on change only
}

// NewTransport returns a transport from node id to the peers (id → host:port;
// the entry for id itself is ignored). Call Start before Send.
func NewTransport(id uint64, peers map[uint64]string, reporter Reporter, log *slog.Logger) *Transport {
	t := &Transport{
		id:       id,
		peers:    map[uint64]*peer{},
		reporter: reporter,
		log:      log,
		stop:     make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	for pid, addr := range peers {
		if pid == id {
			continue
		}
		t.peers[pid] = &peer{id: pid, url: "http://" + addr + RaftPath, queue: make(chan *raftpb.Message, peerQueueLen)}
	}
	return t
}

// Start runs one sender per peer until Stop.
func (t *Transport) Start() {
	for _, p := range t.peers {
		t.wg.Add(1)
		go t.sender(p)
	}
}

// Stop ends the senders and waits for them.
func (t *Transport) Stop() {
	close(t.stop)
	t.wg.Wait()
	t.client.CloseIdleConnections()
}

// Send queues msgs for their peers and returns at once.
func (t *Transport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		p, ok := t.peers[m.GetTo()]
		if !ok {
			continue
		}
		if m.GetType() == raftpb.MsgSnap {
			t.wg.Add(1)
			go t.sendSnapshot(p, m)
			continue
		}
		select {
		case p.queue <- m:
		default:
			// The peer is not keeping up; tell raft so it probes instead of
			// streaming, and let it retransmit.
			t.reporter.ReportUnreachable(p.id)
		}
	}
}

// sender streams p's messages: one long HTTP POST whose chunked body
// carries frame after frame as the Ready loop hands them over, so a message
// never waits for the answer to the one before it (etcd's peer streams do
// the same). A write that fails, or that the peer does not take within
// msgTimeout (paused, cut off), ends the stream and reports p
// unreachable; the next message opens a new one.
func (t *Transport) sender(p *peer) {
	defer t.wg.Done()
	var st *stream
	defer func() { st.close() }()
	batch := make([]*raftpb.Message, 0, maxBatch)
	for {
		select {
		case <-t.stop:
			return
		case m := <-p.queue:
			batch = append(batch[:0], m)
		drain:
			for len(batch) < maxBatch {
				select {
				case m := <-p.queue:
					batch = append(batch, m)
				default:
					break drain
				}
			}
			body, err := encodeBatch(batch)
			if err == nil {
				if st == nil {
					st = t.openStream(p)
				}
				if err = st.write(body, msgTimeout); err != nil {
					st.close()
					st = nil
				}
			}
			t.noteResult(p, err)
			if err != nil {
				t.reporter.ReportUnreachable(p.id)
			}
		}
	}
}

// stream is one open POST to a peer, its body fed through a pipe.
type stream struct {
	w      *io.PipeWriter
	cancel context.CancelFunc // aborts the POST
	done   chan struct{}      // closed when the POST has returned
}

func (t *Transport) openStream(p *peer) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	st := &stream{w: w, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(st.done)
		err := errors.New("stream closed")
		req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, p.url, r)
		if rerr != nil {
			err = rerr
		} else {
			req.Header.Set("Content-Type", "application/x-raft-stream")
			resp, derr := t.client.Do(req)
			if derr != nil {
				err = derr
			} else {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				err = fmt.Errorf("peer %d ended the stream: %s", p.id, resp.Status)
			}
		}
		r.CloseWithError(err) // a write in progress or to come fails with err
	}()
	return st
}

// write hands body to the stream, failing if the peer does not take it
// within timeout.
func (st *stream) write(body []byte, timeout time.Duration) error {
	timer := time.AfterFunc(timeout, func() { st.w.CloseWithError(errors.New("peer took no data within " + timeout.String())) })
	defer timer.Stop()
	_, err := st.w.Write(body)
	return err
}

// close ends the stream's body (the peer's handler returns once it has
// read it) and lets the POST go without waiting for its answer.
func (st *stream) close() {
	if st == nil {
		return
	}
	st.w.Close()
	go func() {
		select {
		case <-st.done:
		case <-time.After(msgTimeout):
		}
		st.cancel()
	}()
}

func (t *Transport) sendSnapshot(p *peer, m *raftpb.Message) {
	defer t.wg.Done()
	err := t.post(p, []*raftpb.Message{m}, snapshotTimeout)
	if err != nil {
		t.log.Warn("send snapshot", "to", p.id, "index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
		t.reporter.ReportUnreachable(p.id)
		t.reporter.ReportSnapshot(p.id, raft.SnapshotFailure)
		return
	}
	t.log.Info("sent snapshot", "to", p.id, "index", m.GetSnapshot().GetMetadata().GetIndex())
	t.reporter.ReportSnapshot(p.id, raft.SnapshotFinish)
}

func (t *Transport) noteResult(p *peer, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil && !p.failing:
		t.log.Warn("peer unreachable", "peer", p.id, "err", err)
	case err == nil && p.failing:
		t.log.Info("peer reachable again", "peer", p.id)
	}
	p.failing = err != nil
}

func (t *Transport) post(p *peer, msgs []*raftpb.Message, timeout time.Duration) error {
	body, err := encodeBatch(msgs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-t.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-raft-batch")
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("peer %d: %s", p.id, resp.Status)
	}
	return nil
}

// Handler serves RaftPath: it reads frames as they arrive, from a batch
// or from a sender's stream alike, and steps each into the local raft
// node.
func (t *Transport) Handler(step func(context.Context, *raftpb.Message) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		br := bufio.NewReader(io.LimitReader(r.Body, maxBodyBytes))
		for i := 0; ; i++ {
			m, err := decodeFrame(br, i)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				http.Error(w, "decode raft messages: "+err.Error(), http.StatusBadRequest)
				return
			}
			if err := step(r.Context(), m); err != nil {
				http.Error(w, "step: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// A batch is a sequence of (uvarint length, protobuf message) frames.
func encodeBatch(msgs []*raftpb.Message) ([]byte, error) {
	var buf []byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("marshal %v: %w", m.GetType(), err)
		}
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	return buf, nil
}

func decodeBatch(r io.Reader) ([]*raftpb.Message, error) {
	br := bufio.NewReader(r)
	var msgs []*raftpb.Message
	for {
		m, err := decodeFrame(br, len(msgs))
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
}

// decodeFrame reads frame i; io.EOF only at a clean end between frames.
func decodeFrame(br *bufio.Reader, i int) (*raftpb.Message, error) {
	n, err := binary.ReadUvarint(br)
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	if n > maxBodyBytes {
		return nil, fmt.Errorf("frame %d of %d bytes", i, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	m := &raftpb.Message{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("frame %d: %w", i, err)
	}
	return m, nil
}
