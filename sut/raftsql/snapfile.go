// snapfile.go: the LogStore's snapshot files beside the WAL, written
// atomically and named by a WAL record.

package raftsql

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// snapRecord is the WAL record naming the snapshot file.
type snapRecord struct {
	Meta []byte `json:"meta"` // raftpb.SnapshotMetadata, protobuf
	File string `json:"file"` // base name in snapshots/, "" when no snapshot
	Size int64  `json:"size"`
	CRC  uint32 `json:"crc"` // crc32 (Castagnoli) of the data

	meta *raftpb.SnapshotMetadata
}

func decodeSnapRecord(v []byte) (snapRecord, error) {
	var rec snapRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("decode snapshot record: %w", err)
	}
	rec.meta = &raftpb.SnapshotMetadata{}
	if err := proto.Unmarshal(rec.Meta, rec.meta); err != nil {
		return rec, fmt.Errorf("decode snapshot metadata: %w", err)
	}
	if rec.File != "" && (strings.ContainsAny(rec.File, `/\`) || rec.File == "." || rec.File == "..") {
		return rec, fmt.Errorf("snapshot record names bad file %q", rec.File)
	}
	return rec, nil
}

// removeStraySnapshots deletes snapshot files no record names: temp files
// and files written just before a crash, or superseded ones whose removal
// was cut short.
func (s *LogStore) removeStraySnapshots() error {
	des, err := os.ReadDir(s.snapDir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.Name() == s.snap.File {
			continue
		}
		if err := os.Remove(filepath.Join(s.snapDir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeSnapshotFile writes data atomically to snapshots/<term>-<index>.snap:
// temp file, fsync, rename, fsync of the directory (so the rename itself is
// durable before the record naming the file commits).
func (s *LogStore) writeSnapshotFile(meta *raftpb.SnapshotMetadata, data []byte) (snapRecord, error) {
	meta = raftpb.EnsureSnapshotMetadata(proto.Clone(meta).(*raftpb.SnapshotMetadata))
	name := fmt.Sprintf("%016x-%016x.snap", meta.GetTerm(), meta.GetIndex())
	if err := writeFileAtomic(filepath.Join(s.snapDir, name), data); err != nil {
		return snapRecord{}, fmt.Errorf("write snapshot: %w", err)
	}
	return snapRecord{
		Meta: mustProto(meta),
		File: name,
		Size: int64(len(data)),
		CRC:  crc32.Checksum(data, crcTable),
		meta: meta,
	}, nil
}

// removeSnapshotFile deletes a superseded snapshot file. A failure only
// leaves a stray file that the next open removes, so it is logged, not
// returned.
func (s *LogStore) removeSnapshotFile(name string) {
	if name == "" || name == s.snap.File {
		return
	}
	if err := os.Remove(filepath.Join(s.snapDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		slog.Warn("remove old snapshot", "file", name, "err", err)
	}
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old file or the new one, complete.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := writeAndClose(f, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// writeAndClose writes data to f, fsyncs and closes it.
func writeAndClose(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
