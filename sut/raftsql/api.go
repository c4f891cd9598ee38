package raftsql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"strconv"

	"github.com/chaoscheck/chaoscheck/sut/failpoint"
)

// The client API, HTTP/JSON on Config.API:
//
//	POST /exec   Command {"request_id","stmts":[{"sql","args"}]} → ExecResponse
//	POST /query  QueryRequest {"sql","args"}                      → QueryResponse
//	POST /query  QueryRequest {"stmts":[{"sql","args"}]}          → QueryResponse
//	             with "results": read-only statements read in ONE
//	             transaction (one committed state), a read-only txn
//	POST /query?local=true  the same from this replica's applied state,
//	             no ReadIndex and no forwarding (not linearizable; for
//	             comparing replicas once they have caught up)
//	GET  /status                                                  → Status
//	/failpoints/ the gofail failpoints (sut/failpoint)
//	/debug/pprof/ net/http/pprof, with Config.Pprof only
//
// Errors are ErrorResponse bodies. 400: the request is wrong and was not
// proposed. 503 "not leader": nothing was proposed; "leader" names the
// leader if known. 504: timed out; for /exec "indeterminate" is true, the
// command may or may not be applied.
//
// A follower forwards /exec and /query to the leader when it knows the
// leader's API address (Config.PeerAPIs) and answers "not leader"
// otherwise; a forwarded request is never forwarded again, so a stale
// leader hint cannot make a loop.

// QueryRequest is the body of /query: one read-only statement (SQL, Args),
// or several (Stmts) read as one transaction.
type QueryRequest struct {
	SQL   string `json:"sql,omitempty"`
	Args  []any  `json:"args,omitempty"`
	Stmts []Stmt `json:"stmts,omitempty"`
}

// stmts returns the request's statements with their arguments bound as
// SQLite will see them, or an error saying what is wrong with it.
func (q QueryRequest) stmts() ([]Stmt, error) {
	stmts := q.Stmts
	switch {
	case len(stmts) > 0 && (q.SQL != "" || len(q.Args) > 0):
		return nil, errors.New("give either sql and args or stmts, not both")
	case len(stmts) > MaxStmts:
		return nil, fmt.Errorf("%d statements, limit %d", len(stmts), MaxStmts)
	case len(stmts) == 0:
		stmts = []Stmt{{SQL: q.SQL, Args: q.Args}}
	}
	for i, s := range stmts {
		for j, a := range s.Args {
			v, err := normalizeArg(a)
			if err != nil {
				return nil, fmt.Errorf("stmt %d arg %d: %v", i, j, err)
			}
			s.Args[j] = v
		}
		if !IsReadOnly(s.SQL) {
			return nil, fmt.Errorf("stmt %d: not a single read-only statement; use /exec", i)
		}
	}
	return stmts, nil
}

// Status is a node's /status answer.
type Status struct {
	ID            uint64 `json:"id"`
	Leader        uint64 `json:"leader"`
	Term          uint64 `json:"term"`
	State         string `json:"state"` // StateLeader, StateFollower, …
	Commit        uint64 `json:"commit"`
	Applied       uint64 `json:"applied"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	FirstIndex    uint64 `json:"first_index"`
	LastIndex     uint64 `json:"last_index"`
	// RecoveredFromSnapshot is the index of the snapshot the node's log
	// started from when this process started (0: none).
	RecoveredFromSnapshot uint64 `json:"recovered_from_snapshot"`
	// SnapshotsInstalled counts snapshots received from a leader since
	// start; InstalledSnapshotIndex is the last one's index.
	SnapshotsInstalled     uint64   `json:"snapshots_installed"`
	InstalledSnapshotIndex uint64   `json:"installed_snapshot_index"`
	Bugs                   []string `json:"bugs,omitempty"`
}

const (
	errNotLeader  = "not leader"
	hdrForwarded  = "X-Chaoscheck-Forwarded-By"
	maxQueryBytes = 1 << 20
)

var errNotLeaderErr = errors.New(errNotLeader)

func (n *Node) apiMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /exec", n.handleExec)
	mux.HandleFunc("POST /query", n.handleQuery)
	mux.HandleFunc("GET /status", n.handleStatus)
	mux.Handle(failpoint.Prefix, failpoint.Handler())
	if n.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (n *Node) peerMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(RaftPath, n.tr.Handler(n.rn.Step))
	return mux
}

func (n *Node) handleExec(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxCommandBytes+1))
	if err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: "read body: " + err.Error()})
		return
	}
	var cmd Command
	if err := decodeJSON(body, &cmd); err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: "decode command: " + err.Error()})
		return
	}
	// Every replica evaluates the statements on its own: refuse what two
	// of them could evaluate differently before it reaches the log.
	for i, s := range cmd.Stmts {
		if err := n.sm.CheckStmt(s); err != nil {
			n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: fmt.Sprintf("stmt %d: %v", i, err)})
			return
		}
	}
	data, err := EncodeCommand(cmd)
	if err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	if !n.isLeader() {
		n.forward(w, r, body, true)
		return
	}
	res, err := n.propose(r.Context(), data)
	switch {
	case errors.Is(err, errNotLeaderErr):
		n.writeError(w, http.StatusServiceUnavailable, ErrorResponse{Error: errNotLeader, Leader: n.leader.Load()})
	case err != nil:
		n.writeError(w, http.StatusGatewayTimeout, ErrorResponse{Error: err.Error(), Indeterminate: true})
	default:
		writeJSON(w, http.StatusOK, ExecResponse{ExecResult: res, Node: n.cfg.ID})
	}
}

func (n *Node) handleQuery(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBytes))
	if err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: "read body: " + err.Error()})
		return
	}
	var q QueryRequest
	if err := decodeJSON(body, &q); err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: "decode query: " + err.Error()})
		return
	}
	stmts, err := q.stmts()
	if err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	if local := r.URL.Query().Get("local") == "true"; !local && !n.cfg.Bugs.StaleRead {
		if !n.isLeader() {
			n.forward(w, r, body, false)
			return
		}
		// Seeded bug local-leader-read skips the ReadIndex below: a node
		// that believes it leads answers from its own state, without a
		// quorum confirming that it still does. A deposed leader cut off
		// from the majority serves stale reads until it steps down.
		if !n.cfg.Bugs.LocalLeaderRead {
			if err := n.readIndex(r.Context()); err != nil {
				n.writeError(w, http.StatusGatewayTimeout, ErrorResponse{Error: err.Error()})
				return
			}
		}
	}
	// Seeded bug stale-read skips the block above: any node answers from
	// whatever it has applied.
	res, err := n.sm.QueryTxn(r.Context(), stmts)
	if err != nil {
		n.writeError(w, http.StatusBadRequest, ErrorResponse{Error: err.Error()})
		return
	}
	if len(q.Stmts) > 0 {
		writeJSON(w, http.StatusOK, QueryResponse{Results: res, Node: n.cfg.ID})
		return
	}
	writeJSON(w, http.StatusOK, QueryResponse{QueryResult: res[0], Node: n.cfg.ID})
}

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, n.status())
}

func (n *Node) status() Status {
	st := n.rn.Status()
	first, _ := n.store.FirstIndex()
	last, _ := n.store.LastIndex()
	return Status{
		ID:                     n.cfg.ID,
		Leader:                 st.Lead,
		Term:                   st.HardState.GetTerm(),
		State:                  st.RaftState.String(),
		Commit:                 st.HardState.GetCommit(),
		Applied:                n.applied.Load(),
		SnapshotIndex:          n.snapShown.Load(),
		FirstIndex:             first,
		LastIndex:              last,
		RecoveredFromSnapshot:  n.recovered,
		SnapshotsInstalled:     n.installed.Load(),
		InstalledSnapshotIndex: n.lastInst.Load(),
		Bugs:                   n.cfg.Bugs.Names(),
	}
}

func (n *Node) isLeader() bool { return n.leader.Load() == n.cfg.ID }

// forward relays a request this follower cannot serve to the leader.
// exec marks a request whose failure after delivery is indeterminate.
func (n *Node) forward(w http.ResponseWriter, r *http.Request, body []byte, exec bool) {
	leader := n.leader.Load()
	addr, known := n.cfg.PeerAPIs[leader]
	if r.Header.Get(hdrForwarded) != "" || leader == 0 || leader == n.cfg.ID || !known {
		n.writeError(w, http.StatusServiceUnavailable, ErrorResponse{Error: errNotLeader, Leader: leader})
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+addr+r.URL.Path, bytes.NewReader(body))
	if err != nil {
		n.writeError(w, http.StatusInternalServerError, ErrorResponse{Error: err.Error()})
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hdrForwarded, strconv.FormatUint(n.cfg.ID, 10))
	resp, err := n.fwd.Do(req)
	if err != nil {
		if notSent(err) {
			n.writeError(w, http.StatusServiceUnavailable, ErrorResponse{Error: errNotLeader, Leader: leader})
			return
		}
		n.writeError(w, http.StatusGatewayTimeout, ErrorResponse{
			Error: fmt.Sprintf("forward to leader %d: %v", leader, err), Indeterminate: exec, Node: leader})
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// decodeJSON decodes one JSON value keeping numbers as json.Number, so an
// integer argument stays an integer all the way to SQLite.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func (n *Node) writeError(w http.ResponseWriter, code int, e ErrorResponse) {
	if e.Node == 0 {
		e.Node = n.cfg.ID
	}
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
