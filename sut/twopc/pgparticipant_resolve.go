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
	const base, max = 100 * time.Millisecond, 2 * time.Second
	interval := base
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		if err := p.resolveDue(ctx); err != nil {
			p.log.Debug("resolving in-doubt txs", "err", err)
			interval = min(interval*2, max)
			continue
		}
		interval = base
	}
}

func (p *PGParticipant) resolveDue(ctx context.Context) error {
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
