package twopc

import (
	"context"
	"fmt"
	"os"
	"time"

	gofail "go.etcd.io/gofail/runtime"
)

// Failpoint names, switched at run time with PUT /failpoints/<name> on the
// node's API or GOFAIL_FAILPOINTS at start.
const (
	FPCoordinatorBeforeDecision = "coordinatorBeforeDecision"
	FPCoordinatorAfterDecision  = "coordinatorAfterDecision"
	FPCoordinatorBeforeCommit   = "coordinatorBeforeCommit"
	FPParticipantAfterPrepare   = "participantAfterPrepare"
)

// The gofail runtime panics on a duplicate name, so each is declared once,
// here.
var (
	// Every vote is in, nothing is decided: a coordinator crash here must
	// end in abort everywhere (presumed abort).
	fpCoordinatorBeforeDecision = gofail.NewFailpoint(FPCoordinatorBeforeDecision)
	// A decision (commit or abort) is durable; no commit or abort message
	// has gone out.
	fpCoordinatorAfterDecision = gofail.NewFailpoint(FPCoordinatorAfterDecision)
	// The commit window: the commit decision is durable and no commit
	// message has gone out. The coordinator logs "paused before commit"
	// and /status shows paused_tx_id while it is held here.
	fpCoordinatorBeforeCommit = gofail.NewFailpoint(FPCoordinatorBeforeCommit)
	// The participant has durably recorded PREPARED and not yet voted.
	fpParticipantAfterPrepare = gofail.NewFailpoint(FPParticipantAfterPrepare)
)

// hold evaluates fp. It returns at once when fp is off. Terms act as gofail
// defines them: sleep(ms) holds for that long (gofail runs one evaluation
// of a failpoint at a time, so concurrent txs queue behind it), panic
// crashes the node. A return(…) term holds until the failpoint is switched
// off (DELETE /failpoints/<name>, "release") or ctx ends, so a test or
// nemesis can keep a tx in a window for exactly as long as it needs.
// onHold, when not nil, runs before the hold starts and its result after
// it ends.
func hold(ctx context.Context, fp *gofail.Failpoint, onHold func() (done func())) {
	if _, _, err := fp.Status(); err != nil {
		return // off: the fast path, no bookkeeping
	}
	if onHold != nil {
		done := onHold()
		defer done()
	}
	defer func() {
		// net/http recovers a panicking handler and serves on; a panic term
		// means crash, so exit at once, skipping every deferred close.
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "%v: exiting\n", r)
			os.Exit(2)
		}
	}()
	if _, err := fp.Acquire(); err != nil {
		return // sleep finished, or the term did not fire
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if _, _, err := fp.Status(); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
