package twopc

// The HTTP/JSON messages of the coordinator and participant APIs. Every
// endpoint answers JSON; errors are {"error": "…"} with a 4xx or 5xx status.

// Op is one change to one account on one participant.
type Op struct {
	Account string `json:"account"`
	Delta   int64  `json:"delta"`
}

// Txn is what a client submits to the coordinator (POST /txn): the
// client-chosen tx_id and, per participant name, the ops to apply there.
type Txn struct {
	TxID string          `json:"tx_id"`
	Ops  map[string][]Op `json:"ops"`
}

// Outcomes of a transaction, as the coordinator answers them and as
// GET /decision reports them.
const (
	Committed = "committed"
	Aborted   = "aborted"
	Pending   = "pending" // decision endpoint only: the first attempt is still in flight
)

// Outcome is the coordinator's answer to POST /txn. Duplicate is true when
// the tx_id had been seen before and this is the first attempt's outcome.
type Outcome struct {
	TxID      string `json:"tx_id"`
	Outcome   string `json:"outcome"`
	Reason    string `json:"reason,omitempty"`
	Duplicate bool   `json:"duplicate"`
}

// Held names a transaction that is held at a failpoint right now.
type Held struct {
	TxID      string `json:"tx_id"`
	Failpoint string `json:"failpoint"`
}

// CoordinatorStatus is GET /status on the coordinator.
type CoordinatorStatus struct {
	// PausedTxID is a tx held at coordinatorBeforeCommit: its commit
	// decision is durable and no commit message has gone out yet.
	PausedTxID string `json:"paused_tx_id"`
	Held       []Held `json:"held"`      // every tx held at any coordinator failpoint
	InFlight   int    `json:"in_flight"` // first attempts not yet answered
	// Waiting counts requests for a tx_id whose first attempt is in
	// flight; they will get its outcome.
	Waiting        int      `json:"waiting"`
	PendingCommits int      `json:"pending_commits"` // committed, not acknowledged by every participant
	Decided        int      `json:"decided"`         // decision records, committed or aborted
	Bugs           []string `json:"bugs,omitempty"`
}

// Decision is GET /decision/<tx_id>.
type Decision struct {
	TxID     string `json:"tx_id"`
	Decision string `json:"decision"` // Committed, Aborted or Pending
}

// ReadBalances is the coordinator's POST /read-balances answer: every
// account of every participant, keyed "participant/account".
type ReadBalances struct {
	Balances map[string]int64 `json:"balances"`
}

// PrepareRequest is POST /prepare on a participant.
type PrepareRequest struct {
	TxID string `json:"tx_id"`
	// XID names this attempt; empty means TxID. A correct coordinator runs
	// a tx_id at most once, so it never sets XID; only its seeded dedup bugs
	// name attempts afresh, which lets a retry apply again.
	XID string `json:"xid,omitempty"`
	Ops []Op   `json:"ops"`
}

// Votes.
const (
	VoteYes = "yes"
	VoteNo  = "no"
)

// PrepareResponse is the participant's vote.
type PrepareResponse struct {
	Vote   string `json:"vote"`
	Reason string `json:"reason,omitempty"`
}

// CommitRequest is POST /commit. Ops is empty from a correct coordinator;
// a participant refuses to commit a tx it never prepared unless Ops is
// given (only the one-phase seeded bug sends them).
type CommitRequest struct {
	TxID string `json:"tx_id"`
	XID  string `json:"xid,omitempty"`
	Ops  []Op   `json:"ops,omitempty"`
}

// AbortRequest is POST /abort.
type AbortRequest struct {
	TxID string `json:"tx_id"`
	XID  string `json:"xid,omitempty"`
}

// Local transaction states on a participant.
const (
	StatePrepared  = "prepared"
	StateCommitted = "committed"
	StateAborted   = "aborted"
)

// Ack answers /commit and /abort: the tx's local state afterwards, and
// whether this request changed it (false for a repeat).
type Ack struct {
	TxID    string `json:"tx_id"`
	State   string `json:"state"`
	Changed bool   `json:"changed"`
}

// ParticipantStatus is GET /status on a participant.
type ParticipantStatus struct {
	ID        string   `json:"id"`
	InDoubt   []string `json:"in_doubt"` // prepared, no decision known yet
	Prepared  int      `json:"prepared"`
	Committed int      `json:"committed"`
	Aborted   int      `json:"aborted"`
	Bugs      []string `json:"bugs,omitempty"`
}

// Observation is GET /observe on a participant: the verification view.
// Effects counts effect rows per tx_id, i.e. how many times each tx was
// applied, independently of the participant's own dedup records.
type Observation struct {
	ID       string           `json:"id"`
	Balances map[string]int64 `json:"balances"`
	Effects  map[string]int   `json:"effects"`
	InDoubt  []string         `json:"in_doubt"`
}

// ReadRequest is POST /read on a participant. With a ReadID the
// participant takes a shared lock on the accounts read (all accounts when
// Accounts is empty) until POST /release or until the lease ends.
type ReadRequest struct {
	ReadID   string   `json:"read_id,omitempty"`
	Accounts []string `json:"accounts,omitempty"`
	LeaseMS  int      `json:"lease_ms,omitempty"`
}

// ReadResponse is the participant's answer to POST /read.
type ReadResponse struct {
	Balances map[string]int64 `json:"balances"`
}

// ReleaseRequest is POST /release on a participant.
type ReleaseRequest struct {
	ReadID string `json:"read_id"`
}

// ReleaseResponse says whether the shared lock was still held when it was
// released; false means it was lost (lease over, participant restarted)
// and the read it protected may not be consistent.
type ReleaseResponse struct {
	Held bool `json:"held"`
}

// errorBody is the JSON body of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"` // machine-readable, e.g. tx_id_conflict
}
