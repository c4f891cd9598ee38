package raftsql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client is the Go client for a raftsql cluster's HTTP API, what workloads
// use. It finds the leader by itself: a node that answers "not leader", or
// that refuses the connection, costs nothing but a retry on the next one.
//
// Invariant: an /exec is sent at most once per call. Once a request may
// have reached a node that could propose it (the connection was made and
// the body written), any failure is indeterminate (IsIndeterminate) and is
// returned to the caller, who records the op as info. Retrying with the
// same request id is safe only because the SUT deduplicates it, which is
// exactly what the tests check, so the client never does it on its own.
type Client struct {
	ids   []uint64
	apis  map[uint64]string
	conns connPool
	opts  ClientOptions

	mu     sync.Mutex
	leader uint64 // the node that answered the last request; tried first
}

// ClientOptions configure a Client.
type ClientOptions struct {
	// Timeout bounds one Exec, Query or Status call, retries included,
	// when ctx has no earlier deadline. Default 10s, longer than a node's
	// request timeout so the node's own verdict arrives first.
	Timeout time.Duration
	// RetryIndeterminate makes Exec resend a request whose outcome is
	// unknown, under the same request id, until it gets an answer or the
	// timeout. Only correct because the SUT applies a request id once:
	// the retry workload uses it to test exactly that.
	RetryIndeterminate bool
}

// ExecResponse is the body of a successful /exec: the result and the node
// that served it.
type ExecResponse struct {
	ExecResult
	Node uint64 `json:"node"`
}

// QueryResponse is the body of a successful /query: the rows of a single
// statement, or Results, one per statement, for a request with stmts.
type QueryResponse struct {
	QueryResult
	Results []QueryResult `json:"results,omitempty"`
	Node    uint64        `json:"node"`
}

// ErrorResponse is the body of every failed API call.
type ErrorResponse struct {
	Error string `json:"error"`
	// Leader is the node believed to lead (0: unknown), on "not leader".
	Leader uint64 `json:"leader,omitempty"`
	// Indeterminate: the command may or may not have been applied.
	Indeterminate bool   `json:"indeterminate,omitempty"`
	Node          uint64 `json:"node,omitempty"`
}

// Error is a failed call. Indeterminate says whether the operation may
// still have taken effect (Jepsen: info) or certainly did not (fail).
type Error struct {
	Op            string // "exec", "query", "status"
	Node          uint64 // the node that answered or was last tried; 0 if none
	Status        int    // HTTP status, 0 when there was no answer
	Msg           string
	Leader        uint64
	Indeterminate bool
	NotLeader     bool
	Err           error // the underlying error, if any (context.DeadlineExceeded …)
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "raftsql %s", e.Op)
	if e.Node != 0 {
		fmt.Fprintf(&b, " on node %d", e.Node)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	if e.Indeterminate && !strings.Contains(e.Msg, "indeterminate") {
		b.WriteString(" (indeterminate)")
	}
	return b.String()
}

// IsIndeterminate reports whether err leaves the operation's outcome
// unknown: it may or may not have been applied. Every other error from
// Exec means it certainly was not.
func IsIndeterminate(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Indeterminate
	}
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled))
}

// IsNotLeader reports whether err is a "not leader" answer with no
// leader to forward to, e.g. during an election.
func IsNotLeader(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotLeader
}

// NewClient returns a client for the nodes whose API addresses
// (host:port) apis holds.
func NewClient(apis map[uint64]string, opts ClientOptions) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	c := &Client{apis: map[uint64]string{}, opts: opts}
	c.conns.dialer.Timeout = time.Second
	for id, a := range apis {
		c.apis[id] = a
		c.ids = append(c.ids, id)
	}
	sort.Slice(c.ids, func(i, j int) bool { return c.ids[i] < c.ids[j] })
	return c
}

// Exec proposes stmts as one command under requestID and returns its
// result and the node that served it. A statement that failed inside the
// committed command (constraint, syntax) is a definite *Error with the
// result still returned.
func (c *Client) Exec(ctx context.Context, requestID string, stmts ...Stmt) (ExecResult, uint64, error) {
	body, err := json.Marshal(Command{RequestID: requestID, Stmts: stmts})
	if err != nil {
		return ExecResult{}, 0, &Error{Op: "exec", Msg: err.Error()}
	}
	var out ExecResponse
	node, err := c.call(ctx, "exec", "/exec", body, true, &out)
	if err != nil {
		return ExecResult{}, node, err
	}
	c.answeredBy(out.Node)
	if out.Error != "" {
		return out.ExecResult, out.Node, &Error{Op: "exec", Node: out.Node, Status: http.StatusOK, Msg: out.Error}
	}
	return out.ExecResult, out.Node, nil
}

// Query runs a read-only statement linearizably (ReadIndex on the leader)
// and returns its rows and the node that served it. A failed query never
// changed anything, so its errors are never indeterminate.
func (c *Client) Query(ctx context.Context, sql string, args ...any) (QueryResult, uint64, error) {
	body, err := json.Marshal(QueryRequest{SQL: sql, Args: args})
	if err != nil {
		return QueryResult{}, 0, &Error{Op: "query", Msg: err.Error()}
	}
	var out QueryResponse
	node, err := c.call(ctx, "query", "/query", body, false, &out)
	if err != nil {
		return QueryResult{}, node, err
	}
	c.answeredBy(out.Node)
	return out.QueryResult, out.Node, nil
}

// QueryTxn runs read-only statements as one read-only transaction,
// linearizably (ReadIndex on the leader, then one read transaction: all
// of them see the same committed state), and returns one result per
// statement.
func (c *Client) QueryTxn(ctx context.Context, stmts ...Stmt) ([]QueryResult, uint64, error) {
	body, err := json.Marshal(QueryRequest{Stmts: stmts})
	if err != nil {
		return nil, 0, &Error{Op: "query", Msg: err.Error()}
	}
	var out QueryResponse
	node, err := c.call(ctx, "query", "/query", body, false, &out)
	if err != nil {
		return nil, node, err
	}
	c.answeredBy(out.Node)
	if len(out.Results) != len(stmts) {
		return nil, node, &Error{Op: "query", Node: node, Msg: fmt.Sprintf("%d results for %d statements", len(out.Results), len(stmts))}
	}
	return out.Results, out.Node, nil
}

// QueryLocal runs a read-only statement on replica id's own applied state:
// no ReadIndex, no forwarding, so not linearizable. It is for comparing
// replicas once they have caught up.
func (c *Client) QueryLocal(ctx context.Context, id uint64, sql string, args ...any) (QueryResult, error) {
	body, err := json.Marshal(QueryRequest{SQL: sql, Args: args})
	if err != nil {
		return QueryResult{}, &Error{Op: "query", Msg: err.Error()}
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var out QueryResponse
	if _, err := c.do(ctx, "query", id, http.MethodPost, "/query?local=true", body, false, &out); err != nil {
		return QueryResult{}, err
	}
	return out.QueryResult, nil
}

// Status returns node id's /status.
func (c *Client) Status(ctx context.Context, id uint64) (Status, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var st Status
	_, err := c.do(ctx, "status", id, http.MethodGet, "/status", nil, false, &st)
	return st, err
}

// Close closes the client's idle connections. The Client stays usable:
// a later request opens a new one.
func (c *Client) Close() { c.conns.close() }

// Leader is the node that served the last successful request (0: none
// yet); a hint only.
func (c *Client) Leader() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// answeredBy makes the node named in an answer the first one tried next.
// A follower relays a request it cannot serve to the leader, whose answer
// names the leader: the client then goes there directly instead of
// paying the relay's extra HTTP round trip on every later op.
func (c *Client) answeredBy(node uint64) {
	if _, known := c.apis[node]; !known {
		return
	}
	c.mu.Lock()
	c.leader = node
	c.mu.Unlock()
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.Timeout)
}

// call sends body to the leader, trying nodes in turn while an attempt
// certainly did nothing (refused connection, "not leader"). Between full
// rounds without a leader it backs off briefly, until ctx ends.
func (c *Client) call(ctx context.Context, op, path string, body []byte, once bool, out any) (uint64, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var last error
	sawNotLeader, maybeApplied := false, false
	hint := uint64(0)
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		for _, id := range c.order(hint) {
			hint = 0
			node, err := c.do(ctx, op, id, http.MethodPost, path, body, once, out)
			if err == nil {
				c.mu.Lock()
				c.leader = node
				c.mu.Unlock()
				return node, nil
			}
			last = err
			var e *Error
			if errors.As(err, &e) && e.Indeterminate && c.opts.RetryIndeterminate && ctx.Err() == nil {
				maybeApplied = true
				continue
			}
			if !errors.As(err, &e) || e.Indeterminate || !(e.NotLeader || e.Status == 0) {
				if maybeApplied && e != nil {
					e.Indeterminate = true // an earlier attempt may have been applied
				}
				return id, err
			}
			sawNotLeader = sawNotLeader || e.NotLeader
			if e.Leader != 0 && e.Leader != id {
				if _, ok := c.apis[e.Leader]; ok {
					hint = e.Leader
					break
				}
			}
		}
		if hint != 0 {
			continue
		}
		select {
		case <-ctx.Done():
			// Unless RetryIndeterminate retried one, every attempt so far
			// certainly did nothing (an attempt that might have was
			// returned above): a definite failure.
			msg := ctx.Err().Error()
			if last != nil {
				msg += " (last: " + last.Error() + ")"
			}
			return 0, &Error{Op: op, Msg: msg, NotLeader: sawNotLeader, Indeterminate: maybeApplied, Err: ctx.Err()}
		case <-time.After(backoff):
		}
	}
}

// order lists the nodes to try: the hint, then the last leader, then the
// rest by id.
func (c *Client) order(hint uint64) []uint64 {
	c.mu.Lock()
	first := c.leader
	c.mu.Unlock()
	ids := make([]uint64, 0, len(c.ids)+2)
	if hint != 0 {
		ids = append(ids, hint)
	}
	if first != 0 && first != hint {
		ids = append(ids, first)
	}
	for _, id := range c.ids {
		if id != hint && id != first {
			ids = append(ids, id)
		}
	}
	return ids
}

// do sends one request to node id. once marks a request that must not be
// assumed harmless once it may have been delivered.
func (c *Client) do(ctx context.Context, op string, id uint64, method, path string, body []byte, once bool, out any) (uint64, error) {
	addr, ok := c.apis[id]
	if !ok {
		return id, &Error{Op: op, Node: id, Msg: "unknown node"}
	}
	// wrote: whether any byte of the request may have left. A deadline
	// that ends a slow dial (a loaded machine) proves it went nowhere
	// just as a refused connection does.
	status, data, wrote, err := c.conns.roundTrip(ctx, addr, method, path, body)
	if err != nil {
		e := &Error{Op: op, Node: id, Status: status, Msg: err.Error(), Indeterminate: once && wrote && !notSent(err), Err: err}
		if status != 0 {
			e.Err = nil
		}
		return id, e
	}
	if status != http.StatusOK {
		var er ErrorResponse
		if json.Unmarshal(data, &er) != nil || er.Error == "" {
			er.Error = strings.TrimSpace(string(data))
			// An answer we cannot read after the request was delivered
			// says nothing about whether it was applied.
			er.Indeterminate = once && status >= 500
		}
		node := id
		if er.Node != 0 {
			node = er.Node
		}
		return node, &Error{Op: op, Node: node, Status: status, Msg: er.Error, Leader: er.Leader,
			Indeterminate: once && er.Indeterminate, NotLeader: status == http.StatusServiceUnavailable && er.Error == errNotLeader}
	}
	// Numbers stay json.Number: an INTEGER cell must not turn into a float.
	if err := decodeJSON(data, out); err != nil {
		return id, &Error{Op: op, Node: id, Status: status, Msg: "decode response: " + err.Error(), Indeterminate: once}
	}
	return id, nil
}

// notSent reports whether a transport error happened before any byte of
// the request could have reached the server.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
