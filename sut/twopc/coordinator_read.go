package twopc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// handleReadBalances is a read-only 2PC: a shared lock and a read on every
// participant, then release everywhere. Its isolation is that of strict
// two-phase locking: a prepared tx keeps the read out and a held read
// keeps prepares out, and every lock is held until all reads are done, so
// the balances are a serializable snapshot; in particular a transfer is
// seen on both sides or on neither. A refused read is retried a few times
// and then answered 409 read_locked. If a participant lost the lock
// before the release (restart, lease over) the read is retried too.
func (c *coordinator) handleReadBalances(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	backoff := 5 * time.Millisecond
	var lastErr error
	for try := 0; try < 6; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				writeError(w, http.StatusServiceUnavailable, "read-balances: %v", ctx.Err())
				return
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		bals, err := c.readOnce(ctx)
		if err == nil {
			writeJSON(w, http.StatusOK, ReadBalances{Balances: bals})
			return
		}
		if !errors.Is(err, ErrReadLocked) {
			writeError(w, http.StatusServiceUnavailable, "read-balances: %v", err)
			return
		}
		lastErr = err
	}
	writeCodedError(w, http.StatusConflict, codeReadLocked, fmt.Sprintf("read-balances: %v", lastErr))
}

// readOnce is one attempt of the read-only 2PC.
func (c *coordinator) readOnce(ctx context.Context) (map[string]int64, error) {
	b := make([]byte, 8)
	rand.Read(b)
	readID := "r-" + hex.EncodeToString(b)
	resps := make([]ReadResponse, len(c.names))
	errs := make([]error, len(c.names))
	var wg sync.WaitGroup
	for i, name := range c.names {
		wg.Go(func() {
			req := ReadRequest{ReadID: readID, LeaseMS: int(DefaultReadLease / time.Millisecond)}
			errs[i] = c.post(ctx, name, "/read", c.cfg.PrepareTimeout, req, &resps[i])
		})
	}
	wg.Wait()
	// Release everywhere, also where the read failed: a read that timed out
	// may still have taken its lock.
	held := make([]bool, len(c.names))
	rctx := context.WithoutCancel(ctx)
	for i, name := range c.names {
		wg.Go(func() {
			var rr ReleaseResponse
			if err := c.post(rctx, name, "/release", c.cfg.CommitTimeout, ReleaseRequest{ReadID: readID}, &rr); err == nil {
				held[i] = rr.Held
			}
		})
	}
	wg.Wait()
	out := map[string]int64{}
	for i, name := range c.names {
		if err := errs[i]; err != nil {
			if errors.Is(err, ErrReadLocked) {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return nil, fmt.Errorf("read at %s: %w", name, err)
		}
		if !held[i] {
			return nil, fmt.Errorf("%s lost the read lock before the release: %w", name, ErrReadLocked)
		}
		for a, v := range resps[i].Balances {
			out[name+"/"+a] = v
		}
	}
	return out, nil
}
