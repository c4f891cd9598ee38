// logstore_replay.go: reading a WAL file back at open, and telling a write
// torn by a crash from a file damaged in the middle.

package raftsql

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// walRecord is one record read back.
type walRecord struct {
	kind    recKind // kindLast cleared
	batch   uint64
	off     int64
	payload []byte
}

// walScan is what reading a WAL file found.
type walScan struct {
	end   int64  // end of the last complete batch: where the next write goes
	batch uint64 // number of that batch
	size  int64  // file size, preallocated space included
	// torn says why reading stopped before the end of the file, when
	// something other than zeros follows end: a write cut short.
	torn   string
	tornAt int64 // offset of the record that did not check out
}

// readWAL reads the WAL file f from its start and calls apply for every
// record of every complete batch, in order, a batch only once all of it has
// been read and checked. It stops at the first record that does not check
// out (short, CRC mismatch, a size or kind that cannot be, a batch number
// out of sequence) or at zeros (preallocated space never written).
//
// What lies past that point decides between a torn tail and damage. Every
// batch the correct store writes is fdatasynced before the next one is
// written (the held-back commit index is not written at all; Save with
// entries and sync false would break this, and the node never asks for
// it), so a crash can cut short only the last batch, n+1 after the
// last complete batch n; pages of that one write may even reach the disk
// out of order, leaving valid records of batch n+1 after a hole. But a
// record of batch n+2 or later after the bad spot means a later write was
// made after batch n+1 was synced: the file is damaged in the middle, and
// cutting it there would drop synced, acknowledged entries. readWAL then
// returns an error naming both offsets, and opens nothing. Damage inside
// the last complete batch itself cannot be told from a torn write (the
// same bytes result): that batch is dropped as a torn tail and the drop
// is logged. Records are found past a bad spot by scanning every offset
// for a header whose CRC checks out (no resynchronisation marker is
// needed: a CRC-32C match by chance is one in four billion per candidate,
// and candidates must also carry a plausible size, kind and batch number).
func readWAL(f *os.File, path string, apply func(walRecord) error) (walScan, error) {
	st, err := f.Stat()
	if err != nil {
		return walScan{}, err
	}
	scan := walScan{size: st.Size()}
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, scan.size), 1<<20)
	var (
		pending []walRecord
		off     int64
		hdr     [walHeaderSize]byte
		why     string
	)
	for why == "" {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				why = "record header cut short by the end of the file"
				break
			}
			return scan, fmt.Errorf("read %s: %w", path, err)
		}
		size := int64(binary.LittleEndian.Uint32(hdr[4:]))
		batch := binary.LittleEndian.Uint64(hdr[8:])
		kind := recKind(hdr[16])
		switch {
		case allZero(hdr[:]):
			why = "zeros"
			continue
		case size > maxWALRecord || off+walHeaderSize+size > scan.size:
			why = fmt.Sprintf("size field %d runs past the end of the file", size)
			continue
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			return scan, fmt.Errorf("read %s: %w", path, err)
		}
		crc := crc32.Update(crc32.Checksum(hdr[4:], crcTable), crcTable, payload)
		k := kind &^ kindLast
		switch {
		case crc != binary.LittleEndian.Uint32(hdr[:]):
			why = "CRC mismatch"
		case k == 0 || k >= recKinds:
			why = fmt.Sprintf("unknown record kind %d", k)
		case off == 0 && k != recFileHeader:
			return scan, fmt.Errorf("%s does not start with a WAL file header: not a raft log of this store", path)
		case len(pending) > 0 && batch != pending[0].batch:
			why = fmt.Sprintf("batch %d inside batch %d", batch, pending[0].batch)
		case len(pending) == 0 && off > 0 && batch != scan.batch+1:
			why = fmt.Sprintf("batch %d where %d was due", batch, scan.batch+1)
		}
		if why != "" {
			continue
		}
		pending = append(pending, walRecord{kind: k, batch: batch, off: off, payload: payload})
		off += walHeaderSize + size
		if kind&kindLast == 0 {
			continue
		}
		for _, rec := range pending {
			if err := apply(rec); err != nil {
				return scan, fmt.Errorf("%s: %s record at offset %d (batch %d): %w", path, rec.kind, rec.off, rec.batch, err)
			}
		}
		scan.end, scan.batch, pending = off, batch, pending[:0]
	}
	if scan.end == 0 {
		return scan, fmt.Errorf("%s holds no complete WAL file header: not a raft log of this store, or damaged at its start", path)
	}
	if scan.end == scan.size {
		return scan, nil
	}
	later, nonzero, err := scanPastEnd(f, scan.end, scan.size, scan.batch+2)
	if err != nil {
		return scan, fmt.Errorf("read %s: %w", path, err)
	}
	if later != nil {
		return scan, fmt.Errorf("%s is damaged in the middle, not torn by a crash: the record at offset %d (in the write from offset %d) "+
			"does not check out (%s), yet a later write (batch %d, at offset %d) follows it; refusing to open, "+
			"cutting the file there would drop synced entries", path, off, scan.end, why, later.batch, later.off)
	}
	if nonzero {
		if why == "" || why == "zeros" {
			why = "a write cut short"
		}
		scan.torn, scan.tornAt = why, off
	}
	return scan, nil
}

// scanPastEnd looks at [from, size) of f for a record of batch minBatch or
// later whose CRC checks out, and says whether any byte there is not zero.
func scanPastEnd(f *os.File, from, size int64, minBatch uint64) (later *walRecord, nonzero bool, err error) {
	const window = 1 << 20
	buf := make([]byte, window+walHeaderSize)
	for base := from; base < size; base += window {
		n := int(min(int64(len(buf)), size-base))
		if _, err := f.ReadAt(buf[:n], base); err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		b := buf[:n]
		if !allZero(b[:min(n, window)]) {
			nonzero = true
		}
		for p := 0; p < min(n, window) && p+walHeaderSize <= n; p++ {
			if p%zeroBlock == 0 && p+zeroBlock <= n && allZero(b[p:p+zeroBlock]) {
				// No header can start here: its kind byte would be zero.
				p += zeroBlock - walHeaderSize
				continue
			}
			h := b[p : p+walHeaderSize]
			k := recKind(h[16]) &^ kindLast
			rsize := int64(binary.LittleEndian.Uint32(h[4:]))
			batch := binary.LittleEndian.Uint64(h[8:])
			at := base + int64(p)
			if k == 0 || k >= recKinds || batch < minBatch || batch-minBatch > 1<<32 ||
				rsize > maxWALRecord || at+walHeaderSize+rsize > size {
				continue
			}
			payload := make([]byte, rsize)
			if _, err := f.ReadAt(payload, at+walHeaderSize); err != nil && !errors.Is(err, io.EOF) {
				return nil, false, err
			}
			if crc32.Update(crc32.Checksum(h[4:], crcTable), crcTable, payload) == binary.LittleEndian.Uint32(h) {
				return &walRecord{kind: k, batch: batch, off: at}, true, nil
			}
		}
	}
	return nil, nonzero, nil
}

const zeroBlock = 4096

var zeros [zeroBlock]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), zeroBlock)
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}
