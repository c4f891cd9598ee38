package twopc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// validateTxn returns what is wrong with tx, or "".
func (c *coordinator) validateTxn(tx Txn) string {
	if tx.TxID == "" {
		return "tx_id is required"
	}
	if len(tx.Ops) == 0 {
		return "ops must name at least one participant"
	}
	for _, name := range sortedKeys(tx.Ops) {
		if _, ok := c.cfg.Participants[name]; !ok {
			return fmt.Sprintf("unknown participant %q (known: %v)", name, c.names)
		}
		if len(tx.Ops[name]) == 0 {
			return fmt.Sprintf("participant %s: no ops", name)
		}
		for _, op := range tx.Ops[name] {
			if op.Account == "" {
				return fmt.Sprintf("participant %s: op without an account", name)
			}
		}
	}
	return ""
}

func (c *coordinator) handleTxn(w http.ResponseWriter, r *http.Request) {
	var tx Txn
	if !readJSON(w, r, &tx) {
		return
	}
	if msg := c.validateTxn(tx); msg != "" {
		writeError(w, http.StatusBadRequest, "%s", msg)
		return
	}
	// The tx runs to its end even if this client goes away: a retry gets
	// its outcome.
	res := c.submit(r.Context(), context.WithoutCancel(r.Context()), tx, hashOps(tx.Ops))
	if res.status != 0 {
		writeCodedError(w, res.status, res.code, res.msg)
		return
	}
	writeJSON(w, http.StatusOK, res.out)
}

// submit is the dedup front door. Invariant: a tx_id runs at most once; a
// repeat gets the first attempt's outcome, waiting for it while it is in
// flight, and the same tx_id with other ops is refused.
func (c *coordinator) submit(reqCtx, ctx context.Context, tx Txn, hash string) result {
	if c.cfg.Bugs.Has(BugNoDedup) {
		// Seeded bug no-dedup: every request is a new transaction.
		return c.run(ctx, tx, hash, c.freshXID(tx.TxID))
	}
	c.mu.Lock()
	if a := c.inflight[tx.TxID]; a != nil {
		c.waiting++
		c.mu.Unlock()
		defer func() { c.mu.Lock(); c.waiting--; c.mu.Unlock() }()
		if a.hash != hash {
			return conflict(tx.TxID)
		}
		select {
		case <-a.done:
		case <-reqCtx.Done():
			return errResult(http.StatusServiceUnavailable, "", "tx %s: gave up waiting for its first attempt: %v", tx.TxID, reqCtx.Err())
		}
		res := a.res
		res.out.Duplicate = res.status == 0
		return res
	}
	a := &attempt{hash: hash, done: make(chan struct{})}
	c.inflight[tx.TxID] = a
	c.mu.Unlock()

	a.res = c.first(ctx, tx, hash)
	c.mu.Lock()
	delete(c.inflight, tx.TxID)
	c.mu.Unlock()
	close(a.done)
	return a.res
}

func conflict(txID string) result {
	return errResult(http.StatusConflict, codeConflict, "tx_id %s was already used with different ops", txID)
}

// first runs tx unless its tx_id has a durable record, whose outcome it
// returns instead.
func (c *coordinator) first(ctx context.Context, tx Txn, hash string) result {
	rec, found, err := c.lookup(tx.TxID)
	if err != nil {
		return errResult(http.StatusInternalServerError, "", "%v", err)
	}
	if !found {
		xid := tx.TxID
		if c.cfg.Bugs.Has(BugMemoryDedup) {
			// A coordinator without durable tx_id records cannot reuse the
			// tx_id as the participants' key; it names each attempt afresh.
			xid = c.freshXID(tx.TxID)
		}
		return c.run(ctx, tx, hash, xid)
	}
	if rec.Hash != hash {
		return conflict(tx.TxID)
	}
	if rec.State == stateStarted {
		// Cut off before a decision and not live: recover() normally
		// aborts these at start; a failed decision write leaves one too.
		rec.State, rec.Reason = Aborted, "first attempt ended before a decision (presumed abort)"
		if err := c.dlog.put(rec); err != nil {
			return errResult(http.StatusInternalServerError, "", "%v", err)
		}
		c.countDecided()
		c.sendAborts(ctx, rec)
	}
	return result{out: Outcome{TxID: tx.TxID, Outcome: rec.State, Reason: rec.Reason, Duplicate: true}}
}

// lookup finds the durable record of a tx_id.
func (c *coordinator) lookup(txID string) (record, bool, error) {
	if c.cfg.Bugs.Has(BugMemoryDedup) {
		// Seeded bug memory-dedup: tx_id → attempt lives in memory only.
		c.mu.Lock()
		xid, ok := c.memDedup[txID]
		c.mu.Unlock()
		if !ok {
			return record{}, false, nil
		}
		return c.dlog.get(xid)
	}
	return c.dlog.get(txID)
}

func (c *coordinator) freshXID(txID string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return txID + "~" + hex.EncodeToString(b)
}

func (c *coordinator) countDecided() {
	c.mu.Lock()
	c.decided++
	c.mu.Unlock()
}

// run is one attempt of the protocol, under the xid the participants know
// it by.
func (c *coordinator) run(ctx context.Context, tx Txn, hash, xid string) result {
	rec := record{TxID: tx.TxID, XID: xid, Hash: hash, Ops: tx.Ops, State: stateStarted}
	c.mu.Lock()
	c.live[xid] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.live, xid)
		c.mu.Unlock()
	}()
	// Dedup record first, before any participant hears of the tx: a crash
	// from here on leaves a record that recovery resolves (abort), so a
	// retry can never run it a second time.
	if err := c.dlog.put(rec); err != nil {
		return errResult(http.StatusInternalServerError, "", "%v", err)
	}
	if c.cfg.Bugs.Has(BugMemoryDedup) {
		c.mu.Lock()
		c.memDedup[tx.TxID] = xid
		c.mu.Unlock()
	}
	if c.cfg.Bugs.Has(BugOnePhase) {
		return c.runOnePhase(ctx, rec)
	}

	reason := c.prepareAll(ctx, rec)
	hold(ctx, fpCoordinatorBeforeDecision, c.holding(tx.TxID, FPCoordinatorBeforeDecision))
	if reason != "" {
		return c.abort(ctx, rec, reason)
	}
	if c.cfg.Bugs.Has(BugCommitBeforeDecision) {
		// Seeded bug commit-before-decision: commits go out first, the
		// decision is forced last; a crash in the window between forgets a
		// commit that participants have applied.
		c.sendCommits(ctx, rec)
		c.holdBeforeCommit(ctx, tx.TxID)
		return c.decideCommit(ctx, &rec)
	}
	res := c.decideCommit(ctx, &rec)
	if res.status != 0 {
		return res
	}
	// Invariant (presumed abort): the commit decision is durable before
	// any commit message leaves.
	hold(ctx, fpCoordinatorAfterDecision, c.holding(tx.TxID, FPCoordinatorAfterDecision))
	c.holdBeforeCommit(ctx, tx.TxID)
	c.sendCommits(ctx, rec)
	return res
}

// decideCommit forces the commit decision. Once it returns 200 the tx is
// committed, whatever happens next: participants that miss the commit get
// it re-driven, or ask.
func (c *coordinator) decideCommit(ctx context.Context, rec *record) result {
	decided := *rec
	decided.State = Committed
	if err := c.dlog.put(decided); err != nil {
		// Not decided: the record stays started and this attempt is over,
		// so the tx is aborted (presumed abort). Tell the participants.
		c.log.Error("forcing commit decision failed; aborting", "tx_id", rec.TxID, "err", err)
		c.sendAborts(ctx, *rec)
		return errResult(http.StatusInternalServerError, "", "tx %s: forcing the commit decision: %v", rec.TxID, err)
	}
	*rec = decided
	c.countDecided()
	return result{out: Outcome{TxID: rec.TxID, Outcome: Committed}}
}

// abort records the abort decision and tells the participants. Under
// presumed abort the record is not needed for safety; it keeps the
// outcome for retries of the tx_id.
func (c *coordinator) abort(ctx context.Context, rec record, reason string) result {
	rec.State, rec.Reason = Aborted, reason
	if err := c.dlog.put(rec); err != nil {
		c.log.Error("recording abort", "tx_id", rec.TxID, "err", err)
	} else {
		c.countDecided()
	}
	hold(ctx, fpCoordinatorAfterDecision, c.holding(rec.TxID, FPCoordinatorAfterDecision))
	c.sendAborts(ctx, rec)
	return result{out: Outcome{TxID: rec.TxID, Outcome: Aborted, Reason: reason}}
}

// holdBeforeCommit is the commit window failpoint, reported on /status as
// paused_tx_id and in the log.
func (c *coordinator) holdBeforeCommit(ctx context.Context, txID string) {
	hold(ctx, fpCoordinatorBeforeCommit, c.holding(txID, FPCoordinatorBeforeCommit))
}

// holding returns the bookkeeping for a tx held at failpoint fp.
func (c *coordinator) holding(txID, fp string) func() func() {
	return func() func() {
		h := Held{TxID: txID, Failpoint: fp}
		c.mu.Lock()
		c.held = append(c.held, h)
		c.mu.Unlock()
		if fp == FPCoordinatorBeforeCommit {
			c.log.Info("paused before commit", "tx_id", txID)
		} else {
			c.log.Info("held at failpoint", "failpoint", fp, "tx_id", txID)
		}
		return func() {
			c.mu.Lock()
			if i := slices.Index(c.held, h); i >= 0 {
				c.held = slices.Delete(c.held, i, i+1)
			}
			c.mu.Unlock()
			c.log.Info("released from failpoint", "failpoint", fp, "tx_id", txID)
		}
	}
}

func (c *coordinator) participantsOf(rec record) []string { return sortedKeys(rec.Ops) }

// post sends one message to a participant, bounded by timeout.
func (c *coordinator) post(ctx context.Context, name, path string, timeout time.Duration, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return callJSON(ctx, c.hc, http.MethodPost, baseURL(c.cfg.Participants[name])+path, in, out)
}

func (c *coordinator) xidField(rec record) string {
	if rec.XID == rec.TxID {
		return ""
	}
	return rec.XID
}

// prepareAll asks every participant to prepare, in parallel. It returns ""
// when all voted yes, else why not (the first participant by name that
// did not).
func (c *coordinator) prepareAll(ctx context.Context, rec record) string {
	names := c.participantsOf(rec)
	reasons := make([]string, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			var resp PrepareResponse
			req := PrepareRequest{TxID: rec.TxID, XID: c.xidField(rec), Ops: rec.Ops[name]}
			switch err := c.post(ctx, name, "/prepare", c.cfg.PrepareTimeout, req, &resp); {
			case err != nil:
				reasons[i] = fmt.Sprintf("prepare at %s failed: %v", name, err)
			case resp.Vote != VoteYes:
				reasons[i] = fmt.Sprintf("%s voted no: %s", name, resp.Reason)
			}
		})
	}
	wg.Wait()
	for _, r := range reasons {
		if r != "" {
			return r
		}
	}
	return ""
}

// ackWait bounds how long an answer to the client waits for commit or
// abort acknowledgements. The outcome is already durable; a participant
// that is slow (paused, partitioned) must not make every client time out,
// and it is re-driven (commit) or asks (abort).
const ackWait = 500 * time.Millisecond

// sendCommits sends the commit to every participant in parallel and waits
// up to ackWait; those that do not acknowledge get it re-driven in the
// background.
func (c *coordinator) sendCommits(ctx context.Context, rec record) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		missing := c.commitEach(ctx, rec, c.participantsOf(rec), true)
		if len(missing) == 0 {
			c.markDone(rec)
			return
		}
		c.startRedrive(rec, missing)
	}()
	select {
	case <-done:
	case <-time.After(ackWait):
	}
}

// commitEach sends the commit to names and returns those that did not
// acknowledge; logged says whether to log each failure.
func (c *coordinator) commitEach(ctx context.Context, rec record, names []string, logged bool) []string {
	failed := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			req := CommitRequest{TxID: rec.TxID, XID: c.xidField(rec)}
			failed[i] = c.post(ctx, name, "/commit", c.cfg.CommitTimeout, req, nil)
		})
	}
	wg.Wait()
	var missing []string
	for i, err := range failed {
		if err != nil {
			if logged {
				c.log.Warn("commit not acknowledged; re-driving", "tx_id", rec.TxID, "participant", names[i], "err", err)
			}
			missing = append(missing, names[i])
		}
	}
	return missing
}

// markDone records that every participant acknowledged the commit of a
// decided tx. Losing this write only costs a harmless re-drive after a
// restart. It never decides: a record not yet committed is left alone.
func (c *coordinator) markDone(rec record) {
	if rec.State != Committed {
		return
	}
	rec.Done = true
	if err := c.dlog.put(rec); err != nil {
		c.log.Warn("recording commit acknowledged", "tx_id", rec.TxID, "err", err)
	}
}

// startRedrive resends the commit to names with backoff until each
// acknowledges or the node stops. Commits are idempotent on participants,
// so resending is always safe. Failures are logged every tenth try.
func (c *coordinator) startRedrive(rec record, names []string) {
	c.mu.Lock()
	if c.pending[rec.XID] {
		c.mu.Unlock()
		return
	}
	c.pending[rec.XID] = true
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.pending, rec.XID)
			c.mu.Unlock()
		}()
		backoff := 50 * time.Millisecond
		for try := 1; len(names) > 0; try++ {
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(backoff):
			}
			names = c.commitEach(c.ctx, rec, names, try%10 == 0)
			backoff = min(backoff*2, time.Second)
		}
		c.log.Info("re-driven commit acknowledged by every participant", "tx_id", rec.TxID)
		c.markDone(rec)
	}()
}

// sendAborts tells every participant of rec that it aborted, waiting up to
// ackWait. Best effort: a participant that misses it asks GET /decision
// and hears aborted.
func (c *coordinator) sendAborts(ctx context.Context, rec record) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, name := range c.participantsOf(rec) {
			wg.Go(func() {
				req := AbortRequest{TxID: rec.TxID, XID: c.xidField(rec)}
				if err := c.post(ctx, name, "/abort", c.cfg.CommitTimeout, req, nil); err != nil {
					c.log.Warn("abort not acknowledged; the participant will ask", "tx_id", rec.TxID, "participant", name, "err", err)
				}
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(ackWait):
	}
}

// runOnePhase is the seeded bug one-phase: participants commit one after
// another with no prepare, so a refusal or a crash midway leaves the
// earlier ones committed.
func (c *coordinator) runOnePhase(ctx context.Context, rec record) result {
	for _, name := range c.participantsOf(rec) {
		req := CommitRequest{TxID: rec.TxID, XID: c.xidField(rec), Ops: rec.Ops[name]}
		if err := c.post(ctx, name, "/commit", c.cfg.CommitTimeout, req, nil); err != nil {
			return c.abort(ctx, rec, fmt.Sprintf("one-phase commit at %s failed: %v", name, err))
		}
	}
	rec.State, rec.Done = Committed, true
	if err := c.dlog.put(rec); err != nil {
		return errResult(http.StatusInternalServerError, "", "%v", err)
	}
	c.countDecided()
	return result{out: Outcome{TxID: rec.TxID, Outcome: Committed}}
}
