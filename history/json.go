package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// json.go reads JSON Lines and JSON arrays of ops.

// readJSONL reads one op object per line, streaming.
func (b *builder) readJSONL(br *bufio.Reader) error {
	var long []byte
	line := 0
	var cut *ParseError // an op the input ended inside of: a warning if nothing follows
	for {
		text, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], text...)
			for err == bufio.ErrBufferFull && len(long) <= maxLineBytes {
				text, err = br.ReadSlice('\n')
				long = append(long, text...)
			}
			text = long
			if len(text) > maxLineBytes {
				return b.errorAt(line+1, "line longer than %d MiB: not a history line", maxLineBytes>>20)
			}
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read %s: %w", b.file, err)
		}
		if len(text) == 0 && err == io.EOF {
			break
		}
		line++
		b.read += int64(len(text))
		if line == 1 {
			text = bytes.TrimPrefix(text, bom)
		}
		text = bytes.TrimSpace(text)
		if len(text) > 0 {
			if cut != nil {
				return cut
			}
			op, has, ferr := b.decodeOp(text)
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
	b.size = int64(len(data))
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
		err := dec.Decode(&raw)
		b.read = dec.InputOffset()
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) && lastLine(data, start) {
				b.warnTruncated(l)
				return nil
			}
			return b.errorAt(l, "invalid JSON: %v", err)
		}
		op, has, ferr := b.decodeOp(raw)
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

// maxLineBytes bounds one JSONL line, so that input without newlines (a
// device, a binary file) cannot take all memory.
const maxLineBytes = 256 << 20

// decodeOp decodes one op object: the one-pass scanner when the line has
// the usual shape, else decodeJSONOp, which also words the errors.
func (b *builder) decodeOp(text []byte) (Op, opFields, *fieldError) {
	if b.scan == nil {
		b.scan = newOpScanner(b.strs)
	}
	if op, has, ok := b.scan.scanOp(text); ok {
		return op, has, nil
	}
	return decodeJSONOp(text, b.strs)
}

// jsonOp holds an op object's fields as undecoded JSON, nil when absent,
// so that each is checked with a message that names it.
type jsonOp struct {
	index, time, typ, process, f, key, value, txID, node, err []byte
}

// decodeJSONOp decodes one op object. Field names match exactly, unlike
// encoding/json's case-insensitive struct fields; unknown fields are
// ignored (Jepsen ops carry extras such as :debug).
func decodeJSONOp(text []byte, strs interner) (Op, opFields, *fieldError) {
	var op Op
	var has opFields
	if text[0] != '{' {
		return op, has, fieldErrorf("want an op object, got %s", snippet(text))
	}
	if !json.Valid(text) {
		// A Decoder tells an input that merely ends too soon from a bad one.
		var v any
		if err := json.NewDecoder(bytes.NewReader(text)).Decode(&v); errors.Is(err, io.ErrUnexpectedEOF) {
			return op, has, &fieldError{msg: "invalid JSON: the op object ends before its closing }", eof: true}
		}
		err := json.Unmarshal(text, &v)
		return op, has, fieldErrorf("invalid JSON: %v", err)
	}
	// encoding/json turns invalid UTF-8 and lone surrogates into U+FFFD,
	// which would make keys "k\xff" and "k\xfe" one key: a wrong verdict.
	if err := checkUTF8(text); err != nil {
		return op, has, err
	}
	if esc, ok := loneSurrogate(text); ok {
		return op, has, fieldErrorf("string holds %s, half of a UTF-16 surrogate pair: histories must be valid Unicode", esc)
	}
	var j jsonOp
	for k, v := range jsonFields(text) {
		switch k {
		case "index":
			j.index = v
		case "time":
			j.time = v
		case "type":
			j.typ = v
		case "process":
			j.process = v
		case "f":
			j.f = v
		case "key":
			j.key = v
		case "value":
			j.value = v
		case "tx_id", "tx-id":
			j.txID = v
		case "node":
			j.node = v
		case "error":
			j.err = v
		}
	}
	var err *fieldError
	if op.Index, has.index, err = jsonInt("index", j.index); err != nil {
		return op, has, err
	}
	if op.Index < 0 {
		return op, has, fieldErrorf("index: want a non-negative integer, got %s", j.index)
	}
	if op.Time, _, err = jsonInt("time", j.time); err != nil {
		return op, has, err
	}
	var typ string
	if typ, has.typ, err = jsonString("type", j.typ, strs); err != nil {
		return op, has, err
	}
	if has.typ {
		if op.Type, err = parseType(typ); err != nil {
			return op, has, err
		}
	}
	if isNull(j.process) {
		// missing
	} else if j.process[0] == '"' {
		if s := jsonStringValue(j.process); s != "nemesis" && s != ":nemesis" {
			return op, has, fieldErrorf("process: want an integer or \"nemesis\", got %s", snippet(j.process))
		}
		op.Process, has.process = NemesisProcess, true
	} else if op.Process, has.process, err = jsonInt("process", j.process); err != nil {
		return op, has, fieldErrorf("process: want an integer or \"nemesis\", got %s", snippet(j.process))
	}
	if op.F, has.f, err = jsonString("f", j.f, strs); err != nil {
		return op, has, err
	}
	op.Key = jsonText(j.key, strs)
	op.TxID = jsonText(j.txID, nil)
	op.Node = jsonText(j.node, strs)
	op.Error = jsonText(j.err, strs)
	op.Value = jsonValue(j.value)
	return op, has, nil
}

func isNull(raw []byte) bool { return len(raw) == 0 || raw[0] == 'n' }

func jsonInt(name string, raw []byte) (int64, bool, *fieldError) {
	if isNull(raw) {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, fieldErrorf("%s: want an integer, got %s", name, snippet(raw))
	}
	return n, true, nil
}

func jsonString(name string, raw []byte, strs interner) (string, bool, *fieldError) {
	if isNull(raw) {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, fieldErrorf("%s: want a string, got %s", name, snippet(raw))
	}
	return jsonStringText(raw, strs), true, nil
}

// jsonStringText is jsonStringValue, interned when strs is not nil.
func jsonStringText(raw []byte, strs interner) string {
	body := raw[1 : len(raw)-1]
	if strs != nil && bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return strs.get(body)
	}
	return jsonStringValue(raw)
}

// jsonText is the text Op.Key, Op.Node, Op.Error and Op.TxID take from any
// JSON value: a string's contents, a number's digits, compact JSON for
// anything else.
func jsonText(raw []byte, strs interner) string {
	switch {
	case isNull(raw):
		return ""
	case raw[0] == '"':
		return jsonStringText(raw, strs)
	case raw[0] == '[' || raw[0] == '{':
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			return buf.String()
		}
	}
	if strs != nil {
		return strs.get(raw)
	}
	return string(raw)
}

// The functions below walk JSON that json.Valid has accepted, so they
// need no error paths. They exist because encoding/json's reflection and
// per-value Decoder made reading a 1M-op history several times slower.

// jsonFields yields the members of a valid JSON object; a field named
// twice yields twice, and the last wins as in encoding/json.
func jsonFields(obj []byte) func(yield func(string, []byte) bool) {
	return func(yield func(string, []byte) bool) {
		i := skipJSONSpace(obj, 1)
		for obj[i] != '}' {
			kend := jsonEnd(obj, i)
			var key string
			if raw := obj[i+1 : kend-1]; bytes.IndexByte(raw, '\\') < 0 {
				key = string(raw) // no allocation when only compared
			} else {
				key = jsonStringValue(obj[i:kend])
			}
			i = skipJSONSpace(obj, kend)
			i = skipJSONSpace(obj, i+1) // past ':'
			vend := jsonEnd(obj, i)
			if !yield(key, obj[i:vend]) {
				return
			}
			i = skipJSONSpace(obj, vend)
			if obj[i] == ',' {
				i = skipJSONSpace(obj, i+1)
			}
		}
	}
}

// jsonEnd returns the index just past the valid JSON value at b[i].
func jsonEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; ; i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = jsonEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && !isJSONSpace(b[i]) {
		i++
	}
	return i
}

// checkUTF8 rejects text that is not UTF-8, naming the first bad byte.
func checkUTF8(text []byte) *fieldError {
	if utf8.Valid(text) {
		return nil
	}
	i := invalidUTF8At(text)
	return fieldErrorf("invalid UTF-8 (byte 0x%02x at column %d): histories must be UTF-8 text", text[i], i+1)
}

// invalidUTF8At is the offset of the first byte of b that is not part of
// valid UTF-8, or len(b).
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// loneSurrogate finds a \uXXXX escape in valid JSON that is half of a
// UTF-16 surrogate pair with no other half.
func loneSurrogate(b []byte) (string, bool) {
	hex := func(i int) rune {
		n, _ := strconv.ParseUint(string(b[i:i+4]), 16, 16) // valid JSON: four hex digits
		return rune(n)
	}
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \\ or \" : skip the escaped byte
			continue
		}
		r := hex(i + 2)
		if r >= 0xD800 && r < 0xDC00 && i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if lo := hex(i + 8); lo >= 0xDC00 && lo < 0xE000 {
				i += 11
				continue
			}
		}
		if r >= 0xD800 && r < 0xE000 {
			return string(b[i : i+6]), true
		}
		i += 5
	}
	return "", false
}

// jsonStringValue unquotes a valid JSON string literal.
func jsonStringValue(raw []byte) string {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var s string
	_ = json.Unmarshal(raw, &s) // cannot fail: raw is valid
	return s
}

// jsonValue decodes a valid JSON value, or nothing, as encoding/json does
// into an interface with UseNumber.
func jsonValue(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	v, _ := jsonParse(raw, 0)
	return v
}

// jsonParse decodes the valid JSON value at b[i] and returns the index
// just past it.
func jsonParse(b []byte, i int) (any, int) {
	switch b[i] {
	case 'n':
		return nil, i + 4
	case 't':
		return true, i + 4
	case 'f':
		return false, i + 5
	case '"':
		end := jsonEnd(b, i)
		return jsonStringValue(b[i:end]), end
	case '[':
		s := make([]any, 0, 4)
		i = skipJSONSpace(b, i+1)
		for b[i] != ']' {
			var v any
			v, i = jsonParse(b, i)
			s = append(s, v)
			if i = skipJSONSpace(b, i); b[i] == ',' {
				i = skipJSONSpace(b, i+1)
			}
		}
		return s, i + 1
	case '{':
		m := make(map[string]any)
		i = skipJSONSpace(b, i+1)
		for b[i] != '}' {
			kend := jsonEnd(b, i)
			k := jsonStringValue(b[i:kend])
			i = skipJSONSpace(b, kend)
			i = skipJSONSpace(b, i+1) // past ':'
			m[k], i = jsonParse(b, i)
			if i = skipJSONSpace(b, i); b[i] == ',' {
				i = skipJSONSpace(b, i+1)
			}
		}
		return m, i + 1
	}
	end := jsonEnd(b, i)
	return json.Number(b[i:end]), end
}
