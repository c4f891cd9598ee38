package twopc

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// resolveLoop asks the coordinator for the decision on in-doubt txs: at
// once for those found prepared at start, after ResolveAfter for the
// others, with backoff while the coordinator cannot be reached. Presumed
// abort makes the answer safe to act on: the coordinator answers committed
// only from a durable commit record, and aborted for a tx it has no record
// of.
func (p *participant) resolveLoop(ctx context.Context) {
	if p.cfg.Coordinator == "" {
		return
	}
	retryWithBackoff(ctx, func(ctx context.Context) error {
		err := p.resolveDue(ctx)
		if err != nil {
			p.log.Debug("asking coordinator for decisions", "err", err)
		}
		return err
	})
}

// retryWithBackoff calls step every 100ms while it succeeds, backing off
// to every 2s while it fails (the coordinator or the database cannot be
// reached), until ctx ends.
func retryWithBackoff(ctx context.Context, step func(context.Context) error) {
	const base, max = 100 * time.Millisecond, 2 * time.Second
	interval := base
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		if err := step(ctx); err != nil {
			interval = min(interval*2, max)
			continue
		}
		interval = base
	}
}

func (p *participant) resolveDue(ctx context.Context) error {
	now := time.Now()
	var due []txRow
	p.mu.Lock()
	for _, d := range p.inDoubt {
		if d.since.IsZero() || now.Sub(d.since) >= p.cfg.ResolveAfter {
			due = append(due, d.row)
		}
	}
	p.mu.Unlock()
	for _, row := range due {
		var dec Decision
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := callJSON(cctx, p.hc, http.MethodGet, baseURL(p.cfg.Coordinator)+"/decision/"+url.PathEscape(row.XID), nil, &dec)
		cancel()
		if err != nil && p.cfg.Bugs.Has(BugUnilateralAbort) {
			// Seeded bug unilateral-abort: this node voted yes, waited
			// ResolveAfter and cannot reach the coordinator, so it gives
			// up and aborts, though the decision may be commit.
			p.log.Warn("seeded bug unilateral-abort: coordinator unreachable, aborting in-doubt tx", "tx_id", row.TxID, "err", err)
			dec.Decision = Aborted
		} else if err != nil {
			return err
		}
		var ack Ack
		switch dec.Decision {
		case Committed:
			ack, _, err = p.commit(ctx, row.XID, row.TxID, nil)
		case Aborted:
			ack, _, err = p.abort(ctx, row.XID, row.TxID)
		default:
			continue
		}
		if err != nil {
			p.log.Error("resolving in-doubt tx", "tx_id", row.TxID, "decision", dec.Decision, "err", err)
			continue
		}
		if ack.Changed {
			p.log.Info("resolved in-doubt tx from coordinator decision", "tx_id", row.TxID, "decision", dec.Decision)
		}
	}
	return nil
}
