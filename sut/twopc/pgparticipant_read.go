package twopc

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// handleRead reads balances. With a read_id the rows stay locked FOR
// SHARE, in a transaction left open on its own connection, until
// /release or the lease ends; a row held by a prepared transaction makes
// the read 409 read_locked, as on the SQLite participant
// (participant_read.go).
func (p *PGParticipant) handleRead(w http.ResponseWriter, r *http.Request) {
	var req ReadRequest
	if !readJSON(w, r, &req) {
		return
	}
	ctx := r.Context()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "read: %v", err)
		return
	}
	held := false
	defer func() {
		if !held {
			conn.Release() // still in the transaction: destroyed, rolled back
		}
	}()
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL READ COMMITTED"); err != nil {
		writeError(w, http.StatusServiceUnavailable, "read: %v", err)
		return
	}
	q := "SELECT name, balance FROM cc_accounts ORDER BY name FOR SHARE NOWAIT"
	args := []any{}
	if len(req.Accounts) > 0 {
		q = "SELECT name, balance FROM cc_accounts WHERE name = ANY($1) ORDER BY name FOR SHARE NOWAIT"
		args = append(args, req.Accounts)
	}
	rows, _ := conn.Query(ctx, q, args...)
	out := ReadResponse{Balances: map[string]int64{}}
	var name string
	var b int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &b}, func() error { out.Balances[name] = b; return nil }); err != nil {
		if pgCode(err) == sqlLockNotAvailable {
			writeCodedError(w, http.StatusConflict, codeReadLocked, fmt.Sprintf("read: accounts locked: %v", err))
			return
		}
		writeError(w, http.StatusServiceUnavailable, "read: %v", err)
		return
	}
	for _, a := range req.Accounts {
		if _, ok := out.Balances[a]; !ok {
			writeError(w, http.StatusBadRequest, "no account %q", a)
			return
		}
	}
	if req.ReadID != "" {
		lease := DefaultReadLease
		if req.LeaseMS > 0 {
			lease = time.Duration(req.LeaseMS) * time.Millisecond
		}
		p.mu.Lock()
		if old := p.reads[req.ReadID]; old != nil {
			old.timer.Stop()
			old.conn.Release()
		}
		p.reads[req.ReadID] = &pgRead{conn: conn, timer: time.AfterFunc(lease, func() { p.endRead(req.ReadID) })}
		p.mu.Unlock()
		held = true
	}
	writeJSON(w, http.StatusOK, out)
}

// endRead ends a read's transaction and reports whether its locks were
// still held: the read was live and its connection still in its
// transaction (false after a server restart).
func (p *PGParticipant) endRead(readID string) bool {
	p.mu.Lock()
	rd := p.reads[readID]
	delete(p.reads, readID)
	p.mu.Unlock()
	if rd == nil {
		return false
	}
	rd.timer.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := rd.conn.Exec(ctx, "ROLLBACK")
	rd.conn.Release()
	return err == nil
}

func (p *PGParticipant) handleRelease(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !readJSON(w, r, &req) {
		return
	}
	writeJSON(w, http.StatusOK, ReleaseResponse{Held: p.endRead(req.ReadID)})
}
