package twopc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/chaoscheck/chaoscheck/internal/loopback"
)

// A PostgreSQL participant speaks the participant API (protocol.go) to the
// unchanged coordinator and keeps everything in a PostgreSQL database:
// the accounts, the effect rows, and the prepared transactions themselves,
// as PostgreSQL's own PREPARE TRANSACTION '<xid>' / COMMIT PREPARED /
// ROLLBACK PREPARED. It holds no state of its own, so it runs inside the
// runner and outlives the server it fronts: a kill of the participant is
// a kill of its PostgreSQL server, whose prepared transactions survive
// crash recovery with their row locks (pg_prepared_xacts).
//
// How each invariant of doc.go is kept here:
//   - Yes only when durable: the vote is given after PREPARE TRANSACTION
//     returned, which PostgreSQL answers once the prepared state is
//     flushed (fsync on).
//   - Applied exactly when committed, once: the balance updates and one
//     effect row carrying the tx_id are made inside the prepared
//     transaction; COMMIT PREPARED makes them visible together, and a
//     repeated commit finds no prepared xid and the effect row: a no-op.
//   - No-wait locking: prepare takes the accounts' rows FOR UPDATE NOWAIT
//     and a locked row is a no vote, never a wait, so no deadlock spans
//     participants. Reads take them FOR SHARE NOWAIT and hold them, in an
//     open transaction, until /release or the lease ends: the strict 2PL
//     read-balances of coordinator_read.go.
//   - In doubt survives restarts and is resolved: pg_prepared_xacts holds
//     what was prepared; a prepared xid older than the server's last start,
//     or than ResolveAfter, is resolved by asking the coordinator for its
//     decision (GET /decision), as the SQLite participant does.
//   - Abort of an xid never prepared here is remembered (cc_aborted), so a
//     prepare arriving late votes no.
//
// Tables (in the participant's database): cc_accounts(name, balance),
// cc_effects(tx_id, xid), one row per application of a tx, and
// cc_aborted(xid).

// PGParticipantConfig configures a participant backed by PostgreSQL.
type PGParticipantConfig struct {
	ID   string // e.g. "p1"
	Addr string // API address, 127.0.0.1:port
	DSN  string // the participant's database
	// Accounts are created with these balances when the database has no
	// accounts yet.
	Accounts map[string]int64
	// Coordinator is the coordinator's API address, asked for the decision
	// on in-doubt txs.
	Coordinator string
	// ResolveAfter: how long a tx prepared while the server was up stays
	// in doubt before the participant asks the coordinator (0: 2s).
	ResolveAfter time.Duration
	// NoPrepare is the seeded bug no-prepare: prepare commits the tx
	// locally at once and votes yes, so the participants commit one by one
	// with no PREPARE and an abort can no longer undo them.
	NoPrepare bool
	// ForgetPrepared is the seeded bug forget-prepared: transactions found
	// prepared after the server restarted are rolled back without asking
	// the coordinator, although this participant voted yes on them.
	ForgetPrepared bool
	Logger         *slog.Logger
}

// PGParticipant is a running PostgreSQL participant.
type PGParticipant struct {
	cfg  PGParticipantConfig
	log  *slog.Logger
	pool *pgxpool.Pool
	hc   *Client // the coordinator's client, for decisions
	srv  *http.Server

	mu    sync.Mutex
	reads map[string]*pgRead // shared locks of read-only txs, by read_id

	cancel context.CancelFunc
	done   chan struct{}
}

// pgRead is a read's open transaction holding FOR SHARE locks.
type pgRead struct {
	conn  *pgxpool.Conn
	timer *time.Timer // ends the lease
}

// StartPGParticipant creates the tables (and accounts, on an empty
// database) and serves the participant API on cfg.Addr until Close.
func StartPGParticipant(ctx context.Context, cfg PGParticipantConfig) (*PGParticipant, error) {
	if cfg.ID == "" || cfg.Addr == "" || cfg.DSN == "" {
		return nil, errors.New("pg participant: id, api address and dsn are required")
	}
	if cfg.ResolveAfter <= 0 {
		cfg.ResolveAfter = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("node", cfg.ID)
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("pg participant %s: %w", cfg.ID, err)
	}
	pc.MaxConns = 64
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("pg participant %s: %w", cfg.ID, err)
	}
	p := &PGParticipant{cfg: cfg, log: log, pool: pool, reads: map[string]*pgRead{}, done: make(chan struct{})}
	if err := p.createTables(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg participant %s: %w", cfg.ID, err)
	}
	if err := loopback.Check(cfg.Addr); err != nil {
		pool.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pg participant %s: %w", cfg.ID, err)
	}
	if cfg.Coordinator != "" {
		p.hc = NewClient(cfg.Coordinator, 2*time.Second)
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.srv = &http.Server{Handler: p.routes(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go p.srv.Serve(ln)
	go func() {
		defer close(p.done)
		p.resolveLoop(rctx)
	}()
	log.Info("pg participant up", "api", cfg.Addr, "accounts", len(cfg.Accounts), "no_prepare_bug", cfg.NoPrepare, "forget_prepared_bug", cfg.ForgetPrepared)
	return p, nil
}

// Close stops serving, rolls back held reads and closes the pool.
func (p *PGParticipant) Close() error {
	p.cancel()
	<-p.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	if err != nil {
		p.srv.Close()
	}
	p.mu.Lock()
	for id, r := range p.reads {
		r.timer.Stop()
		r.conn.Release()
		delete(p.reads, id)
	}
	p.mu.Unlock()
	p.pool.Close()
	return nil
}

func (p *PGParticipant) createTables(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			"CREATE TABLE IF NOT EXISTS cc_accounts (name text PRIMARY KEY, balance bigint NOT NULL)",
			"CREATE TABLE IF NOT EXISTS cc_effects (tx_id text NOT NULL, xid text NOT NULL)",
			"CREATE INDEX IF NOT EXISTS cc_effects_xid ON cc_effects (xid)",
			"CREATE TABLE IF NOT EXISTS cc_aborted (xid text PRIMARY KEY)",
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM cc_accounts").Scan(&n); err != nil || n > 0 {
			return err
		}
		for _, a := range sortedKeys(p.cfg.Accounts) {
			if _, err := tx.Exec(ctx, "INSERT INTO cc_accounts (name, balance) VALUES ($1, $2)", a, p.cfg.Accounts[a]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (p *PGParticipant) routes() http.Handler { return participantRoutes(p) }

// gidLiteral quotes an xid as the string literal PREPARE TRANSACTION and
// COMMIT PREPARED take (they accept no parameters).
func gidLiteral(xid string) string { return "'" + strings.ReplaceAll(xid, "'", "''") + "'" }

// txIDOfXID is the tx_id an xid stands for: the xid itself, or the part
// before "~" of a fresh attempt name (coordinator_txn.go freshXID).
func txIDOfXID(xid string) string {
	id, _, _ := strings.Cut(xid, "~")
	return id
}

// pgCode is err's SQLSTATE, "" when it is not a server error.
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// SQLSTATEs the participant acts on.
const (
	sqlUndefinedObject  = "42704" // COMMIT/ROLLBACK PREPARED: no such prepared xid
	sqlLockNotAvailable = "55P03" // NOWAIT found the row locked
	sqlDuplicateObject  = "42710" // PREPARE TRANSACTION: xid in use
)

func (p *PGParticipant) handlePrepare(w http.ResponseWriter, r *http.Request) {
	req, ok := readPrepare(w, r)
	if !ok {
		return
	}
	resp, err := p.prepare(r.Context(), xidOf(req.TxID, req.XID), req.TxID, req.Ops)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "prepare %s: %v", req.TxID, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// prepare votes on ops. Yes only once PREPARE TRANSACTION has returned.
func (p *PGParticipant) prepare(ctx context.Context, xid, txID string, ops []Op) (PrepareResponse, error) {
	switch st, err := p.state(ctx, xid); {
	case err != nil:
		return PrepareResponse{}, err
	case st == StatePrepared:
		return PrepareResponse{Vote: VoteYes, Reason: "already prepared"}, nil
	case st == StateCommitted:
		// Only a coordinator that lost its records asks again; yes keeps
		// its answer consistent with the effect already applied here.
		return PrepareResponse{Vote: VoteYes, Reason: "already committed"}, nil
	case st == StateAborted:
		return PrepareResponse{Vote: VoteNo, Reason: "tx aborted here"}, nil
	}
	end := "PREPARE TRANSACTION " + gidLiteral(xid)
	if p.cfg.NoPrepare {
		// Seeded bug no-prepare: commit now, vote yes.
		end = "COMMIT"
	}
	reason, err := p.apply(ctx, xid, txID, ops, end)
	if err != nil || reason != "" {
		return PrepareResponse{Vote: VoteNo, Reason: reason}, err
	}
	return PrepareResponse{Vote: VoteYes}, nil
}

// apply runs ops in one transaction that ends with end (PREPARE
// TRANSACTION, or COMMIT for a local commit). It returns why the ops
// cannot be applied, or an error when the server did not answer.
func (p *PGParticipant) apply(ctx context.Context, xid, txID string, ops []Op, end string) (reason string, err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	// A connection left inside a transaction is destroyed by the pool on
	// release, which rolls the transaction back.
	defer conn.Release()
	if _, err := conn.Exec(ctx, "BEGIN ISOLATION LEVEL READ COMMITTED"); err != nil {
		return "", err
	}
	rollback := func() { conn.Exec(context.WithoutCancel(ctx), "ROLLBACK") }
	sum := map[string]int64{}
	for _, op := range ops {
		sum[op.Account] += op.Delta
	}
	names := sortedKeys(sum)
	rows, _ := conn.Query(ctx, "SELECT name, balance FROM cc_accounts WHERE name = ANY($1) ORDER BY name FOR UPDATE NOWAIT", names)
	bal := map[string]int64{}
	var name string
	var b int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &b}, func() error { bal[name] = b; return nil }); err != nil {
		rollback()
		if pgCode(err) == sqlLockNotAvailable {
			return "account locked by another transaction or read", nil
		}
		return "", err
	}
	for _, a := range names {
		cur, ok := bal[a]
		switch {
		case !ok:
			rollback()
			return fmt.Sprintf("no account %q", a), nil
		case cur+sum[a] < 0:
			rollback()
			return fmt.Sprintf("insufficient funds in %s: balance %d, change %d", a, cur, sum[a]), nil
		}
	}
	for _, a := range names {
		if _, err := conn.Exec(ctx, "UPDATE cc_accounts SET balance = balance + $2 WHERE name = $1", a, sum[a]); err != nil {
			rollback()
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO cc_effects (tx_id, xid) VALUES ($1, $2)", txID, xid); err != nil {
		rollback()
		return "", err
	}
	if _, err := conn.Exec(ctx, end); err != nil {
		if pgCode(err) == sqlDuplicateObject {
			return "xid already prepared by a concurrent request", nil
		}
		return "", err
	}
	return "", nil
}

// state is xid's state here: prepared (in pg_prepared_xacts), committed
// (its effect row exists), aborted (cc_aborted), or "" when never seen.
func (p *PGParticipant) state(ctx context.Context, xid string) (string, error) {
	var st string
	err := p.pool.QueryRow(ctx, `SELECT CASE
		WHEN EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1) THEN 'prepared'
		WHEN EXISTS (SELECT 1 FROM cc_effects WHERE xid = $1) THEN 'committed'
		WHEN EXISTS (SELECT 1 FROM cc_aborted WHERE xid = $1) THEN 'aborted'
		ELSE '' END`, xid).Scan(&st)
	return st, err
}

// commit is COMMIT PREPARED. A repeat finds no prepared xid and the
// effect row: a no-op success. A tx never prepared here is refused unless
// the request carries its ops (the coordinator's one-phase seeded bug),
// which are then applied as a local transaction.
func (p *PGParticipant) commit(ctx context.Context, xid, txID string, ops []Op) (Ack, int, error) {
	if err := p.forgetPrepared(ctx); err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	_, err := p.pool.Exec(ctx, "COMMIT PREPARED "+gidLiteral(xid))
	if err == nil {
		return Ack{TxID: txID, State: StateCommitted, Changed: true}, 0, nil
	}
	if pgCode(err) != sqlUndefinedObject {
		return Ack{}, http.StatusInternalServerError, err
	}
	switch st, err := p.state(ctx, xid); {
	case err != nil:
		return Ack{}, http.StatusInternalServerError, err
	case st == StateCommitted:
		return Ack{TxID: txID, State: StateCommitted}, 0, nil
	case st == StateAborted:
		return Ack{}, http.StatusConflict, errors.New("tx is aborted here; it cannot commit")
	case len(ops) == 0:
		return Ack{}, http.StatusConflict, errors.New("tx was never prepared here")
	}
	reason, err := p.apply(ctx, xid, txID, ops, "COMMIT")
	if err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	if reason != "" {
		return Ack{}, http.StatusConflict, errors.New(reason)
	}
	return Ack{TxID: txID, State: StateCommitted, Changed: true}, 0, nil
}

// abort is ROLLBACK PREPARED; an xid not prepared here is recorded
// aborted, so that a late prepare is refused.
func (p *PGParticipant) abort(ctx context.Context, xid, txID string) (Ack, int, error) {
	_, err := p.pool.Exec(ctx, "ROLLBACK PREPARED "+gidLiteral(xid))
	if err == nil {
		return Ack{TxID: txID, State: StateAborted, Changed: true}, 0, nil
	}
	if pgCode(err) != sqlUndefinedObject {
		return Ack{}, http.StatusInternalServerError, err
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO cc_aborted (xid)
		SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM cc_effects WHERE xid = $1)
		ON CONFLICT DO NOTHING`, xid)
	if err != nil {
		return Ack{}, http.StatusInternalServerError, err
	}
	if tag.RowsAffected() == 1 {
		return Ack{TxID: txID, State: StateAborted, Changed: true}, 0, nil
	}
	switch st, err := p.state(ctx, xid); {
	case err != nil:
		return Ack{}, http.StatusInternalServerError, err
	case st == StateCommitted:
		return Ack{}, http.StatusConflict, errors.New("tx is committed here; it cannot abort")
	default:
		return Ack{TxID: txID, State: StateAborted}, 0, nil
	}
}

// inDoubt lists the tx_ids prepared here, sorted.
func (p *PGParticipant) inDoubt(ctx context.Context) ([]string, error) {
	rows, _ := p.pool.Query(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY gid")
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(gids))
	for i, g := range gids {
		ids[i] = txIDOfXID(g)
	}
	return ids, nil
}

func (p *PGParticipant) handleStatus(w http.ResponseWriter, r *http.Request) {
	ids, err := p.inDoubt(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "status: %v", err)
		return
	}
	st := ParticipantStatus{ID: p.cfg.ID, InDoubt: ids, Prepared: len(ids)}
	if err := p.pool.QueryRow(r.Context(), "SELECT (SELECT count(DISTINCT xid) FROM cc_effects), (SELECT count(*) FROM cc_aborted)").
		Scan(&st.Committed, &st.Aborted); err != nil {
		writeError(w, http.StatusServiceUnavailable, "status: %v", err)
		return
	}
	if p.cfg.NoPrepare {
		st.Bugs = append(st.Bugs, "no-prepare")
	}
	if p.cfg.ForgetPrepared {
		st.Bugs = append(st.Bugs, "forget-prepared")
	}
	writeJSON(w, http.StatusOK, st)
}

func (p *PGParticipant) handleObserve(w http.ResponseWriter, r *http.Request) {
	o, err := p.Observe(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "observe: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// Observe is the verification view: balances, effect rows per tx_id, and
// the txs prepared and not resolved.
func (p *PGParticipant) Observe(ctx context.Context) (Observation, error) {
	o := Observation{ID: p.cfg.ID, Balances: map[string]int64{}, Effects: map[string]int{}}
	var err error
	if o.InDoubt, err = p.inDoubt(ctx); err != nil {
		return o, err
	}
	var name string
	var n int64
	rows, _ := p.pool.Query(ctx, "SELECT name, balance FROM cc_accounts")
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { o.Balances[name] = n; return nil }); err != nil {
		return o, err
	}
	rows, _ = p.pool.Query(ctx, "SELECT tx_id, count(*) FROM cc_effects GROUP BY tx_id")
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { o.Effects[name] = int(n); return nil }); err != nil {
		return o, err
	}
	return o, nil
}
