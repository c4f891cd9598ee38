package raftsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// fakeNode is an httptest server standing in for one replica's API.
type fakeNode struct {
	srv   *httptest.Server
	calls atomic.Int64
}

func newFakeNode(t *testing.T, h http.HandlerFunc) *fakeNode {
	t.Helper()
	f := &fakeNode{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func answer(code int, v any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, code, v) }
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hangUp reads the request, then drops the connection without answering,
// like a leader killed with the request in flight.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

var okExec = answer(http.StatusOK, ExecResponse{ExecResult: ExecResult{Index: 7}, Node: 2})

func TestClientExecOutcomes(t *testing.T) {
	notLeader := answer(http.StatusServiceUnavailable, ErrorResponse{Error: errNotLeader, Leader: 2})
	cases := []struct {
		name          string
		n1            http.HandlerFunc // nil: connection refused
		wantErr       bool
		indeterminate bool
		wantN2Calls   int64
	}{
		{"not leader redirects to the named leader", notLeader, false, false, 1},
		{"refused connection tries the next node", nil, false, false, 1},
		{"504 indeterminate is returned, not retried", answer(http.StatusGatewayTimeout, ErrorResponse{Error: "indeterminate: not applied", Indeterminate: true}), true, true, 0},
		{"dropped connection after sending is indeterminate", hangUp, true, true, 0},
		{"400 is a definite failure", answer(http.StatusBadRequest, ErrorResponse{Error: "stmt 0: random()"}), true, false, 0},
		{"unreadable 500 after sending is indeterminate", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, true, true, 0},
		{"a failed statement is a definite failure", answer(http.StatusOK, ExecResponse{ExecResult: ExecResult{Index: 3, Error: "UNIQUE constraint failed"}, Node: 1}), true, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n2 := newFakeNode(t, okExec)
			apis := map[uint64]string{2: n2.addr()}
			if tc.n1 == nil {
				apis[1] = closedAddr(t)
			} else {
				apis[1] = newFakeNode(t, tc.n1).addr()
			}
			c := NewClient(apis, ClientOptions{Timeout: 5 * time.Second})
			_, node, err := c.Exec(context.Background(), "r1", Stmt{SQL: "INSERT INTO t VALUES (1)"})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got := IsIndeterminate(err); got != tc.indeterminate {
				t.Errorf("IsIndeterminate(%v) = %v, want %v", err, got, tc.indeterminate)
			}
			if got := n2.calls.Load(); got != tc.wantN2Calls {
				t.Errorf("node 2 called %d times, want %d", got, tc.wantN2Calls)
			}
			if !tc.wantErr && node != 2 {
				t.Errorf("served by node %d, want 2", node)
			}
		})
	}
}

// With every node refusing connections nothing was ever sent: the
// timeout is a definite failure. (A "not leader" node is not used here: a
// deadline that cuts a request to it short is rightly indeterminate.)
func TestClientExecWithNoNodeUpFailsDefinitelyAtTimeout(t *testing.T) {
	c := NewClient(map[uint64]string{1: closedAddr(t), 2: closedAddr(t)}, ClientOptions{Timeout: 300 * time.Millisecond})
	_, _, err := c.Exec(context.Background(), "r1", Stmt{SQL: "INSERT INTO t VALUES (1)"})
	if err == nil || IsIndeterminate(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v: want a definite failure wrapping DeadlineExceeded", err)
	}
}

func TestClientQueryTimeoutIsNeverIndeterminate(t *testing.T) {
	c := NewClient(map[uint64]string{1: newFakeNode(t, answer(http.StatusGatewayTimeout, ErrorResponse{Error: "read index not confirmed"})).addr()}, ClientOptions{})
	_, _, err := c.Query(context.Background(), "SELECT 1")
	if err == nil || IsIndeterminate(err) {
		t.Fatalf("err = %v, want a definite failure", err)
	}
}

func TestClientQueryKeepsIntegersExact(t *testing.T) {
	big := int64(1<<62 + 1)
	n := newFakeNode(t, answer(http.StatusOK, QueryResponse{QueryResult: QueryResult{Columns: []string{"v"}, Rows: [][]any{{big}}}, Node: 1}))
	res, node, err := NewClient(map[uint64]string{1: n.addr()}, ClientOptions{}).Query(context.Background(), "SELECT v FROM t")
	if err != nil {
		t.Fatal(err)
	}
	got, err := res.Rows[0][0].(json.Number).Int64()
	if err != nil || got != big || node != 1 {
		t.Fatalf("got %v (node %d, err %v), want %d from node 1", res.Rows[0][0], node, err, big)
	}
}

func TestParseAddrs(t *testing.T) {
	cases := []struct {
		in      string
		want    string // FormatAddrs of the result; "" with wantErr
		wantErr string
	}{
		{"1=127.0.0.1:7101,2=127.0.0.1:7102", "1=127.0.0.1:7101,2=127.0.0.1:7102", ""},
		{" 2=localhost:1 , 1=127.0.0.1:2", "1=127.0.0.1:2,2=localhost:1", ""},
		{"", "", ""},
		{"1=10.0.0.1:7101", "", "is not loopback"},
		{"1=0.0.0.0:7101", "", "is not loopback"},
		{"0=127.0.0.1:7101", "", "positive integer"},
		{"x=127.0.0.1:7101", "", "positive integer"},
		{"1=127.0.0.1:7101,1=127.0.0.1:7102", "", "twice"},
		{"1:127.0.0.1:7101", "", "ID=HOST:PORT"},
		{"1=127.0.0.1", "", "port"},
	}
	for _, tc := range cases {
		m, err := ParseAddrs(tc.in)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("ParseAddrs(%q) err = %v, want %q", tc.in, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("ParseAddrs(%q): %v", tc.in, err)
		case tc.wantErr == "" && FormatAddrs(m) != tc.want:
			t.Errorf("ParseAddrs(%q) = %q, want %q", tc.in, FormatAddrs(m), tc.want)
		}
	}
}

func TestParseBugs(t *testing.T) {
	b, err := ParseBugs([]string{"no-dedup", "stale-read"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.Names(), ","); got != "no-dedup,stale-read" {
		t.Errorf("Names() = %q", got)
	}
	if !b.stateMachineOptions().NoDedup || b.stateMachineOptions().ForgetAppliedIndex {
		t.Errorf("state machine options = %+v", b.stateMachineOptions())
	}
	for _, name := range BugNames() {
		b, err := ParseBugs([]string{name})
		if err != nil || len(b.Names()) != 1 || b.Names()[0] != name {
			t.Errorf("ParseBugs(%q) = %v, %v", name, b.Names(), err)
		}
	}
	if _, err := ParseBugs([]string{"lose-everything"}); err == nil || !strings.Contains(err.Error(), "known: ") {
		t.Errorf("unknown bug: err = %v, want a list of known ones", err)
	}
}

func TestEntryEnvelopeRoundTrip(t *testing.T) {
	pid, cmd, err := decodeEntry(encodeEntry(42, []byte(`{"request_id":"r"}`)))
	if err != nil || pid != 42 || string(cmd) != `{"request_id":"r"}` {
		t.Fatalf("got %d %q %v", pid, cmd, err)
	}
	if _, _, err := decodeEntry([]byte{1, 2}); err == nil {
		t.Fatal("short entry decoded")
	}
}

func TestTransportBatchRoundTrip(t *testing.T) {
	msgs := []*raftpb.Message{
		{Type: raftpb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
			Entries: []*raftpb.Entry{{Index: new(uint64(9)), Term: new(uint64(3)), Data: []byte("x")}}},
		{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Commit: new(uint64(8))},
	}
	b, err := encodeBatch(msgs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBatch(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("decoded %d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !proto.Equal(got[i], msgs[i]) {
			t.Errorf("message %d: got %v, want %v", i, got[i], msgs[i])
		}
	}
	if _, err := decodeBatch(strings.NewReader(string(b[:len(b)-1]))); err == nil {
		t.Error("truncated batch decoded")
	}
}

type recordingReporter struct {
	mu          sync.Mutex
	unreachable int
	snapc       chan raft.SnapshotStatus
}

func (r *recordingReporter) ReportUnreachable(uint64) {
	r.mu.Lock()
	r.unreachable++
	r.mu.Unlock()
}

func (r *recordingReporter) ReportSnapshot(_ uint64, s raft.SnapshotStatus) {
	if r.snapc != nil {
		r.snapc <- s
	}
}

// A peer that accepts connections but never answers (SIGSTOPped) must
// not block Send: the queue fills, messages are dropped and reported.
func TestTransportSendNeverBlocksOnAStalledPeer(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(release)
	rep := &recordingReporter{}
	tr := NewTransport(1, map[uint64]string{1: "127.0.0.1:1", 2: strings.TrimPrefix(stalled.URL, "http://")}, rep, discardLogger())
	tr.Start()
	defer tr.Stop()

	start := time.Now()
	for i := 0; i < 10*peerQueueLen; i++ {
		tr.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1))}})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Send took %v with a stalled peer", d)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if rep.unreachable == 0 {
		t.Error("dropped messages were not reported unreachable")
	}
}

func TestTransportReportsSnapshotOutcome(t *testing.T) {
	var stepped atomic.Int64
	recv := NewTransport(2, nil, &recordingReporter{}, discardLogger())
	srv := httptest.NewServer(recv.Handler(func(_ context.Context, m *raftpb.Message) error {
		stepped.Add(1)
		return nil
	}))
	defer srv.Close()
	rep := &recordingReporter{snapc: make(chan raft.SnapshotStatus, 2)}
	tr := NewTransport(1, map[uint64]string{2: strings.TrimPrefix(srv.URL, "http://"), 3: closedAddr(t)}, rep, discardLogger())
	tr.Start()
	snap := &raftpb.Snapshot{Data: []byte("db"), Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(10)), Term: new(uint64(2))}}
	tr.Send([]*raftpb.Message{
		{Type: raftpb.MsgSnap.Enum(), To: new(uint64(2)), From: new(uint64(1)), Snapshot: snap},
		{Type: raftpb.MsgSnap.Enum(), To: new(uint64(3)), From: new(uint64(1)), Snapshot: snap},
	})
	defer tr.Stop()
	var finish, failure int
	for i := 0; i < 2; i++ {
		select {
		case s := <-rep.snapc:
			switch s {
			case raft.SnapshotFinish:
				finish++
			case raft.SnapshotFailure:
				failure++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d snapshot outcomes reported after 10s, want 2", i)
		}
	}
	if finish != 1 || failure != 1 || stepped.Load() != 1 {
		t.Fatalf("finish=%d failure=%d stepped=%d, want 1, 1, 1", finish, failure, stepped.Load())
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestClientRetryIndeterminateResendsTheSameRequestID(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	var calls int
	n := newFakeNode(t, func(w http.ResponseWriter, r *http.Request) {
		var cmd Command
		_ = json.NewDecoder(r.Body).Decode(&cmd)
		mu.Lock()
		ids = append(ids, cmd.RequestID)
		calls++
		drop := calls <= 2 // the first client's only try, the second's first
		mu.Unlock()
		if drop {
			hangUp(w, r)
			return
		}
		okExec(w, r)
	})
	apis := map[uint64]string{1: n.addr()}
	if _, _, err := NewClient(apis, ClientOptions{}).Exec(context.Background(), "r9", Stmt{SQL: "INSERT INTO t VALUES (1)"}); !IsIndeterminate(err) {
		t.Fatalf("without RetryIndeterminate: err = %v, want indeterminate", err)
	}
	res, _, err := NewClient(apis, ClientOptions{RetryIndeterminate: true}).Exec(context.Background(), "r9", Stmt{SQL: "INSERT INTO t VALUES (1)"})
	if err != nil || res.Index != 7 {
		t.Fatalf("with RetryIndeterminate: %+v, %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(ids, ",") != "r9,r9,r9" {
		t.Fatalf("request ids sent: %v, want r9 three times", ids)
	}
}

// The raft logger drops the one Info line AsyncStorageWrites makes
// routine, and only that one.
func TestRaftLoggerDropsOnlyTheStaleStableLine(t *testing.T) {
	var b strings.Builder
	l := raftLogger{&raft.DefaultLogger{Logger: log.New(&b, "", 0)}}
	l.Infof(raftStaleStableMsg, 7)
	l.Infof("entry at (index,term)=(%d,%d) mismatched with entry at (%d,%d) in unstable log; ignoring", 7, 2, 7, 3)
	l.Infof("%x became leader at term %d", 1, 2)
	if got := b.String(); strings.Contains(got, "missing from unstable log") || !strings.Contains(got, "mismatched") || !strings.Contains(got, "became leader") {
		t.Errorf("logged:\n%s", got)
	}
}

// A follower relays an /exec to the leader and passes on its answer, which
// names the leader: the client's next request goes to the leader directly.
// Staying on the follower cost every later op a second HTTP round trip
// (half the Raft store's gap to etcd in internal/bench/raftvsetcd).
func TestClientGoesToTheNodeThatAnswered(t *testing.T) {
	leader := newFakeNode(t, okExec) // answers as node 2
	relay := newFakeNode(t, okExec)  // node 1 passes on node 2's answer
	c := NewClient(map[uint64]string{1: relay.addr(), 2: leader.addr()}, ClientOptions{Timeout: 5 * time.Second})
	for i := range 3 {
		if _, node, err := c.Exec(context.Background(), fmt.Sprintf("r%d", i), Stmt{SQL: "INSERT INTO t VALUES (1)"}); err != nil || node != 2 {
			t.Fatalf("exec %d: node %d, %v", i, node, err)
		}
	}
	if got, want := relay.calls.Load(), int64(1); got != want {
		t.Errorf("the relaying follower got %d requests, want %d (only the first)", got, want)
	}
	if got := leader.calls.Load(); got != 2 {
		t.Errorf("the leader got %d requests directly, want 2", got)
	}
	if c.Leader() != 2 {
		t.Errorf("Leader() = %d, want 2", c.Leader())
	}
}
