package twopc

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// stateStarted marks a record written when a tx starts, before any
// prepare goes out. A started record without a decision after a restart is
// a tx cut off before its decision: presumed abort.
const stateStarted = "started"

// record is the coordinator's durable record of one transaction attempt,
// keyed by xid (= tx_id unless a seeded dedup bug named the attempt
// afresh). It is both the dedup entry (tx_id and a hash of its ops) and
// the decision log entry.
type record struct {
	TxID   string          `json:"tx_id"`
	XID    string          `json:"xid"`
	Hash   string          `json:"hash"`
	Ops    map[string][]Op `json:"ops"`
	State  string          `json:"state"` // started, committed or aborted
	Reason string          `json:"reason,omitempty"`
	// Done: every participant acknowledged the commit; nothing is left to
	// re-drive.
	Done bool `json:"done,omitempty"`
}

// decisionLog is the coordinator's badger database. Every write is synced
// (SyncWrites): a put that returned nil survives kill -9.
type decisionLog struct {
	db *badger.DB
}

func openDecisionLog(dir string, log *slog.Logger) (*decisionLog, error) {
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(8 << 20).
		WithValueLogFileSize(16 << 20).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithNumCompactors(2).
		WithDetectConflicts(false) // one writer per key: the in-flight map
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open decision log %s: %w", dir, err)
	}
	return &decisionLog{db: db}, nil
}

func (l *decisionLog) close() error { return l.db.Close() }

func recordKey(xid string) []byte { return []byte("tx/" + xid) }

// get returns the record of xid; found is false when there is none.
func (l *decisionLog) get(xid string) (rec record, found bool, err error) {
	err = l.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(xid))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, fmt.Errorf("decision log: get %s: %w", xid, err)
	}
	return rec, true, nil
}

// put writes rec durably.
func (l *decisionLog) put(rec record) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := l.db.Update(func(txn *badger.Txn) error { return txn.Set(recordKey(rec.XID), v) }); err != nil {
		return fmt.Errorf("decision log: put %s %s: %w", rec.XID, rec.State, err)
	}
	return nil
}

// each calls fn for every record.
func (l *decisionLog) each(fn func(record) error) error {
	return l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("tx/"), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var rec record
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("decision log: %s: %w", it.Item().Key(), err)
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// hashOps fingerprints a tx's ops for dedup: the same tx_id with other ops
// is a different request, refused. encoding/json sorts map keys, so equal
// ops hash equal.
func hashOps(ops map[string][]Op) string {
	b, _ := json.Marshal(ops)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// badgerLogger sends badger's own logging to slog, warnings and up only.
type badgerLogger struct{ log *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.log.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.log.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Infof(string, ...any)  {}
func (b badgerLogger) Debugf(string, ...any) {}
