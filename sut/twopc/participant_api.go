package twopc

import (
	"context"
	"net/http"
)

// participantAPI is a participant as its HTTP API sees it. The SQLite
// participant and the PostgreSQL one serve the same routes with the same
// request decoding and the same answers; only how they prepare, commit,
// abort, read and observe differs.
type participantAPI interface {
	handlePrepare(w http.ResponseWriter, r *http.Request)
	handleRead(w http.ResponseWriter, r *http.Request)
	handleRelease(w http.ResponseWriter, r *http.Request)
	handleStatus(w http.ResponseWriter, r *http.Request)
	handleObserve(w http.ResponseWriter, r *http.Request)
	// commit and abort are idempotent; a refusal carries its HTTP status.
	commit(ctx context.Context, xid, txID string, ops []Op) (Ack, int, error)
	abort(ctx context.Context, xid, txID string) (Ack, int, error)
}

// participantRoutes is the participant API of p.
func participantRoutes(p participantAPI) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /prepare", p.handlePrepare)
	mux.HandleFunc("POST /commit", func(w http.ResponseWriter, r *http.Request) {
		var req CommitRequest
		if readTxRequest(w, r, "commit", &req, &req.TxID) {
			ack, status, err := p.commit(r.Context(), xidOf(req.TxID, req.XID), req.TxID, req.Ops)
			answerAck(w, "commit", req.TxID, ack, status, err)
		}
	})
	mux.HandleFunc("POST /abort", func(w http.ResponseWriter, r *http.Request) {
		var req AbortRequest
		if readTxRequest(w, r, "abort", &req, &req.TxID) {
			ack, status, err := p.abort(r.Context(), xidOf(req.TxID, req.XID), req.TxID)
			answerAck(w, "abort", req.TxID, ack, status, err)
		}
	})
	mux.HandleFunc("POST /read", p.handleRead)
	mux.HandleFunc("POST /release", p.handleRelease)
	mux.HandleFunc("GET /status", p.handleStatus)
	mux.HandleFunc("GET /observe", p.handleObserve)
	return mux
}

func answerAck(w http.ResponseWriter, what, txID string, ack Ack, status int, err error) {
	if err != nil {
		writeError(w, status, "%s %s: %v", what, txID, err)
		return
	}
	writeJSON(w, http.StatusOK, ack)
}

// readTxRequest decodes a request about one tx into req, answering the
// error itself (400 when *txID, a field of req, is empty).
func readTxRequest(w http.ResponseWriter, r *http.Request, what string, req any, txID *string) bool {
	if !readJSON(w, r, req) {
		return false
	}
	if *txID == "" {
		writeError(w, http.StatusBadRequest, "%s needs a tx_id", what)
		return false
	}
	return true
}

// readPrepare decodes a /prepare request, answering 400 itself when it
// has no tx_id or no ops.
func readPrepare(w http.ResponseWriter, r *http.Request) (PrepareRequest, bool) {
	var req PrepareRequest
	if !readTxRequest(w, r, "prepare", &req, &req.TxID) {
		return req, false
	}
	if len(req.Ops) == 0 {
		writeError(w, http.StatusBadRequest, "prepare needs at least one op")
		return req, false
	}
	return req, true
}
