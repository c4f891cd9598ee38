// snapshot.go: the state machine's snapshot (a page copy of the database)
// and its restore in place of the live file.

package raftsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Snapshot returns a consistent copy of the whole database file and the
// applied index it reflects. The copy is SQLite's serialization (page for
// page, read in one read transaction), not VACUUM INTO: VACUUM may renumber
// rowids, and a replica restored from such a copy would assign different
// rowids from then on.
func (m *StateMachine) Snapshot() ([]byte, uint64, error) {
	m.writeMu.Lock() // no Apply in between: the copy and the index agree
	defer m.writeMu.Unlock()
	m.poolMu.RLock()
	defer m.poolMu.RUnlock()
	if m.closed {
		return nil, 0, errStateMachineClosed
	}
	// The copy is of committed pages, at the applied index.
	if err := m.commitOpen(context.Background(), m.wc); err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	var data []byte
	err := m.wc.conn.Raw(func(dc any) error {
		s, ok := dc.(interface{ Serialize() ([]byte, error) })
		if !ok {
			return fmt.Errorf("sqlite driver connection %T cannot serialize", dc)
		}
		var err error
		data, err = s.Serialize()
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("snapshot: %w", err)
	}
	return data, m.applied.Load(), nil
}

// Restore replaces the database with a snapshot's data. The data is
// written to a temp file, fsynced and checked (a SQLite database with the
// bookkeeping tables) before it replaces the live file by rename; a crash
// leaves either the old database or the new one.
func (m *StateMachine) Restore(data []byte) error {
	tmp := m.path + ".restore"
	if err := writeSynced(tmp, data); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer removeDBFiles(tmp)
	if err := checkSnapshotDB(tmp); err != nil {
		return fmt.Errorf("restore: snapshot data: %w", err)
	}

	m.writeMu.Lock()
	defer m.writeMu.Unlock()
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if m.closed {
		return errStateMachineClosed
	}
	// The snapshot supersedes whatever the open transaction holds.
	m.rollbackOpen(context.Background(), m.wc)
	if err := m.r.Close(); err != nil {
		return m.broken(fmt.Errorf("restore: close readers: %w", err))
	}
	// A complete checkpoint leaves the WAL empty, so dropping it below loses
	// nothing; a partial one would leave a database file that needs it.
	var busy, logFrames, ckpt int
	if err := m.wc.conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &ckpt); err != nil || busy != 0 {
		return m.broken(fmt.Errorf("restore: checkpoint (busy=%d): %v", busy, err))
	}
	if err := errors.Join(m.wc.close(), m.w.Close()); err != nil {
		return m.broken(fmt.Errorf("restore: close writer: %w", err))
	}
	// A WAL left beside the new file would be replayed into it.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(m.path + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m.broken(fmt.Errorf("restore: %w", err))
		}
	}
	if err := os.Rename(tmp, m.path); err != nil {
		return m.broken(fmt.Errorf("restore: %w", err))
	}
	if err := syncDir(filepath.Dir(m.path)); err != nil {
		return m.broken(fmt.Errorf("restore: %w", err))
	}
	if err := m.open(); err != nil {
		return m.broken(fmt.Errorf("restore: reopen: %w", err))
	}
	return nil
}

// broken marks the state machine unusable after a failure halfway through
// swapping files; the node must restart, which reopens whichever file is in
// place.
func (m *StateMachine) broken(err error) error {
	m.closed = true
	m.wc.close()
	if m.w != nil {
		m.w.Close()
	}
	if m.r != nil {
		m.r.Close()
	}
	return err
}

func writeSynced(path string, data []byte) error {
	removeDBFiles(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	return writeAndClose(f, data)
}

func removeDBFiles(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix)
	}
}

// checkSnapshotDB opens a candidate database and checks that it is intact
// and carries the state machine's bookkeeping.
func checkSnapshotDB(path string) error {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var check string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&check); err != nil {
		return err
	}
	if check != "ok" {
		return fmt.Errorf("quick_check: %s", check)
	}
	var idx int64
	if err := db.QueryRow(`SELECT idx FROM _chaoscheck_applied WHERE id = 1`).Scan(&idx); err != nil {
		return fmt.Errorf("no applied index: %w", err)
	}
	return nil
}
