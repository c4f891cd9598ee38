package twopc

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// resolveLoop resolves in-doubt prepared transactions from the
// coordinator's durable decision: those prepared before the server's last
// start (it was killed with them prepared) at once, the others after
// ResolveAfter; the coordinator's re-driven commits usually come first.
// Presumed abort makes the answer safe: committed only from a durable
// commit record, aborted when there is none.
func (p *PGParticipant) resolveLoop(ctx context.Context) {
	if p.hc == nil {
		return
	}
	retryWithBackoff(ctx, func(ctx context.Context) error {
		err := p.resolveDue(ctx)
		if err != nil {
			p.log.Debug("resolving in-doubt txs", "err", err)
		}
		return err
	})
}

func (p *PGParticipant) resolveDue(ctx context.Context) error {
	if err := p.forgetPrepared(ctx); err != nil {
		return err
	}
	rows, _ := p.pool.Query(ctx, `SELECT gid FROM pg_prepared_xacts
		WHERE database = current_database()
		  AND (prepared < pg_postmaster_start_time() OR prepared < now() - make_interval(secs => $1))`,
		p.cfg.ResolveAfter.Seconds())
	due, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, xid := range due {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		dec, err := p.hc.Decision(cctx, xid)
		cancel()
		if err != nil {
			return err
		}
		var ack Ack
		switch dec {
		case Committed:
			ack, _, err = p.commit(ctx, xid, txIDOfXID(xid), nil)
		case Aborted:
			ack, _, err = p.abort(ctx, xid, txIDOfXID(xid))
		default:
			continue
		}
		if err != nil {
			p.log.Error("resolving in-doubt tx", "tx_id", txIDOfXID(xid), "decision", dec, "err", err)
			continue
		}
		if ack.Changed {
			p.log.Info("resolved in-doubt tx from coordinator decision", "tx_id", txIDOfXID(xid), "decision", dec)
		}
	}
	return nil
}

// forgetPrepared is the seeded bug forget-prepared: every transaction
// prepared before the server's last start is rolled back without asking
// the coordinator. It runs before each commit and resolution, so the
// restarted participant has forgotten before it serves the coordinator,
// as the SQLite participant's bug does at start.
func (p *PGParticipant) forgetPrepared(ctx context.Context) error {
	if !p.cfg.ForgetPrepared {
		return nil
	}
	rows, _ := p.pool.Query(ctx, `SELECT gid FROM pg_prepared_xacts
		WHERE database = current_database() AND prepared < pg_postmaster_start_time()`)
	gids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, xid := range gids {
		p.log.Warn("seeded bug forget-prepared: rolling back a transaction prepared before the restart", "tx_id", txIDOfXID(xid))
		if _, err := p.pool.Exec(ctx, "ROLLBACK PREPARED "+gidLiteral(xid)); err != nil && pgCode(err) != sqlUndefinedObject {
			return err
		}
	}
	return nil
}
