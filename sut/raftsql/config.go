// config.go: a replica's configuration and the loopback addresses it is
// given.

package raftsql

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/internal/loopback"
)

// Config is one replica's configuration; cmd/chaoscheck fills it from
// flags.
type Config struct {
	ID uint64
	// Peers maps every member's id to its raft transport address
	// (host:port), this node's own included: that is where it listens.
	Peers map[uint64]string
	// PeerAPIs maps members' ids to their client API addresses, so a
	// follower can forward /exec and /query to the leader. May be partial
	// or empty; then a follower answers "not leader".
	PeerAPIs map[uint64]string
	// API is the client API's listen address.
	API string
	// DataDir holds raft/ (LogStore) and state.db (StateMachine).
	DataDir string
	// SnapshotEvery is the number of applied entries between snapshots;
	// 0 never snapshots.
	SnapshotEvery uint64
	// SnapshotMargin is how many entries the log keeps behind a snapshot,
	// so a follower only slightly behind catches up from the log.
	SnapshotMargin uint64
	// Tick is raft's logical clock period; ElectionTicks and
	// HeartbeatTicks count in it.
	Tick           time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// RequestTimeout bounds how long /exec waits for its entry to apply
	// and /query for its read index; then the answer is indeterminate.
	RequestTimeout time.Duration
	// Pprof serves net/http/pprof's /debug/pprof/ on the API address, for
	// profiling a replica under load.
	Pprof  bool
	Bugs   Bugs
	Logger *slog.Logger
}

// withDefaults fills the zero fields of c.
func (c Config) withDefaults() Config {
	if c.SnapshotMargin == 0 {
		c.SnapshotMargin = 10
	}
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = 1
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return c
}

func (c Config) validate() error {
	if c.ID == 0 {
		return errors.New("node id must be > 0")
	}
	if _, ok := c.Peers[c.ID]; !ok {
		return fmt.Errorf("peers do not include this node (id %d)", c.ID)
	}
	if c.API == "" {
		return errors.New("no API address")
	}
	if c.DataDir == "" {
		return errors.New("no data dir")
	}
	return nil
}

// ParseAddrs parses "1=127.0.0.1:7101,2=127.0.0.1:7102" into id → address.
// Addresses must be on the loopback interface (loopback.Check): nodes
// never listen beyond it.
func ParseAddrs(s string) (map[uint64]string, error) {
	m := map[uint64]string{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, part := range strings.Split(s, ",") {
		idStr, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT", part)
		}
		id, err := strconv.ParseUint(idStr, 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%q: node id must be a positive integer", part)
		}
		if err := loopback.Check(addr); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		if _, dup := m[id]; dup {
			return nil, fmt.Errorf("node id %d given twice", id)
		}
		m[id] = addr
	}
	return m, nil
}

// FormatAddrs is the inverse of ParseAddrs, in id order.
func FormatAddrs(m map[uint64]string) string {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%d=%s", id, m[id])
	}
	return strings.Join(parts, ",")
}
