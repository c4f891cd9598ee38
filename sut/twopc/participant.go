package twopc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/failpoint"
)

// ParticipantConfig configures one participant node.
type ParticipantConfig struct {
	ID      string // e.g. "p1"
	Addr    string // API address, 127.0.0.1:port
	DataDir string
	// Accounts are created with these balances on the first start only; a
	// later start keeps the balances on disk.
	Accounts map[string]int64
	// Coordinator is the coordinator's API address, asked for the decision
	// on in-doubt txs. Empty: wait for the coordinator to re-drive them.
	Coordinator string
	// ResolveAfter is how long a tx prepared while this node was up stays
	// in doubt before the node asks the coordinator (0: 2s). Txs found
	// prepared at start are asked about at once.
	ResolveAfter time.Duration
	Bugs         Bugs
	Logger       *slog.Logger
}

// participant is one SQLite participant. mu serializes every state change
// and the forced write that goes with it, so the in-memory view (in-doubt
// txs, locks, counts) always matches the database.
type participant struct {
	cfg ParticipantConfig
	log *slog.Logger
	st  *store
	hc  *http.Client

	mu       sync.Mutex
	accounts map[string]bool
	// inDoubt holds every tx recorded PREPARED, by xid. Invariant:
	// locks[a] == xid exactly when inDoubt[xid] has an op on account a.
	inDoubt map[string]*doubt
	locks   map[string]string
	reads   map[string]*readLock // shared locks of read-only txs, by read_id
	counts  map[string]int       // txs per state
}

type doubt struct {
	row   txRow
	since time.Time // zero for txs found prepared at start
}

// RunParticipant runs a participant until ctx ends.
func RunParticipant(ctx context.Context, cfg ParticipantConfig) error {
	if cfg.ID == "" || cfg.Addr == "" || cfg.DataDir == "" {
		return errors.New("participant: id, api address and data dir are required")
	}
	if cfg.ResolveAfter <= 0 {
		cfg.ResolveAfter = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.ID)
	st, err := openStore(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("participant %s: %w", cfg.ID, err)
	}
	defer st.close()
	created, err := st.initAccounts(ctx, cfg.Accounts)
	if err != nil {
		return fmt.Errorf("participant %s: %w", cfg.ID, err)
	}
	p := &participant{
		cfg: cfg, log: log, st: st,
		hc:      &http.Client{Transport: newTransport()},
		inDoubt: map[string]*doubt{}, locks: map[string]string{},
		reads: map[string]*readLock{}, counts: map[string]int{},
	}
	if err := p.load(ctx); err != nil {
		return fmt.Errorf("participant %s: %w", cfg.ID, err)
	}
	if cfg.Bugs.Has(BugForgetPrepared) {
		// Seeded bug: drop the prepared txs a restart found and abort them
		// unilaterally, although this node voted yes and the coordinator
		// may have decided commit.
		for xid, d := range p.inDoubt {
			log.Warn("seeded bug forget-prepared: aborting prepared tx on restart", "tx_id", d.row.TxID)
			if _, _, err := p.abort(ctx, xid, d.row.TxID); err != nil {
				return fmt.Errorf("participant %s: %w", cfg.ID, err)
			}
		}
	}
	ln, err := listenLoopback(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("participant %s: %w", cfg.ID, err)
	}
	p.mu.Lock()
	log.Info("participant up", "api", cfg.Addr, "data", cfg.DataDir, "accounts_created", created,
		"accounts", len(p.accounts), "in_doubt", len(p.inDoubt), "bugs", cfg.Bugs.List())
	p.mu.Unlock()
	go p.resolveLoop(ctx)
	return serve(ctx, ln, p.routes(), log)
}

func (p *participant) routes() http.Handler {
	mux := participantRoutes(p)
	mux.Handle(failpoint.Prefix, failpoint.Handler())
	return mux
}

// load rebuilds the in-memory view from the database. Prepared txs keep
// their locks across a restart: they are in doubt until the coordinator's
// decision is known.
func (p *participant) load(ctx context.Context) error {
	bals, err := p.st.balances(ctx)
	if err != nil {
		return err
	}
	p.accounts = map[string]bool{}
	for a := range bals {
		p.accounts[a] = true
	}
	if p.counts, err = p.st.stateCounts(ctx); err != nil {
		return err
	}
	prepared, err := p.st.prepared(ctx)
	if err != nil {
		return err
	}
	for _, r := range prepared {
		p.inDoubt[r.XID] = &doubt{row: r}
		for _, op := range r.Ops {
			p.locks[op.Account] = r.XID
		}
	}
	return nil
}

func xidOf(txID, xid string) string {
	if xid != "" {
		return xid
	}
	return txID
}

func (p *participant) handlePrepare(w http.ResponseWriter, r *http.Request) {
	req, ok := readPrepare(w, r)
	if !ok {
		return
	}
	resp, fresh, err := p.prepare(r.Context(), xidOf(req.TxID, req.XID), req)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "prepare %s: %v", req.TxID, err)
		return
	}
	if fresh {
		hold(r.Context(), fpParticipantAfterPrepare, nil)
	}
	writeJSON(w, http.StatusOK, resp)
}

// prepare votes on req. A yes vote is given only after the tx is durably
// recorded PREPARED with its ops: a participant that said yes can commit
// after any crash. fresh reports whether this call recorded it.
func (p *participant) prepare(ctx context.Context, xid string, req PrepareRequest) (resp PrepareResponse, fresh bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.inDoubt[xid]; d != nil {
		if !slices.Equal(d.row.Ops, req.Ops) {
			return PrepareResponse{Vote: VoteNo, Reason: "tx_id already prepared here with other ops"}, false, nil
		}
		return PrepareResponse{Vote: VoteYes, Reason: "already prepared"}, false, nil
	}
	row, found, err := p.st.getTx(ctx, xid)
	if err != nil {
		return resp, false, err
	}
	if found {
		switch row.State {
		case StateCommitted:
			// Only a coordinator that lost its records asks again; yes keeps
			// its answer consistent with the effect already applied here.
			return PrepareResponse{Vote: VoteYes, Reason: "already committed"}, false, nil
		case StateAborted:
			return PrepareResponse{Vote: VoteNo, Reason: "tx aborted here"}, false, nil
		}
	}
	if reason, err := p.validateLocked(ctx, xid, req.Ops); err != nil || reason != "" {
		return PrepareResponse{Vote: VoteNo, Reason: reason}, false, err
	}
	row = txRow{XID: xid, TxID: req.TxID, State: StatePrepared, Ops: req.Ops}
	if err := p.st.setState(ctx, row); err != nil {
		return resp, false, err
	}
	p.inDoubt[xid] = &doubt{row: row, since: time.Now()}
	for _, op := range row.Ops {
		p.locks[op.Account] = xid
	}
	p.counts[StatePrepared]++
	return PrepareResponse{Vote: VoteYes}, true, nil
}

// validateLocked returns why ops cannot be applied now, or "". No-wait
// locking: an account held by another prepared tx or by a read is a no
// vote, never a wait, so no deadlock can form across participants.
func (p *participant) validateLocked(ctx context.Context, xid string, ops []Op) (string, error) {
	sum := map[string]int64{}
	for _, op := range ops {
		if !p.accounts[op.Account] {
			return fmt.Sprintf("no account %q", op.Account), nil
		}
		if holder, ok := p.locks[op.Account]; ok && holder != xid {
			return fmt.Sprintf("account %s locked by prepared tx %s", op.Account, p.inDoubt[holder].row.TxID), nil
		}
		if id := p.readHolderLocked(op.Account); id != "" {
			return fmt.Sprintf("account %s locked by read %s", op.Account, id), nil
		}
		sum[op.Account] += op.Delta
	}
	bals, err := p.st.balances(ctx)
	if err != nil {
		return "", err
	}
	for _, a := range sortedKeys(sum) {
		if bals[a]+sum[a] < 0 {
			return fmt.Sprintf("insufficient funds in %s: balance %d, change %d", a, bals[a], sum[a]), nil
		}
	}
	return "", nil
}

// commit applies a prepared tx once. A repeat is a no-op success. A tx
// never prepared here is refused unless the request carries its ops (only
// the one-phase seeded bug sends them); it is then validated and applied
// as a local transaction. A tx aborted here is refused: committing it
// would break atomicity, and only a broken coordinator asks.
func (p *participant) commit(ctx context.Context, xid, txID string, ops []Op) (Ack, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.inDoubt[xid]; d != nil {
		if err := p.st.apply(ctx, d.row); err != nil {
			return Ack{}, http.StatusInternalServerError, err
		}
		p.releaseLocked(xid)
		p.counts[StatePrepared]--
		p.counts[StateCommitted]++
		return Ack{TxID: txID, State: StateCommitted, Changed: true}, 0, nil
	}
	row, found, err := p.st.getTx(ctx, xid)
	if err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	switch {
	case found && row.State == StateCommitted:
		return Ack{TxID: txID, State: StateCommitted}, 0, nil
	case found:
		return Ack{}, http.StatusConflict, fmt.Errorf("tx is %s here; it cannot commit", row.State)
	case len(ops) == 0:
		return Ack{}, http.StatusConflict, errors.New("tx was never prepared here")
	}
	if reason, err := p.validateLocked(ctx, xid, ops); err != nil {
		return Ack{}, http.StatusInternalServerError, err
	} else if reason != "" {
		return Ack{}, http.StatusConflict, errors.New(reason)
	}
	if err := p.st.apply(ctx, txRow{XID: xid, TxID: txID, State: StateCommitted, Ops: ops}); err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	p.counts[StateCommitted]++
	return Ack{TxID: txID, State: StateCommitted, Changed: true}, 0, nil
}

// releaseLocked forgets an in-doubt tx and frees its locks.
func (p *participant) releaseLocked(xid string) {
	for _, op := range p.inDoubt[xid].row.Ops {
		if p.locks[op.Account] == xid {
			delete(p.locks, op.Account)
		}
	}
	delete(p.inDoubt, xid)
}

// abort records xid ABORTED, also when it was never heard of, so that a
// prepare arriving late is refused.
func (p *participant) abort(ctx context.Context, xid, txID string) (Ack, int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.inDoubt[xid]; d != nil {
		row := d.row
		row.State = StateAborted
		if err := p.st.setState(ctx, row); err != nil {
			return Ack{}, http.StatusInternalServerError, err
		}
		p.releaseLocked(xid)
		p.counts[StatePrepared]--
		p.counts[StateAborted]++
		return Ack{TxID: txID, State: StateAborted, Changed: true}, 0, nil
	}
	row, found, err := p.st.getTx(ctx, xid)
	if err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	if found {
		if row.State == StateCommitted {
			return Ack{}, http.StatusConflict, errors.New("tx is committed here; it cannot abort")
		}
		return Ack{TxID: txID, State: row.State}, 0, nil
	}
	if err := p.st.setState(ctx, txRow{XID: xid, TxID: txID, State: StateAborted}); err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	p.counts[StateAborted]++
	return Ack{TxID: txID, State: StateAborted, Changed: true}, 0, nil
}

// inDoubtLocked lists the tx_ids of the in-doubt txs, sorted.
func (p *participant) inDoubtLocked() []string {
	ids := []string{}
	for _, d := range p.inDoubt {
		ids = append(ids, d.row.TxID)
	}
	slices.Sort(ids)
	return ids
}

func (p *participant) handleStatus(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	writeJSON(w, http.StatusOK, ParticipantStatus{
		ID:        p.cfg.ID,
		InDoubt:   p.inDoubtLocked(),
		Prepared:  p.counts[StatePrepared],
		Committed: p.counts[StateCommitted],
		Aborted:   p.counts[StateAborted],
		Bugs:      p.cfg.Bugs.List(),
	})
}

func (p *participant) handleObserve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bals, err := p.st.balances(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "observe: %v", err)
		return
	}
	eff, err := p.st.effects(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "observe: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, Observation{ID: p.cfg.ID, Balances: bals, Effects: eff, InDoubt: p.inDoubtLocked()})
}
