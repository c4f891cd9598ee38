package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrRecorderClosed is what Err reports after an op was recorded past
// Close.
var ErrRecorderClosed = errors.New("history: record after Close")

// Recorder stamps ops and appends them to a JSONL history as they happen.
// Clients and the nemesis call it from many goroutines at once.
//
// Invariants, kept under one mutex: indexes are dense from 0; times come
// from one monotonic clock read after the previous op's, so they never
// decrease as indexes ascend; the file holds ops in index order, each line
// written by a single Write, so a crash loses at most the line being
// written (a truncated last line, which readers skip with a warning). There
// is no buffering across lines: a recorded op is in the kernel's hands.
type Recorder struct {
	mu     sync.Mutex
	w      io.Writer
	file   *os.File // set when the Recorder opened it, and must close it
	start  time.Time
	next   int64
	retain bool
	ops    History
	line   []byte // reused for each line; Write must not keep it
	err    error
	closed bool
}

// RecorderOption configures a Recorder.
type RecorderOption func(*Recorder)

// Retain sets whether the Recorder keeps every op in memory for History.
// The default is true; soak runs pass Retain(false) so that memory stays
// flat and the history lives only in the file.
func Retain(keep bool) RecorderOption { return func(r *Recorder) { r.retain = keep } }

// NewRecorder records to w, which it never closes. Time 0 is now.
func NewRecorder(w io.Writer, opts ...RecorderOption) *Recorder {
	r := &Recorder{w: w, start: time.Now(), retain: true}
	for _, o := range opts {
		o(r)
	}
	return r
}

// CreateRecorder records to a new history file at path. It refuses a file
// that already holds ops: appending a second run whose indexes restart at
// 0 would make the history unreadable.
func CreateRecorder(path string, opts ...RecorderOption) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || st.Size() > 0 {
		f.Close()
		if err == nil {
			err = fmt.Errorf("create recorder: %s already holds a history", path)
		}
		return nil, err
	}
	r := NewRecorder(f, opts...)
	r.file = f
	return r, nil
}

// Record stamps op with the next index and the time since the Recorder
// started, appends it to the history and returns the stamped op. Record
// never panics: when the op cannot be recorded (after Close, after a write
// error, a Value JSON cannot encode, or a type other than the four) it
// returns op with Index and Time -1, keeps the reason for Err, and records
// nothing more.
func (r *Recorder) Record(op Op) Op {
	// Encode outside the lock, with index and time zero, so concurrent
	// clients do not queue behind each other's reflection; the stamped
	// prefix is spliced in under the lock.
	op.Index, op.Time = 0, 0
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	encErr := encodeOp(buf, op)
	body, ok := bytes.CutPrefix(buf.Bytes(), zeroPrefix)
	if encErr == nil && !ok {
		encErr = fmt.Errorf("encoded op does not start with %s", zeroPrefix)
	}
	if _, ferr := parseType(string(op.Type)); ferr != nil {
		encErr = errors.New(ferr.msg) // Read would reject the whole file
	}
	// What History keeps is what a reader gets back from the file, so the
	// run's checkers and analyze judge the same values (NormalValue).
	kept := op
	if r.retain && encErr == nil {
		kept.Value, encErr = NormalValue(op.Value)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	unrecorded := op
	unrecorded.Index, unrecorded.Time = -1, -1
	switch {
	case r.err != nil:
		return unrecorded
	case r.closed:
		r.err = ErrRecorderClosed
		return unrecorded
	case encErr != nil:
		r.err = fmt.Errorf("history: record %s op of process %d: %w", op.F, op.Process, encErr)
		return unrecorded
	}
	op.Index = r.next
	op.Time = int64(time.Since(r.start))
	r.line = append(r.line[:0], `{"index":`...)
	r.line = strconv.AppendInt(r.line, op.Index, 10)
	r.line = append(r.line, `,"time":`...)
	r.line = strconv.AppendInt(r.line, op.Time, 10)
	r.line = append(r.line, ',')
	r.line = append(r.line, body...)
	if _, err := r.w.Write(r.line); err != nil {
		// The line may be half written; appending after it would corrupt the
		// next op too, so the Recorder stops here.
		r.err = fmt.Errorf("history: write op %d: %w", op.Index, err)
		return unrecorded
	}
	r.next++
	if r.retain {
		kept.Index, kept.Time = op.Index, op.Time
		r.ops = append(r.ops, kept)
	}
	return op
}

// zeroPrefix is how encodeOp begins an op with Index and Time zero, given
// Op's field order.
var zeroPrefix = []byte(`{"index":0,"time":0,`)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodeOp writes op as one JSON line into buf (reset first).
func encodeOp(buf *bytes.Buffer, op Op) error {
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false) // values stay readable: "a<b", not "a\u003cb"
	return enc.Encode(op)
}

// Invoke records an invocation by a client process.
func (r *Recorder) Invoke(process int64, f, key string, value any, txID string) Op {
	return r.Record(Op{Type: Invoke, Process: process, F: f, Key: key, Value: value, TxID: txID})
}

// Complete records the completion of inv: typ is OK, Fail or Info, node
// the node that answered, errText the error of a fail or info.
func (r *Recorder) Complete(inv Op, typ Type, value any, node, errText string) Op {
	return r.Record(Op{Type: typ, Process: inv.Process, F: inv.F, Key: inv.Key, Value: value, TxID: inv.TxID, Node: node, Error: errText})
}

// History returns a copy of the ops recorded so far, or nil when the
// Recorder does not retain them. Each op is as a reader gets it back from
// the file: values in NormalValue's shapes (Record returns the op with
// its value as given).
func (r *Recorder) History() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.retain {
		return nil
	}
	return append(History(nil), r.ops...)
}

// Len is the number of ops recorded so far.
func (r *Recorder) Len() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// Err is the first reason an op could not be recorded, or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close ends recording. A file the Recorder created is fsynced and closed;
// a writer passed to NewRecorder is synced if it has a Sync method, and
// left open. Closing twice is a no-op.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if s, ok := r.w.(interface{ Sync() error }); ok {
		err = s.Sync()
	}
	if r.file != nil {
		if cerr := r.file.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		err = fmt.Errorf("history: close recorder: %w", err)
		if r.err == nil {
			r.err = err
		}
	}
	return err
}

// WriteJSONL writes h as JSON Lines, the format Recorder writes and Read
// reads back.
func WriteJSONL(w io.Writer, h History) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, op := range h {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("write op %d: %w", op.Index, err)
		}
	}
	return bw.Flush()
}
