package twopc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/chaoscheck/chaoscheck/sut/failpoint"
)

// CoordinatorConfig configures the coordinator node.
type CoordinatorConfig struct {
	Addr         string            // API address, 127.0.0.1:port
	DataDir      string            // badger decision log
	Participants map[string]string // participant name → API address
	// PrepareTimeout bounds each prepare; a participant that does not
	// answer in time counts as a no vote (0: 2s).
	PrepareTimeout time.Duration
	// CommitTimeout bounds each commit or abort message before it is left
	// to the background re-drive (0: 2s).
	CommitTimeout time.Duration
	Bugs          Bugs
	Logger        *slog.Logger
}

// coordinator runs transactions over the participants. See doc.go for the
// protocol and its invariants.
type coordinator struct {
	cfg   CoordinatorConfig
	log   *slog.Logger
	dlog  *decisionLog
	hc    *http.Client
	ctx   context.Context // the node's lifetime; background work stops with it
	names []string        // participant names, sorted

	mu sync.Mutex
	// inflight: first attempts by tx_id; a repeat waits for the outcome
	// instead of running the tx again.
	inflight map[string]*attempt
	// live: xids whose attempt is running. A started record whose xid is
	// not live never gets a decision: GET /decision answers aborted.
	live     map[string]bool
	waiting  int
	held     []Held
	pending  map[string]bool // xids with a commit being re-driven
	decided  int
	memDedup map[string]string // seeded bug memory-dedup: tx_id → xid, never on disk
}

// attempt is the first attempt of a tx_id; res is set before done closes.
type attempt struct {
	hash string
	done chan struct{}
	res  result
}

// result is the answer to POST /txn: an outcome, or an HTTP error.
type result struct {
	out    Outcome
	status int // 0: 200 with out
	code   string
	msg    string
}

func errResult(status int, code, format string, args ...any) result {
	return result{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// RunCoordinator runs the coordinator until ctx ends.
func RunCoordinator(ctx context.Context, cfg CoordinatorConfig) error {
	if cfg.Addr == "" || cfg.DataDir == "" || len(cfg.Participants) == 0 {
		return errors.New("coordinator: api address, data dir and participants are required")
	}
	if cfg.PrepareTimeout <= 0 {
		cfg.PrepareTimeout = 2 * time.Second
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", "coordinator")
	dlog, err := openDecisionLog(cfg.DataDir, log)
	if err != nil {
		return err
	}
	defer dlog.close()
	c := &coordinator{
		cfg: cfg, log: log, dlog: dlog, ctx: ctx,
		hc:       &http.Client{Transport: newTransport()},
		names:    sortedKeys(cfg.Participants),
		inflight: map[string]*attempt{}, live: map[string]bool{},
		pending: map[string]bool{}, memDedup: map[string]string{},
	}
	aborts, redrives, err := c.recoverLog()
	if err != nil {
		return err
	}
	ln, err := listenLoopback(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("coordinator: %w", err)
	}
	log.Info("coordinator up", "api", cfg.Addr, "data", cfg.DataDir, "participants", cfg.Participants,
		"decided", c.decided, "aborted_at_recovery", len(aborts), "commits_to_redrive", len(redrives), "bugs", cfg.Bugs.List())
	for _, rec := range aborts {
		go c.sendAborts(ctx, rec)
	}
	for _, rec := range redrives {
		c.startRedrive(rec, c.participantsOf(rec))
	}
	return serve(ctx, ln, c.routes(), log)
}

func (c *coordinator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /txn", c.handleTxn)
	mux.HandleFunc("POST /read-balances", c.handleReadBalances)
	mux.HandleFunc("GET /decision/{id...}", c.handleDecision)
	mux.HandleFunc("GET /status", c.handleStatus)
	mux.Handle(failpoint.Prefix, failpoint.Handler())
	return mux
}

// recoverLog runs before the API is served. Presumed abort: a tx started but
// not decided before the crash is aborted now, durably, so no later
// question or retry can commit it. Committed txs not acknowledged by every
// participant are returned for re-drive.
func (c *coordinator) recoverLog() (aborts, redrives []record, err error) {
	var cut []record
	err = c.dlog.each(func(rec record) error {
		switch rec.State {
		case stateStarted:
			cut = append(cut, rec)
		case Committed:
			c.decided++
			if !rec.Done {
				redrives = append(redrives, rec)
			}
		case Aborted:
			c.decided++
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, rec := range cut {
		rec.State, rec.Reason = Aborted, "coordinator restarted before a decision (presumed abort)"
		if err := c.dlog.put(rec); err != nil {
			return nil, nil, err
		}
		c.decided++
		aborts = append(aborts, rec)
	}
	return aborts, redrives, nil
}

// handleDecision answers an in-doubt participant. Presumed abort: no
// record, or a started record whose attempt is no longer live, means
// aborted. The check of live and the read happen under mu, and an attempt
// leaves live only after its decision is written, so "not live and still
// started" is final.
func (c *coordinator) handleDecision(w http.ResponseWriter, r *http.Request) {
	xid := r.PathValue("id")
	c.mu.Lock()
	live := c.live[xid]
	rec, found, err := c.dlog.get(xid)
	c.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	d := Decision{TxID: xid, Decision: Aborted}
	switch {
	case found && rec.State == stateStarted && live:
		d.Decision = Pending
	case found && rec.State != stateStarted:
		d.Decision = rec.State
	}
	writeJSON(w, http.StatusOK, d)
}

func (c *coordinator) handleStatus(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := CoordinatorStatus{
		Held:           append([]Held{}, c.held...),
		InFlight:       len(c.live),
		Waiting:        c.waiting,
		PendingCommits: len(c.pending),
		Decided:        c.decided,
		Bugs:           c.cfg.Bugs.List(),
	}
	for _, h := range c.held {
		if h.Failpoint == FPCoordinatorBeforeCommit {
			st.PausedTxID = h.TxID
			break
		}
	}
	writeJSON(w, http.StatusOK, st)
}
