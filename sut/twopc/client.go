package twopc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/failpoint"
)

// Client talks to a coordinator (transactions, reads, status) and to
// participants (status, observation) over their HTTP APIs. It never
// retries on its own: whether and when to retry is the workload's choice,
// and a retry must reuse the tx_id.
type Client struct {
	coord string // "http://127.0.0.1:port"
	hc    *http.Client
}

// NewClient returns a client of the coordinator at coordinatorAddr
// ("127.0.0.1:port"); every request gives up after timeout (0: none).
func NewClient(coordinatorAddr string, timeout time.Duration) *Client {
	return &Client{
		coord: baseURL(coordinatorAddr),
		hc:    &http.Client{Timeout: timeout, Transport: newTransport()},
	}
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
}

func baseURL(addr string) string {
	if strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://") {
		return strings.TrimRight(addr, "/")
	}
	return "http://" + addr
}

// HTTPClient is the client's underlying http.Client, e.g. for
// failpoint.Enable.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// Submit runs tx through the coordinator. A nil error means the outcome is
// definite: Outcome.Outcome is Committed or Aborted. After an error,
// IsIndeterminate says whether tx may still commit; errors.Is(err,
// ErrConflict) means the tx_id was used before with other ops.
func (c *Client) Submit(ctx context.Context, tx Txn) (Outcome, error) {
	var out Outcome
	err := callJSON(ctx, c.hc, http.MethodPost, c.coord+"/txn", tx, &out)
	if err == nil && out.Outcome != Committed && out.Outcome != Aborted {
		return out, fmt.Errorf("tx %s: coordinator answered outcome %q", tx.TxID, out.Outcome)
	}
	return out, err
}

// ReadBalances reads every participant's balances in one read-only 2PC
// (keys "participant/account"). errors.Is(err, ErrReadLocked) means
// prepared transactions kept the read out.
func (c *Client) ReadBalances(ctx context.Context) (map[string]int64, error) {
	var out ReadBalances
	if err := callJSON(ctx, c.hc, http.MethodPost, c.coord+"/read-balances", struct{}{}, &out); err != nil {
		return nil, err
	}
	return out.Balances, nil
}

// Status is the coordinator's GET /status.
func (c *Client) Status(ctx context.Context) (CoordinatorStatus, error) {
	var out CoordinatorStatus
	err := callJSON(ctx, c.hc, http.MethodGet, c.coord+"/status", nil, &out)
	return out, err
}

// Decision asks the coordinator how txID ended: Committed, Aborted or
// Pending.
func (c *Client) Decision(ctx context.Context, txID string) (string, error) {
	var out Decision
	err := callJSON(ctx, c.hc, http.MethodGet, c.coord+"/decision/"+url.PathEscape(txID), nil, &out)
	return out.Decision, err
}

// Observe is GET /observe on the participant at addr: balances, effect
// rows per tx_id, in-doubt txs.
func (c *Client) Observe(ctx context.Context, addr string) (Observation, error) {
	var out Observation
	err := callJSON(ctx, c.hc, http.MethodGet, baseURL(addr)+"/observe", nil, &out)
	return out, err
}

// ParticipantStatus is GET /status on the participant at addr.
func (c *Client) ParticipantStatus(ctx context.Context, addr string) (ParticipantStatus, error) {
	var out ParticipantStatus
	err := callJSON(ctx, c.hc, http.MethodGet, baseURL(addr)+"/status", nil, &out)
	return out, err
}

// EnableFailpoint switches failpoint name on at the node at addr (the
// coordinator's or a participant's API address).
func (c *Client) EnableFailpoint(addr, name, terms string) error {
	return failpoint.Enable(c.hc, baseURL(addr), name, terms)
}

// DisableFailpoint switches it off; a tx held by a return(…) term goes on.
func (c *Client) DisableFailpoint(addr, name string) error {
	return failpoint.Disable(c.hc, baseURL(addr), name)
}

var (
	// ErrConflict: the tx_id was submitted before with different ops
	// (HTTP 409 from POST /txn).
	ErrConflict = errors.New("tx_id already used with different ops")
	// ErrReadLocked: a read could not get its shared locks because
	// prepared transactions held them.
	ErrReadLocked = errors.New("read refused: accounts locked by prepared transactions")
)

// Error codes in error bodies that map to the sentinel errors.
const (
	codeConflict   = "tx_id_conflict"
	codeReadLocked = "read_locked"
)

// HTTPError is a non-2xx answer from a node.
type HTTPError struct {
	Method, URL string
	Status      int
	Msg         string
	Code        string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.Status, http.StatusText(e.Status), e.Msg)
}

// Is maps error codes to ErrConflict and ErrReadLocked.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrConflict:
		return e.Code == codeConflict
	case ErrReadLocked:
		return e.Code == codeReadLocked
	}
	return false
}

// IsIndeterminate reports whether a request that ended with err may still
// have taken effect: the request may have reached the node and no answer
// came back (timeout, connection reset, 5xx). It is false for nil, for a
// refused connection (the node never saw the request) and for a 4xx
// answer, which nodes send only before acting. When unsure it says true:
// a workload then records info, never a wrong fail.
func IsIndeterminate(err error) bool {
	if err == nil {
		return false
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Status >= 500
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	return true
}

// callJSON sends in (nil: no body) as JSON and decodes a 2xx answer into
// out. Errors are wrapped with the method and URL.
func callJSON(ctx context.Context, hc *http.Client, method, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err // *url.Error names the method and URL
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			msg = eb.Error
		}
		return &HTTPError{Method: method, URL: u, Status: resp.StatusCode, Msg: msg, Code: eb.Code}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}
