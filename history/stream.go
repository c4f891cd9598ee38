package history

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// stream.go reads a JSON Lines history without holding it: the lines are
// decoded in blocks on every core, and the ops handed to the caller one at
// a time, in order, each already validated (Validate's rules, applied as
// they arrive). A checker that needs a few bytes per op instead of the op
// itself (analyze with the linearizable and stats checkers) then costs a
// fraction of the history's memory, and the decoding, two thirds of such
// an analysis, is spread over the cores.
//
// Stream takes only what it is sure of: a history Read would accept with
// no warning, decoded op for op as Read decodes it. Any defect (a syntax
// error, a cut-off line, a validation error, a format other than JSON
// Lines) stops it with ErrNotStreamed, and the caller reads the file with
// ReadFile, which names the file, line and problem as always: errors are
// Read's alone, so their order and wording cannot drift apart.

// ErrNotStreamed is Stream's answer for input it does not take; ReadFile
// decides about it.
var ErrNotStreamed = errors.New("history not streamed")

// streamBlock is how many bytes of lines a worker decodes at a time.
const streamBlock = 1 << 20

// StreamMemory is about what Stream holds however long the history: the
// blocks in flight, their bytes and their decoded ops.
func StreamMemory() int64 {
	return int64(streamInFlight(runtime.GOMAXPROCS(0))) * (2*streamBlock + streamBlock/64*int64(unsafe.Sizeof(Op{})+4))
}

// streamInFlight is how many blocks Stream allocates at most for workers
// decoding goroutines: one per worker, those decoded and waiting for the
// caller, the one being read.
func streamInFlight(workers int) int { return 2*workers + 2 }

// block is a run of whole lines and, once decoded, their ops.
type block struct {
	data  []byte
	ops   []Op
	lines []int32 // each op's line within the block, from 0, times 2, plus 1 if it has an index
	nl    int     // lines in data
	err   error
	done  chan struct{}
}

// Stream reads the JSON Lines history at path and calls fn with each op,
// in order; op is valid only during the call. It returns the number of
// ops. An error from fn stops the stream and is returned as it is.
func Stream(path string, fn func(op *Op) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, ErrNotStreamed
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return 0, ErrNotStreamed
	}
	head = head[:n]
	eof := n < len(head)
	if format, _, ok := detect(head, eof); !ok || format != formatJSONL || bytes.HasPrefix(head, bom) {
		return 0, ErrNotStreamed
	}
	if _, bad := binaryStart(head, eof); bad {
		return 0, ErrNotStreamed
	}

	// A block holds at most 2*streamBlock bytes (a read, and the line cut
	// off at the end of the one before); a small history gets small ones.
	blockCap := 2 * streamBlock
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < int64(blockCap) {
		blockCap = int(st.Size()) + 1
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(quit)
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *block, workers)
	order := make(chan *block, workers)
	free := make(chan *block, streamInFlight(workers))
	for range workers {
		wg.Go(func() {
			sc := newOpScanner(interner{})
			for b := range work {
				b.decode(sc)
				close(b.done)
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(work)
		carry := head
		for {
			var b *block
			select {
			case b = <-free:
			default:
				// Sized for a block of short lines, so that decoding
				// rarely grows them.
				b = &block{data: make([]byte, 0, blockCap), ops: make([]Op, 0, blockCap/128), lines: make([]int32, 0, blockCap/128)}
			}
			b.data = append(b.data[:0], carry...)
			b.done = make(chan struct{})
			for len(b.data) < streamBlock && !eof {
				if len(b.data) == cap(b.data) { // the file grew since Stat
					b.data = slices.Grow(b.data, streamBlock)
				}
				n, err := f.Read(b.data[len(b.data):min(streamBlock, cap(b.data))])
				b.data = b.data[:len(b.data)+n]
				if err == io.EOF {
					eof = true
				} else if err != nil {
					b.err = err
					eof = true
				}
			}
			end := len(b.data)
			if !eof {
				end = bytes.LastIndexByte(b.data, '\n') + 1
				if end == 0 {
					b.err = errors.New("line longer than a block")
					eof = true
					end = len(b.data)
				}
			}
			carry = append([]byte(nil), b.data[end:]...)
			b.data = b.data[:end]
			select {
			case order <- b:
			case <-quit:
				return
			}
			if b.err != nil {
				close(b.done)
				return
			}
			select {
			case work <- b:
			case <-quit:
				return
			}
			if eof {
				return
			}
		}
	})

	v := newValidator(path)
	ops, line := 0, 0
	indexed := false
	for b := range order {
		<-b.done
		if b.err != nil {
			return ops, ErrNotStreamed
		}
		for i := range b.ops {
			op := &b.ops[i]
			has := b.lines[i]&1 == 1
			if ops == 0 {
				indexed = has
			} else if has != indexed {
				return ops, ErrNotStreamed
			}
			if !has {
				op.Index = int64(ops)
			}
			if v.check(op, line+1+int(b.lines[i]>>1)) != nil {
				return ops, ErrNotStreamed
			}
			ops++
			if err := fn(op); err != nil {
				return ops, err
			}
		}
		line += b.nl
		select {
		case free <- b:
		default:
		}
	}
	if ops == 0 {
		return 0, ErrNotStreamed
	}
	return ops, nil
}

// decode turns the block's lines into ops as Read does (the fast scanner,
// else the full decoder). An op Read would refuse, or take with a
// warning, is an error.
func (b *block) decode(sc *opScanner) {
	b.ops, b.lines, b.nl = b.ops[:0], b.lines[:0], 0
	data := b.data
	for len(data) > 0 {
		text := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line := b.nl
		b.nl++
		text = bytes.TrimSpace(text)
		if len(text) == 0 {
			continue
		}
		op, has, ok := sc.scanOp(text)
		if !ok {
			var ferr *fieldError
			if op, has, ferr = decodeJSONOp(text, sc.strs); ferr != nil {
				b.err = fmt.Errorf("line %d of the block: %s", line, ferr.msg)
				return
			}
		}
		if !has.typ || !has.process || !has.f {
			b.err = errors.New("an op without type, process or f") // Read's rules for these (Elle's txns)
			return
		}
		l := int32(line) << 1
		if has.index {
			l |= 1
		}
		b.ops = append(b.ops, op)
		b.lines = append(b.lines, l)
	}
}
