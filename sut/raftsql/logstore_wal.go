// logstore_wal.go: the LogStore's write-ahead log file: the record format,
// how a write is framed, and appends to the open file.

package raftsql

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"syscall"

	"google.golang.org/protobuf/proto"
)

// A WAL file is a sequence of records, little-endian:
//
//	crc   uint32  CRC-32C of everything after it: the rest of the header and the payload
//	size  uint32  payload bytes
//	batch uint64  the write the record belongs to (one Save, one SaveConfState, …,
//	              or the whole state at the start of a generation); one more for each write
//	kind  uint8   what the payload is; kindLast is set on the last record of its batch
//	payload
//
// A batch is the unit of durability: replay applies a batch only when all
// its records are there and check out, so a write cut short by a crash
// leaves the state before it. Within a batch the records are still in an
// order whose every prefix is a valid state (see Save).
const (
	walHeaderSize = 4 + 4 + 8 + 1
	// maxWALRecord bounds a record's payload: Save refuses a larger entry,
	// and replay takes a larger size field as damage, not as a reason to
	// read that much.
	maxWALRecord = 64 << 20
)

type recKind uint8

const (
	recFileHeader recKind = 1 + iota // walMagic, version, generation: first record of every file
	recHardState                     // raftpb.HardState
	recConfState                     // raftpb.ConfState: the one InitialState reports
	recSnapshot                      // snapRecord (JSON): the latest snapshot's metadata and file
	recInstall                       // index, term: the log is replaced by an empty one after this entry
	recCompact                       // index, term: entries up to index are dropped, index is the dummy entry
	recEntry                         // raftpb.Entry: replaces the entry at its index and every later one
	recKinds                         // one past the last kind

	kindLast recKind = 0x80
)

func (k recKind) String() string {
	names := [...]string{"?", "file header", "hard state", "conf state", "snapshot", "snapshot installed", "compaction", "entry"}
	if k := k &^ kindLast; k < recKinds {
		return names[k]
	}
	return fmt.Sprintf("kind %d", k)
}

// walMagic opens every WAL file's header record; walVersion changes with
// the format.
const (
	walMagic   = "ccraftwl"
	walVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// walBatch frames the records of one write into one buffer, so that the
// write is one pwrite.
type walBatch struct {
	buf    []byte
	batch  uint64
	starts []int // offset of each record in buf
}

func (b *walBatch) reset(batch uint64) {
	b.buf, b.starts, b.batch = b.buf[:0], b.starts[:0], batch
}

func (b *walBatch) empty() bool { return len(b.starts) == 0 }

// open starts a record of kind; its payload is appended to b.buf.
func (b *walBatch) open(kind recKind) int {
	start := len(b.buf)
	b.starts = append(b.starts, start)
	var h [walHeaderSize]byte
	binary.LittleEndian.PutUint64(h[8:], b.batch)
	h[16] = byte(kind)
	b.buf = append(b.buf, h[:]...)
	return start
}

// closeRecord fills in the size of the record at start and returns it.
func (b *walBatch) closeRecord(start int) (int, error) {
	n := len(b.buf) - start - walHeaderSize
	if n > maxWALRecord {
		kind := recKind(b.buf[start+16])
		b.buf, b.starts = b.buf[:start], b.starts[:len(b.starts)-1]
		return n, fmt.Errorf("a %s of %d bytes is larger than a WAL record holds (%d)", kind, n, maxWALRecord)
	}
	binary.LittleEndian.PutUint32(b.buf[start+4:], uint32(n))
	return n, nil
}

func (b *walBatch) addBytes(kind recKind, payload []byte) error {
	start := b.open(kind)
	b.buf = append(b.buf, payload...)
	_, err := b.closeRecord(start)
	return err
}

// addProto appends m marshalled straight into the buffer and returns its
// size, which is raft's measure of it (proto.Size).
func (b *walBatch) addProto(kind recKind, m proto.Message) (int, error) {
	start := b.open(kind)
	var err error
	if b.buf, err = (proto.MarshalOptions{}).MarshalAppend(b.buf, m); err != nil {
		b.buf, b.starts = b.buf[:start], b.starts[:len(b.starts)-1]
		return 0, fmt.Errorf("encode %s: %w", kind, err)
	}
	return b.closeRecord(start)
}

func (b *walBatch) addEntryID(kind recKind, id entryID) error {
	var p [16]byte
	binary.LittleEndian.PutUint64(p[:], id.index)
	binary.LittleEndian.PutUint64(p[8:], id.term)
	return b.addBytes(kind, p[:])
}

func (b *walBatch) addFileHeader(gen uint64) error {
	p := make([]byte, 0, len(walMagic)+4+8)
	p = append(p, walMagic...)
	p = binary.LittleEndian.AppendUint32(p, walVersion)
	p = binary.LittleEndian.AppendUint64(p, gen)
	return b.addBytes(recFileHeader, p)
}

// finish marks the last record and computes every record's CRC.
func (b *walBatch) finish() []byte {
	for i, start := range b.starts {
		end := len(b.buf)
		if i+1 < len(b.starts) {
			end = b.starts[i+1]
		} else {
			b.buf[start+16] |= byte(kindLast)
		}
		binary.LittleEndian.PutUint32(b.buf[start:], crc32.Checksum(b.buf[start+4:end], crcTable))
	}
	return b.buf
}

func decodeEntryID(p []byte) (entryID, error) {
	if len(p) != 16 {
		return entryID{}, fmt.Errorf("%d bytes, want 16", len(p))
	}
	return entryID{binary.LittleEndian.Uint64(p), binary.LittleEndian.Uint64(p[8:])}, nil
}

// decodeFileHeader returns the generation a header record names.
func decodeFileHeader(p []byte) (uint64, error) {
	if len(p) != len(walMagic)+4+8 || string(p[:len(walMagic)]) != walMagic {
		return 0, errors.New("not a chaoscheck raft WAL header")
	}
	if v := binary.LittleEndian.Uint32(p[len(walMagic):]); v != walVersion {
		return 0, fmt.Errorf("WAL format version %d, this build reads %d", v, walVersion)
	}
	return binary.LittleEndian.Uint64(p[len(walMagic)+4:]), nil
}

// walPrealloc is how far ahead of the last write the file is allocated
// (fallocate). A 300-byte write and its fdatasync into allocated space
// measured 96–107 µs here, past the end of the file 165 µs
// (BenchmarkWALWriteSync): a size change makes fdatasync commit the
// filesystem's journal. etcd preallocates its WAL segments for the same
// reason. Replay stops at the zeros after the last record.
const walPrealloc = 8 << 20

// walFile is the open generation that writes append to. Only the writer
// (holding LogStore.wmu) uses it.
type walFile struct {
	f     *os.File
	fd    int
	path  string
	gen   uint64
	end   int64 // where the next batch goes: the end of the last complete one
	alloc int64 // file size: allocated up to here
	// noPrealloc: fallocate failed (EOPNOTSUPP on some filesystems);
	// writes append instead.
	noPrealloc bool
}

func newWALFile(f *os.File, path string, gen uint64, end, size int64) *walFile {
	return &walFile{f: f, fd: int(f.Fd()), path: path, gen: gen, end: end, alloc: size}
}

// write appends one framed batch with one pwrite, allocating ahead first.
func (w *walFile) write(p []byte) error {
	if need := w.end + int64(len(p)); !w.noPrealloc && need > w.alloc {
		size := (need + walPrealloc - 1) / walPrealloc * walPrealloc
		if err := syscall.Fallocate(w.fd, 0, w.alloc, size-w.alloc); err != nil {
			w.noPrealloc = true
		} else {
			w.alloc = size
		}
	}
	if _, err := w.f.WriteAt(p, w.end); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	w.end += int64(len(p))
	return nil
}

// sync makes the written batches durable: fdatasync, in the calling
// goroutine.
func (w *walFile) sync() error {
	for {
		err := syscall.Fdatasync(w.fd)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fdatasync %s: %w", w.path, err)
		}
		return nil
	}
}

func (w *walFile) close() error { return w.f.Close() }
