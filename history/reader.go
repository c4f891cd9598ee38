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
	"unicode/utf8"
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
func ReadFile(path string) (History, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return Read(f, path)
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
func Read(r io.Reader, name string) (History, []Warning, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(br.Size())
	if err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	b := &builder{file: name}
	f, line, ok := detect(head, err == io.EOF)
	var data []byte // the whole input, for the formats parsed in one piece
	if !ok {
		if data, err = io.ReadAll(br); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", name, err)
		}
		f, line, _ = detect(data, true)
	}
	if f != formatJSONL && f != formatNone && data == nil {
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
		err = b.readJSONArray(data)
	case formatEDN:
		err = b.readEDN(data)
	}
	if err != nil {
		return nil, b.warnings, err
	}
	return b.finish()
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

// builder collects ops with their source lines and the index rule.
type builder struct {
	file     string
	h        History
	lines    []int
	warnings []Warning
	indexed  bool // whether the first op had an index
}

// opFields records which fields an op carried, for the required ones and
// the index rule.
type opFields struct{ index, typ, process, f bool }

func (b *builder) add(op Op, has opFields, line int) error {
	switch {
	case !has.typ:
		return b.errorAt(line, "op has no type")
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
	b.h = append(b.h, op)
	b.lines = append(b.lines, line)
	return nil
}

func (b *builder) errorAt(line int, format string, args ...any) *ParseError {
	return &ParseError{File: b.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) warnTruncated(line int) {
	b.warnings = append(b.warnings, Warning{File: b.file, Line: b.lineOr(line), Msg: "last op is cut off (did the writer crash?); ignoring it"})
}

func (b *builder) lineOr(line int) int { return max(line, 1) }

func (b *builder) finish() (History, []Warning, error) {
	if len(b.h) == 0 {
		return nil, b.warnings, fmt.Errorf("%s: %w", b.file, ErrNoOps)
	}
	if err := Validate(b.h, b.lines, b.file); err != nil {
		return nil, b.warnings, err
	}
	return b.h, b.warnings, nil
}

// lastLine reports whether nothing but whitespace follows the line on
// which data[start:] begins: the only place a crashed writer truncates.
func lastLine(data []byte, start int) bool {
	return bytes.IndexByte(bytes.TrimRight(data[start:], " \t\r\n,"), '\n') < 0
}

// readJSONL reads one op object per line, streaming.
func (b *builder) readJSONL(br *bufio.Reader) error {
	var long []byte
	line := 0
	var cut *ParseError // an op the input ended inside of: a warning if nothing follows
	for {
		text, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], text...)
			for err == bufio.ErrBufferFull {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			text = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", b.file, err)
		}
		if len(text) == 0 && err == io.EOF {
			break
		}
		line++
		if line == 1 {
			text = bytes.TrimPrefix(text, bom)
		}
		text = bytes.TrimSpace(text)
		if len(text) > 0 {
			if cut != nil {
				return cut
			}
			op, has, ferr := decodeJSONOp(text)
			switch {
			case ferr != nil && ferr.eof:
				cut = b.errorAt(line, "%s", ferr.msg)
			case ferr != nil:
				return b.errorAt(line, "%s", ferr.msg)
			default:
				if err := b.add(op, has, line); err != nil {
					return err
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if cut != nil {
		b.warnTruncated(cut.Line)
	}
	return nil
}

// readJSONArray reads a JSON array of op objects.
func (b *builder) readJSONArray(data []byte) error {
	data = bytes.TrimPrefix(data, bom)
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '[', as detect saw
		return b.errorAt(1, "invalid JSON: %v", err)
	}
	pos, line := 0, 1
	lineAt := func(off int) int {
		line += bytes.Count(data[pos:off], []byte("\n"))
		pos = off
		return line
	}
	for dec.More() {
		start := int(dec.InputOffset())
		for start < len(data) && (isJSONSpace(data[start]) || data[start] == ',') {
			start++
		}
		l := lineAt(start)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && lastLine(data, start) {
				b.warnTruncated(l)
				return nil
			}
			return b.errorAt(l, "invalid JSON: %v", err)
		}
		op, has, ferr := decodeJSONOp(raw)
		if ferr != nil {
			return b.errorAt(l, "%s", ferr.msg)
		}
		if err := b.add(op, has, l); err != nil {
			return err
		}
	}
	end := int(dec.InputOffset())
	tok, err := dec.Token()
	if err == io.EOF {
		b.warnings = append(b.warnings, Warning{File: b.file, Line: lineAt(len(data)), Msg: "JSON array has no closing ] (did the writer crash?)"})
		return nil
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != ']' {
		at := skipJSONSpace(data, end)
		if err != nil {
			return b.errorAt(lineAt(at), "invalid JSON: %v", err)
		}
		return b.errorAt(lineAt(at), "want an op object or ], got %s", snippet(data[at:]))
	}
	if rest := skipJSONSpace(data, int(dec.InputOffset())); rest < len(data) {
		return b.errorAt(lineAt(rest), "unexpected %s after the JSON array", snippet(data[rest:]))
	}
	return nil
}

// jsonOp receives an op object's fields undecoded, so that each can be
// checked with a message that names it.
type jsonOp struct {
	Index   json.RawMessage `json:"index"`
	Time    json.RawMessage `json:"time"`
	Type    json.RawMessage `json:"type"`
	Process json.RawMessage `json:"process"`
	F       json.RawMessage `json:"f"`
	Key     json.RawMessage `json:"key"`
	Value   json.RawMessage `json:"value"`
	TxID    json.RawMessage `json:"tx_id"`
	TxID2   json.RawMessage `json:"tx-id"`
	Node    json.RawMessage `json:"node"`
	Error   json.RawMessage `json:"error"`
}

// fieldError is a defect in one op; eof marks an op the input ended inside.
type fieldError struct {
	msg string
	eof bool
}

func fieldErrorf(format string, args ...any) *fieldError {
	return &fieldError{msg: fmt.Sprintf(format, args...)}
}

// decodeJSONOp decodes one op object.
func decodeJSONOp(text []byte) (Op, opFields, *fieldError) {
	var op Op
	var has opFields
	if text[0] != '{' {
		return op, has, fieldErrorf("want an op object, got %s", snippet(text))
	}
	var j jsonOp
	if err := json.Unmarshal(text, &j); err != nil {
		// A Decoder tells an input that merely ends too soon from a bad one.
		var v any
		if derr := json.NewDecoder(bytes.NewReader(text)).Decode(&v); errors.Is(derr, io.ErrUnexpectedEOF) {
			return op, has, &fieldError{msg: "op object is cut off", eof: true}
		}
		return op, has, fieldErrorf("invalid JSON: %v", err)
	}
	var err *fieldError
	if op.Index, has.index, err = jsonInt("index", j.Index); err != nil {
		return op, has, err
	}
	if op.Index < 0 {
		return op, has, fieldErrorf("index: want a non-negative integer, got %s", j.Index)
	}
	if op.Time, _, err = jsonInt("time", j.Time); err != nil {
		return op, has, err
	}
	var typ string
	if typ, has.typ, err = jsonString("type", j.Type); err != nil {
		return op, has, err
	}
	if has.typ {
		if op.Type, err = parseType(typ); err != nil {
			return op, has, err
		}
	}
	if isNull(j.Process) {
		// missing
	} else if j.Process[0] == '"' {
		s, _, _ := jsonString("process", j.Process)
		if s != "nemesis" && s != ":nemesis" {
			return op, has, fieldErrorf("process: want an integer or \"nemesis\", got %s", snippet(j.Process))
		}
		op.Process, has.process = NemesisProcess, true
	} else if op.Process, has.process, err = jsonInt("process", j.Process); err != nil {
		return op, has, fieldErrorf("process: want an integer or \"nemesis\", got %s", snippet(j.Process))
	}
	if op.F, has.f, err = jsonString("f", j.F); err != nil {
		return op, has, err
	}
	op.Key = jsonText(j.Key)
	op.TxID = jsonText(j.TxID)
	if op.TxID == "" {
		op.TxID = jsonText(j.TxID2)
	}
	op.Node = jsonText(j.Node)
	op.Error = jsonText(j.Error)
	v, verr := jsonValue(j.Value)
	if verr != nil {
		return op, has, fieldErrorf("value: %v", verr)
	}
	op.Value = v
	return op, has, nil
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || raw[0] == 'n' }

func jsonInt(name string, raw json.RawMessage) (int64, bool, *fieldError) {
	if isNull(raw) {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, fieldErrorf("%s: want an integer, got %s", name, snippet(raw))
	}
	return n, true, nil
}

func jsonString(name string, raw json.RawMessage) (string, bool, *fieldError) {
	if isNull(raw) {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, fieldErrorf("%s: want a string, got %s", name, snippet(raw))
	}
	return jsonStringValue(raw), true, nil
}

// jsonStringValue unquotes a string literal that json.Unmarshal has
// already checked.
func jsonStringValue(raw json.RawMessage) string {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // cannot fail: the object decoded
	return s
}

// jsonText is the text Op.Key, Op.Node, Op.Error and Op.TxID take from any
// JSON value: a string's contents, a number's digits, compact JSON for
// anything else.
func jsonText(raw json.RawMessage) string {
	switch {
	case isNull(raw):
		return ""
	case raw[0] == '"':
		return jsonStringValue(raw)
	case raw[0] == '[' || raw[0] == '{':
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return buf.String()
		}
	}
	return string(raw)
}

// jsonValue decodes a value as encoding/json does with UseNumber, with
// fast paths for the scalars most ops carry.
func jsonValue(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '"':
		return jsonStringValue(raw), nil
	case '[', '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		err := dec.Decode(&v)
		return v, err
	}
	return json.Number(raw), nil
}

func parseType(s string) (Type, *fieldError) {
	switch t := Type(s); t {
	case Invoke, OK, Fail, Info:
		return t, nil
	}
	return "", fieldErrorf("unknown type %q: want invoke, ok, fail or info", s)
}

// snippet quotes the start of b for an error message.
func snippet(b []byte) string {
	const max = 40
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}

// readEDN reads Jepsen EDN: top-level op maps, or top-level vectors or
// lists of op maps.
func (b *builder) readEDN(data []byte) error {
	p := newEDNParser(data)
	for {
		line := p.line
		done, err := p.atEOF()
		if err != nil {
			return b.ednFailure(err, line)
		}
		if done {
			return nil
		}
		c := p.data[p.pos]
		if c != '[' && c != '(' {
			if stop, err := b.ednOp(p); stop || err != nil {
				return err
			}
			continue
		}
		closer := byte(']')
		if c == '(' {
			closer = ')'
		}
		p.pos++
		for {
			line := p.line
			done, err := p.atEOF()
			if err != nil {
				return b.ednFailure(err, line)
			}
			if done {
				b.warnings = append(b.warnings, Warning{File: b.file, Line: p.line, Msg: "vector of ops has no closing bracket (did the writer crash?)"})
				return nil
			}
			if p.data[p.pos] == closer {
				p.pos++
				break
			}
			if stop, err := b.ednOp(p); stop || err != nil {
				return err
			}
		}
	}
}

// ednOp reads one op map at p.pos. stop is true when the op was cut off
// by the end of the input and reading ends with a warning.
func (b *builder) ednOp(p *ednParser) (stop bool, err error) {
	start, line := p.pos, p.line
	op, has, err := p.op()
	if err != nil {
		if e, ok := err.(*ednError); ok && e.eof && lastLine(p.data, start) {
			b.warnTruncated(line)
			return true, nil
		}
		return false, b.ednFailure(err, line)
	}
	return false, b.add(op, has, line)
}

// ednFailure reports err at the line where the op starts, naming the line
// of the defect when it is elsewhere.
func (b *builder) ednFailure(err error, line int) error {
	e, ok := err.(*ednError)
	if !ok {
		return b.errorAt(line, "%v", err)
	}
	if e.line != line {
		return b.errorAt(line, "%s (line %d)", e.msg, e.line)
	}
	return b.errorAt(line, "%s", e.msg)
}

// op reads one op map, optionally tagged (#jepsen.history.Op{…}).
func (p *ednParser) op() (Op, opFields, error) {
	var op Op
	var has opFields
	if c := p.data[p.pos]; c == '#' && p.pos+1 < len(p.data) && p.data[p.pos+1] != '{' && p.data[p.pos+1] != '#' {
		p.token()
		if err := p.skip(); err != nil {
			return op, has, err
		}
		if p.pos >= len(p.data) {
			return op, has, p.eofError("tagged op")
		}
	}
	if p.data[p.pos] != '{' {
		start := p.pos
		if _, _, err := p.value(); err != nil {
			return op, has, err
		}
		return op, has, p.errorf("want an op map, got %s", snippet(p.data[start:p.pos]))
	}
	err := p.mapEntries(func(key string, v any, kind ednKind, raw []byte) error {
		if ferr := setEDNField(&op, &has, key, v, kind, raw); ferr != nil {
			return p.errorf("%s", ferr.msg)
		}
		return nil
	})
	return op, has, err
}

// ednName is the name a keyword, symbol or string gives a type, f or
// process.
func ednName(v any, kind ednKind) (string, bool) {
	if kind == ednKeyword || kind == ednString || kind == ednSymbol {
		return v.(string), true
	}
	return "", false
}

func setEDNField(op *Op, has *opFields, key string, v any, kind ednKind, raw []byte) *fieldError {
	if kind == ednNil {
		return nil // Knossos writes :value nil; any nil field is an absent one
	}
	switch key {
	case "index", "time":
		if kind != ednInt {
			return fieldErrorf("%s: want an integer, got %s", key, snippet(raw))
		}
		n, err := strconv.ParseInt(string(v.(json.Number)), 10, 64)
		if err != nil {
			return fieldErrorf("%s: %s does not fit in 64 bits", key, raw)
		}
		if key == "time" {
			op.Time = n
			return nil
		}
		if n < 0 {
			return fieldErrorf("index: want a non-negative integer, got %d", n)
		}
		op.Index, has.index = n, true
	case "type":
		s, ok := ednName(v, kind)
		if !ok {
			return fieldErrorf("type: want a keyword, got %s", snippet(raw))
		}
		t, err := parseType(s)
		if err != nil {
			return err
		}
		op.Type, has.typ = t, true
	case "process":
		if s, ok := ednName(v, kind); ok && s == "nemesis" {
			op.Process, has.process = NemesisProcess, true
			return nil
		}
		if kind != ednInt {
			return fieldErrorf("process: want an integer or :nemesis, got %s", snippet(raw))
		}
		n, err := strconv.ParseInt(string(v.(json.Number)), 10, 64)
		if err != nil {
			return fieldErrorf("process: %s does not fit in 64 bits", raw)
		}
		op.Process, has.process = n, true
	case "f":
		s, ok := ednName(v, kind)
		if !ok {
			return fieldErrorf("f: want a keyword, got %s", snippet(raw))
		}
		op.F, has.f = s, true
	case "key":
		op.Key = ednText(v, kind, raw)
	case "value":
		op.Value = v
	case "tx-id", "tx_id":
		op.TxID = ednText(v, kind, raw)
	case "node":
		op.Node = ednText(v, kind, raw)
	case "error":
		op.Error = ednText(v, kind, raw)
	}
	return nil
}
