package history

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// ParseError is a history that cannot be read or is not well formed. Line
// is the 1-based line where the offending op starts.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Warning is a defect a reader worked around: a truncated last line, which
// is what a recorder that crashed mid-write leaves behind.
type Warning struct {
	File string
	Line int
	Msg  string
}

func (w Warning) String() string { return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg) }

// ErrNoOps is returned, wrapped with the file name, for input that holds no
// op at all.
var ErrNoOps = errors.New("no ops")

// ReadFile reads the history at path; see Read.
func ReadFile(path string) (History, []Warning, error) { return ReadFileWithin(path, 0) }

// ErrTooLarge is returned, wrapped with the file name and the figures, for
// a history that would not fit the memory limit given to ReadFileWithin.
var ErrTooLarge = errors.New("history too large for the memory limit")

// ReadFileWithin reads the history at path like ReadFile, but refuses with
// ErrTooLarge, before holding it, a history whose ops would take more than
// limit bytes of memory: estimated from the file's size and the length of
// its first ops, then checked as ops arrive. limit 0 means no limit.
func ReadFileWithin(path string, limit int64) (History, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return read(f, path, limit)
}

// Read reads a history in any of the formats chaoscheck accepts, detected
// from the content: JSON Lines (one op object per line), a JSON array of op
// objects, or Jepsen EDN (op maps one per line as Jepsen writes
// history.edn, or a vector or list of op maps as Knossos test files hold
// them; #jepsen.history.Op{…} records read as maps). name labels errors.
//
// Values are normalized as Op documents. Ops without an index get their
// position (Knossos histories have none); either every op has an index or
// none does. The history is then validated (see Validate). An op cut off
// by the end of the input on the last line is dropped with a Warning.
// Every other defect is a *ParseError naming the line; input without ops
// is ErrNoOps.
func Read(r io.Reader, name string) (History, []Warning, error) { return read(r, name, 0) }

func read(r io.Reader, name string, limit int64) (History, []Warning, error) {
	b := &builder{file: name, size: inputSize(r), strs: interner{}, limit: limit}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(br.Size())
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	f, line, ok := detect(head, err == io.EOF)
	if at, bad := binaryStart(head, err == io.EOF); bad {
		// Refused from its first line: a device such as /dev/zero never ends,
		// and reading it whole to be sure would never return.
		pe := &ParseError{File: name, Line: 1 + bytes.Count(head[:at], []byte("\n")), Msg: fmt.Sprintf(
			"unrecognized history format: binary data (byte 0x%02x at offset %d), want JSON Lines, a JSON array of ops or Jepsen EDN", head[at], at)}
		if head[at] >= utf8.RuneSelf {
			pe.Msg = fmt.Sprintf("invalid UTF-8 (byte 0x%02x at offset %d): histories must be UTF-8 text", head[at], at)
		}
		return nil, nil, pe
	}
	var data []byte // the whole input, for the formats parsed in one piece
	if !ok {
		if data, err = io.ReadAll(br); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
		f, line, _ = detect(data, true)
	}
	if f != formatJSONL && f != formatNone && f != formatUnknown && data == nil {
		if limit > 0 && b.size > limit { // read whole, so the bytes alone would not fit
			return nil, nil, b.tooLarge(b.size, "its text alone")
		}
		if data, err = io.ReadAll(br); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
	}
	switch f {
	case formatNone:
		err = nil
	case formatUnknown:
		err = &ParseError{File: name, Line: line, Msg: "unrecognized history format: want JSON Lines, a JSON array of ops or Jepsen EDN"}
	case formatJSONL:
		if data != nil {
			br = bufio.NewReader(bytes.NewReader(data))
		}
		err = b.readJSONL(br)
	case formatJSONArray:
		if err = b.checkUTF8(data); err == nil {
			err = b.readJSONArray(data)
		}
	case formatEDN:
		if err = b.checkUTF8(data); err == nil {
			err = b.readEDN(data)
		}
	}
	if err != nil {
		return nil, b.warnings, err
	}
	return b.finish()
}

// inputSize is the number of bytes r holds, or 0 when it cannot tell.
func inputSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }: // bytes.Reader, strings.Reader, bytes.Buffer
		return int64(r.Len())
	case *os.File:
		if st, err := r.Stat(); err == nil && st.Mode().IsRegular() {
			return st.Size()
		}
	}
	return 0
}

type format int

const (
	formatNone    format = iota // nothing but whitespace
	formatUnknown               // none of ours
	formatJSONL
	formatJSONArray
	formatEDN
)

var bom = []byte("\uFEFF")

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// detect tells the format from the start of the input. ok is false when
// head ends before it could tell and more input follows. line is where an
// unrecognized format starts.
func detect(head []byte, atEOF bool) (f format, line int, ok bool) {
	head = bytes.TrimPrefix(head, bom)
	i := skipJSONSpace(head, 0)
	line = 1 + bytes.Count(head[:i], []byte("\n"))
	if i == len(head) {
		return formatNone, line, atEOF
	}
	switch head[i] {
	case '{':
		isJSON, ok := jsonObject(head, i+1, atEOF)
		if isJSON {
			return formatJSONL, line, ok
		}
		return formatEDN, line, ok
	case '[':
		j := skipJSONSpace(head, i+1)
		if j == len(head) {
			return formatJSONArray, line, atEOF
		}
		switch c := head[j]; {
		case c == '{':
			isJSON, ok := jsonObject(head, j+1, atEOF)
			if isJSON {
				return formatJSONArray, line, ok
			}
			return formatEDN, line, ok
		case c == ']' || c == '"' || c == '-' || c >= '0' && c <= '9':
			return formatJSONArray, line, true
		}
		return formatEDN, line, true
	case ';', '#', '(', ',':
		return formatEDN, line, true
	}
	return formatUnknown, line, true
}

// jsonObject tells a JSON object from an EDN map, i just past the '{', by
// what follows the first key: a JSON key is a string followed by ':'.
// ok is false when b ends too soon to tell and more input follows.
func jsonObject(b []byte, i int, atEOF bool) (isJSON, ok bool) {
	i = skipJSONSpace(b, i)
	if i == len(b) {
		return true, atEOF
	}
	switch b[i] {
	case '}':
		return true, true
	case '"':
	default:
		return false, true
	}
	for i++; i < len(b); i++ {
		if b[i] == '\\' {
			i++
			continue
		}
		if b[i] == '"' {
			j := skipJSONSpace(b, i+1)
			if j == len(b) {
				return true, atEOF
			}
			return b[j] == ':', true
		}
	}
	return true, atEOF
}

// binaryStart finds, on the first line of head that is not blank, a byte
// no text history holds: a control character other than tab, CR, LF and
// the form feed and vertical tab EDN counts as space, or invalid UTF-8 (a
// rune cut by the end of head is not). Every format's first line is text,
// so this tells binary input from a history at once.
func binaryStart(head []byte, atEOF bool) (int, bool) {
	start := bytes.LastIndexByte(head[:skipJSONSpace(head, 0)], '\n') + 1
	end := len(head)
	if nl := bytes.IndexByte(head[start:], '\n'); nl >= 0 {
		end = start + nl
	}
	for i := start; i < end; {
		c := head[i]
		if c < 0x20 && c != '\t' && c != '\r' && c != '\f' && c != '\v' {
			return i, true
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(head[i:end])
		if r == utf8.RuneError && n == 1 {
			if !atEOF && end == len(head) && !utf8.FullRune(head[i:]) {
				return 0, false // cut by the end of head
			}
			return i, true
		}
		i += n
	}
	return 0, false
}

// checkUTF8 rejects input read whole that is not UTF-8, at the line of the
// first bad byte; a rune cut off at the very end is a truncated last op,
// which the format's reader reports.
func (b *builder) checkUTF8(data []byte) error {
	if utf8.Valid(data) {
		return nil
	}
	i := invalidUTF8At(data)
	if !utf8.FullRune(data[i:]) {
		return nil
	}
	return b.errorAt(1+bytes.Count(data[:i], []byte("\n")),
		"invalid UTF-8 (byte 0x%02x): histories must be UTF-8 text", data[i])
}

// builder collects ops with their source lines and the index rule.
type builder struct {
	file     string
	h        History
	lines    []int
	warnings []Warning
	indexed  bool // whether the first op had an index
	strs     interner
	scan     *opScanner // JSON's fast path, made on first use
	cutLine  int        // line of an op cut off by the end of the input, 0 if none
	limit    int64      // bytes the ops may take in memory; 0: no limit
	// nilProcess: an op without a process belongs to Jepsen's nil process
	// (EDN, Jepsen's own format) rather than being refused (JSON, ours).
	nilProcess bool
	invoked    bool // a client invocation was read
	// early holds the invocations made up for completions that had none,
	// with their lines; finish puts them before every op.
	early      History
	earlyLines []int
	// size is the input's length in bytes when known, and read how much of
	// it the ops so far took: growing h by append alone copied a 1M-op
	// history many times over and dominated reading it.
	size, read int64
}

// sizeAfter is how many ops the builder reads before it sizes h for the
// whole input from their average length.
const sizeAfter = 4096

// opFields records which fields an op carried, for the required ones and
// the index rule.
type opFields struct{ index, typ, process, f bool }

func (b *builder) add(op Op, has opFields, line int) error {
	if op.Type == Invoke && !(has.process && op.Process == NemesisProcess) {
		b.invoked = true
	}
	switch {
	case !has.typ:
		return b.errorAt(line, "op has no type")
	case !has.f && IsTxnValue(op.Value):
		// Elle's own histories leave :f out of transactions: a value that
		// is a list of micro-ops can only be one.
		op.F, has.f = "txn", true
		b.warnOnce(line, "ops without f whose value is a list of micro-ops are taken as f txn (Elle's histories)")
	}
	switch {
	case op.F == "txn" && op.Type != Invoke && !has.index && IsTxnValue(op.Value) && (!has.process || !b.invoked):
		// Elle's test histories often hold completions only. Elle orders
		// such a transaction after nothing in real time (it has no
		// invocation), so each is taken as invoked at the start of the
		// history (finish puts the invocations there), on a process of
		// its own: a process may not have two invocations open. A
		// process the file names is dropped with its session order,
		// which only the strong-session models would use.
		op.Process, has.process = anonymousProcess+int64(len(b.h)+len(b.early)), true
		b.warnOnce(line, "transactions without invocation are taken as invoked at the start of the history, each on a process of its own")
		b.early = append(b.early, Op{Type: Invoke, Process: op.Process, F: op.F, Value: unreadTxn(op.Value), Time: op.Time})
		b.earlyLines = append(b.earlyLines, line)
	case !has.process && b.nilProcess:
		// Jepsen pairs an invocation with the next completion of the same
		// process, and ops without :process all have process nil: one
		// process (Elle's histories/paper-example.edn has none).
		op.Process, has.process = nilProcess, true
		b.warnOnce(line, "ops without process are taken as one process, as Jepsen takes process nil")
	case !has.process:
		return b.errorAt(line, "op has no process")
	case !has.f:
		return b.errorAt(line, "op has no f")
	}
	if len(b.h) == 0 {
		b.indexed = has.index
	} else if has.index != b.indexed {
		if has.index {
			return b.errorAt(line, "op has an index but the ops before it have none")
		}
		return b.errorAt(line, "op has no index but the ops before it have one")
	}
	if !has.index {
		op.Index = int64(len(b.h))
	}
	if b.limit > 0 && len(b.h)%sizeAfter == 0 && int64(len(b.h))*opFootprint > b.limit {
		return b.tooLarge(int64(len(b.h))*opFootprint, fmt.Sprintf("its first %d ops", len(b.h)))
	}
	if len(b.h) == sizeAfter && b.size > b.read && b.read > 0 {
		want := int(float64(b.size) / float64(b.read) * sizeAfter * 1.05)
		if need := int64(want) * opFootprint; b.limit > 0 && need > b.limit {
			return b.tooLarge(need, fmt.Sprintf("about %d ops", want))
		}
		b.h = append(make(History, 0, want), b.h...)
		b.lines = append(make([]int, 0, want), b.lines...)
	}
	b.h = append(b.h, op)
	b.lines = append(b.lines, line)
	return nil
}

// opFootprint is what one op takes in memory beyond its strings: the Op,
// its source line while reading, and a boxed value.
const opFootprint = int64(unsafe.Sizeof(Op{})) + 8 + 16

func (b *builder) tooLarge(need int64, what string) error {
	return fmt.Errorf("%s: %w: %s would take about %d MiB, the limit is %d MiB", b.file, ErrTooLarge, what, need>>20, b.limit>>20)
}

// anonymousProcess numbers the processes given to transactions that named
// none: far above any process a recorder or Jepsen uses.
const anonymousProcess = 1 << 40

// nilProcess numbers Jepsen's process nil, below the anonymous ones.
const nilProcess = anonymousProcess - 1

// IsTxnValue reports whether v is a list of micro-ops: each a list whose
// first element is append, r or w (Elle's list-append and rw-register).
// Elle judges every client op whose value is one, whatever its f: some
// Jepsen tests name their transactions read or write.
func IsTxnValue(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	for _, m := range l {
		mop, ok := m.([]any)
		if !ok || len(mop) != 3 {
			return false
		}
		switch mop[0] {
		case "append", "r", "w":
		default:
			return false
		}
	}
	return true
}

// unreadTxn is a transaction's micro-ops as invoked: reads without their
// values.
func unreadTxn(v any) any {
	l := v.([]any)
	out := make([]any, len(l))
	for i, m := range l {
		mop := m.([]any)
		if mop[0] == "r" {
			mop = []any{mop[0], mop[1], nil}
		}
		out[i] = mop
	}
	return out
}

// warnOnce adds msg as a warning the first time it is given.
func (b *builder) warnOnce(line int, msg string) {
	for _, w := range b.warnings {
		if w.Msg == msg {
			return
		}
	}
	b.warnings = append(b.warnings, Warning{File: b.file, Line: line, Msg: msg})
}

func (b *builder) errorAt(line int, format string, args ...any) *ParseError {
	return &ParseError{File: b.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) warnTruncated(line int) {
	b.cutLine = line
	b.warnings = append(b.warnings, Warning{File: b.file, Line: line, Msg: "last op is cut off (did the writer crash?); ignoring it"})
}

func (b *builder) finish() (History, []Warning, error) {
	if len(b.h) == 0 && b.cutLine > 0 {
		// With no op before it, a cut-off op is the whole history: not a
		// crash's harmless last line but nothing to check.
		return nil, nil, b.errorAt(b.cutLine, "last op is cut off and no op precedes it")
	}
	if len(b.h) == 0 {
		return nil, b.warnings, fmt.Errorf("%s: %w", b.file, ErrNoOps)
	}
	b.prependEarly()
	b.renumberCrashed()
	if err := Validate(b.h, b.lines, b.file); err != nil {
		return nil, b.warnings, err
	}
	return b.h, b.warnings, nil
}

// prependEarly puts the made-up invocations before every op and numbers
// the ops again: no op had an index (completions without invocation are
// taken only then).
func (b *builder) prependEarly() {
	if len(b.early) == 0 {
		return
	}
	b.h = append(b.early, b.h...)
	b.lines = append(b.earlyLines, b.lines...)
	b.early, b.earlyLines = nil, nil
	for i := range b.h {
		b.h[i].Index = int64(i)
	}
}

// renumberCrashed gives a client process that invokes again after an info
// completion a new number from that invocation on, above every number in
// the history. A Jepsen run never reuses such a process (its worker
// continues under a new one, as the crashed op may still take effect),
// but hand-written histories do, Jepsen's own checker tests among them;
// Jepsen's checkers pair them by order, and so does this.
func (b *builder) renumberCrashed() {
	type proc struct {
		open, crashed bool
		as            int64 // the number its ops get now
		renumbered    bool
	}
	var procs Processes[proc]
	next := int64(-1)
	for i := range b.h {
		op := &b.h[i]
		if op.Process < 0 {
			continue
		}
		p := procs.At(op.Process)
		if op.Type == Invoke && p.crashed && !p.open {
			if next < 0 {
				for j := range b.h {
					next = max(next, b.h[j].Process)
				}
			}
			next++
			p.as, p.renumbered, p.crashed = next, true, false
			b.warnOnce(b.lines[i], "a process that invokes again after an info completion continues under a new process number, as in a Jepsen run")
		}
		if p.renumbered {
			op.Process = p.as
		}
		switch {
		case op.Type == Invoke:
			p.open = true
		case p.open:
			p.open, p.crashed = false, op.Type == Info
		}
	}
}

// lastLine reports whether nothing but whitespace follows the line on
// which data[start:] begins: the only place a crashed writer truncates.
func lastLine(data []byte, start int) bool {
	return bytes.IndexByte(bytes.TrimRight(data[start:], " \t\r\n,"), '\n') < 0
}

// fieldError is a defect in one op; eof marks an op the input ended inside.
type fieldError struct {
	msg string
	eof bool
}

func fieldErrorf(format string, args ...any) *fieldError {
	return &fieldError{msg: fmt.Sprintf(format, args...)}
}

func parseType(s string) (Type, *fieldError) {
	switch t := Type(s); t {
	case Invoke, OK, Fail, Info:
		return t, nil
	}
	return "", fieldErrorf("unknown type %q: want invoke, ok, fail or info", s)
}

// interner shares the strings a history repeats (f, type, node, key):
// one allocation per distinct string instead of one per op.
type interner map[string]string

// maxInterned bounds the table for histories whose keys never repeat.
const maxInterned = 1 << 12

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok { // no allocation: the compiler sees the lookup
		return s
	}
	s := string(b)
	if in != nil && len(in) < maxInterned {
		in[s] = s
	}
	return s
}

// snippet quotes the start of b for an error message.
func snippet(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}
