// logstore_generation.go: WAL generations: writing the whole state to a
// new file that replaces the old one, and finding the newest at open.

package raftsql

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

const (
	walSuffix  = ".wal"
	walTempExt = ".tmp"
)

// walName is generation gen's file name in the store's directory.
func walName(gen uint64) string { return fmt.Sprintf("%016x%s", gen, walSuffix) }

// generations lists the WAL generations in dir, oldest first, and removes
// temp files (a rewrite a crash cut short before its rename).
func (s *LogStore) generations() ([]uint64, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, de := range des {
		name := de.Name()
		if strings.HasSuffix(name, walSuffix+walTempExt) {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			continue
		}
		hex, ok := strings.CutSuffix(name, walSuffix)
		if !ok {
			continue
		}
		g, err := strconv.ParseUint(hex, 16, 64)
		if err != nil || len(hex) != 16 || g == 0 {
			return nil, fmt.Errorf("%s is not a WAL generation's name (16 hex digits, not 0, then %s)", name, walSuffix)
		}
		gens = append(gens, g)
	}
	slices.Sort(gens)
	return gens, nil
}

// The steps of a rewrite, in order; afterStep is called after each.
const (
	stepTempSynced = "temp-synced" // the new generation is complete under its temp name
	stepRenamed    = "renamed"     // … and under its own name (the rename maybe not yet durable)
	stepDirSynced  = "dir-synced"  // … durably; the old generation is still there
	stepOldRemoved = "old-removed" // the old generation is gone
)

func (s *LogStore) step(name string) {
	if s.afterStep != nil {
		s.afterStep(name)
	}
}

// writeGeneration writes the whole state (snapshot record, the dummy
// entry as "snapshot installed", conf state, hard state, the retained
// entries) as generation gen in one batch, and makes it the file writes go
// to. Crash safety: the new file is complete and fsynced under a temp name
// before it is renamed to its own name, and the directory is fsynced
// before anything is appended to it or the old generation is removed; open
// takes the newest generation that has its own name, so every crash point
// leaves one complete generation for it. A failure before the rename
// leaves the old generation in use; after it, the store refuses further
// writes (the old file is no longer the one open would read).
// Caller holds wmu (or is open).
func (s *LogStore) writeGeneration(gen uint64) error {
	var b walBatch // not s.enc: a generation can be large, and is rare
	b.reset(s.batch + 1)
	errs := []error{b.addFileHeader(gen)}
	if s.snap.meta != nil {
		errs = append(errs, b.addBytes(recSnapshot, mustJSON(s.snap)))
	}
	errs = append(errs, b.addEntryID(recInstall, s.dummy))
	if s.cs != nil {
		_, err := b.addProto(recConfState, s.cs)
		errs = append(errs, err)
	}
	if s.hs != nil {
		_, err := b.addProto(recHardState, s.hs)
		errs = append(errs, err)
	}
	for _, e := range s.ents {
		_, err := b.addProto(recEntry, e)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write WAL generation %d: %w", gen, err)
	}

	path := filepath.Join(s.dir, walName(gen))
	tmp := path + walTempExt
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("write WAL generation %d: %w", gen, err)
	}
	w := newWALFile(f, tmp, gen, 0, 0)
	err = w.write(b.finish())
	if err == nil {
		err = f.Sync() // fsync, not fdatasync: the file is new
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write WAL generation %d: %w", gen, err)
	}
	s.step(stepTempSynced)
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write WAL generation %d: %w", gen, err)
	}
	w.path = path
	s.step(stepRenamed)
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return s.setErr(fmt.Errorf("write WAL generation %d: sync %s: %w", gen, s.dir, err))
	}
	s.step(stepDirSynced)
	old := s.wal
	s.wal, s.batch, s.hsDirty = w, b.batch, false
	if old != nil {
		old.close()
		if err := os.Remove(old.path); err != nil {
			// Open removes it: it is older than the one in use.
			slog.Warn("raft log: remove the old WAL generation", "component", "logstore", "file", old.path, "err", err)
		}
	}
	s.step(stepOldRemoved)
	return nil
}
