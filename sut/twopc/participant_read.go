package twopc

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// DefaultReadLease bounds how long a read's shared locks keep prepares out
// when the coordinator never releases them (it crashed mid-read).
const DefaultReadLease = 5 * time.Second

type readLock struct {
	accounts []string
	expires  time.Time
}

// readHolderLocked returns a live read holding a shared lock on account.
func (p *participant) readHolderLocked(account string) string {
	now := time.Now()
	for id, rl := range p.reads {
		if now.After(rl.expires) {
			delete(p.reads, id)
			continue
		}
		if slices.Contains(rl.accounts, account) {
			return id
		}
	}
	return ""
}

// handleRead reads balances. With a read_id it also takes a shared lock on
// the accounts read, refused (409, read_locked) while a prepared tx holds
// any of them; prepares of those accounts are refused until the read is
// released or its lease ends.
func (p *participant) handleRead(w http.ResponseWriter, r *http.Request) {
	var req ReadRequest
	if !readJSON(w, r, &req) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	accounts := req.Accounts
	if len(accounts) == 0 {
		accounts = sortedKeys(p.accounts)
	}
	for _, a := range accounts {
		if !p.accounts[a] {
			writeError(w, http.StatusBadRequest, "no account %q", a)
			return
		}
		if holder, ok := p.locks[a]; ok {
			writeCodedError(w, http.StatusConflict, codeReadLocked,
				fmt.Sprintf("account %s locked by prepared tx %s", a, p.inDoubt[holder].row.TxID))
			return
		}
	}
	bals, err := p.st.balances(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "read: %v", err)
		return
	}
	out := ReadResponse{Balances: map[string]int64{}}
	for _, a := range accounts {
		out.Balances[a] = bals[a]
	}
	if req.ReadID != "" {
		lease := DefaultReadLease
		if req.LeaseMS > 0 {
			lease = time.Duration(req.LeaseMS) * time.Millisecond
		}
		p.reads[req.ReadID] = &readLock{accounts: accounts, expires: time.Now().Add(lease)}
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *participant) handleRelease(w http.ResponseWriter, r *http.Request) {
	var req ReleaseRequest
	if !readJSON(w, r, &req) {
		return
	}
	p.mu.Lock()
	rl := p.reads[req.ReadID]
	delete(p.reads, req.ReadID)
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, ReleaseResponse{Held: rl != nil && time.Now().Before(rl.expires)})
}
