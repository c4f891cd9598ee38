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
	"runtime"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Reporter is the part of raft (rawRaft) the transport tells about failed
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

	// Streams accepted from peers (hijacked connections, which the HTTP
	// server no longer tracks): Stop closes them.
	inMu sync.Mutex
	in   map[net.Conn]struct{}
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
		in:       map[net.Conn]struct{}{},
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

// Stop ends the senders and waits for them, and closes the streams
// accepted from peers.
func (t *Transport) Stop() {
	close(t.stop)
	t.wg.Wait()
	t.client.CloseIdleConnections()
	t.inMu.Lock()
	defer t.inMu.Unlock()
	for c := range t.in {
		c.Close()
	}
	clear(t.in)
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

// sender streams p's messages over one connection: an HTTP request that
// upgrades to a raw stream of frames (streamProto), so that a batch is
// one write by this goroutine straight to the socket and a message never
// waits for the answer to the one before it (etcd's peer streams do the
// same). A write that fails, or that the peer does not take within
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
			batch = drainQueue(p.queue, batch)
			if len(batch) < maxBatch {
				// Let the goroutines that are about to send (raft's,
				// the appender's) run first, and take what they queue
				// into the same write: a write to a loopback socket
				// costs tens of µs of the sender's CPU.
				runtime.Gosched()
				batch = drainQueue(p.queue, batch)
			}
			body, err := encodeBatch(batch)
			if err == nil && st == nil {
				st, err = t.openStream(p)
			}
			if err == nil {
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

// drainQueue appends to batch what q holds, up to maxBatch, without
// waiting.
func drainQueue(q chan *raftpb.Message, batch []*raftpb.Message) []*raftpb.Message {
	for len(batch) < maxBatch {
		select {
		case m := <-q:
			batch = append(batch, m)
		default:
			return batch
		}
	}
	return batch
}

// streamProto is the Upgrade token of a peer stream.
const streamProto = "chaoscheck-raft-stream/1"

// stream is one open connection to a peer, upgraded to a frame stream.
type stream struct {
	rwc io.ReadWriteCloser
}

// openStream sends the upgrade request and returns the stream once the
// peer has switched protocols, within msgTimeout.
func (t *Transport) openStream(p *peer) (*stream, error) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(msgTimeout, cancel)
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", streamProto)
	resp, err := t.client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("peer %d did not open a stream: %s", p.id, resp.Status)
	}
	// The context stays alive with the stream: cancelling it would
	// close the connection.
	return &stream{rwc: closeAlso{rwc, cancel}}, nil
}

// closeAlso closes a stream and cancels its request's context.
type closeAlso struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (c closeAlso) Close() error {
	err := c.ReadWriteCloser.Close()
	c.cancel()
	return err
}

// write writes body to the stream, failing if the peer does not take it
// within timeout.
func (st *stream) write(body []byte, timeout time.Duration) error {
	timer := time.AfterFunc(timeout, func() { st.rwc.Close() })
	defer timer.Stop()
	_, err := st.rwc.Write(body)
	return err
}

func (st *stream) close() {
	if st != nil {
		st.rwc.Close()
	}
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

// Handler serves RaftPath: a sender's stream (an upgrade to streamProto,
// then frames until the connection closes) or a batch in a POST body
// (snapshots), and steps each message into the local raft node.
func (t *Transport) Handler(step func(context.Context, *raftpb.Message) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("Upgrade") == streamProto {
			t.serveStream(w, r, step)
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

// serveStream takes the connection over and steps the frames it carries
// until it ends, the frames go bad, or the node stops.
func (t *Transport) serveStream(w http.ResponseWriter, r *http.Request, step func(context.Context, *raftpb.Message) error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot open a stream: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	t.inMu.Lock()
	select {
	case <-t.stop:
		t.inMu.Unlock()
		return
	default:
	}
	t.in[conn] = struct{}{}
	t.inMu.Unlock()
	defer func() {
		t.inMu.Lock()
		delete(t.in, conn)
		t.inMu.Unlock()
	}()
	if _, err := brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + streamProto + "\r\n\r\n"); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	for i := 0; ; i++ {
		m, err := decodeFrame(brw.Reader, i)
		if err != nil {
			return // the peer closed the stream, or sent garbage
		}
		if err := step(r.Context(), m); err != nil {
			return
		}
	}
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
