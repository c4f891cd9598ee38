package history

import (
	"encoding/json"
	"unicode/utf8"
)

// json_scan.go decodes op objects in one pass over their bytes: the fast
// path of the JSON readers. decodeJSONOp validates the whole object with
// encoding/json first and then walks it again; on a 1M-op history that
// check alone was a quarter of the read (pprof, BenchmarkReadJSONL), and
// boxing a fresh json.Number for every value most of the allocations.
//
// The scanner handles the shapes a history's lines have: the known fields
// with their usual types, any value made of strings without escapes,
// numbers, literals, arrays and objects. Anything else — an escape, a
// null field, a malformed or cut-off line, a number that needs strconv —
// makes it give up, and the caller decodes the line with decodeJSONOp,
// which accepts or rejects it with the message a person reads. So the
// scanner only ever has to be right about lines it accepts: it must
// accept no line decodeJSONOp rejects, and give what decodeJSONOp gives
// (FuzzScanOpMatchesDecodeJSONOp).

// opScanner holds what a reader shares across the lines of one history.
type opScanner struct {
	strs interner
	// vals shares the boxed value of each distinct short number or string
	// (an `any` holding json.Number "3" points at one allocation, not one
	// per op). Values are immutable, so sharing them is invisible.
	vals map[string]any
	// recent holds, by a cheap hash of their bytes, the strings and values
	// found last: a history repeats a few f's, keys and values millions of
	// times, and a map lookup hashes every byte with the runtime's hash,
	// three times an op (a fifth of decoding a kv history, pprof).
	recentStrs [256]string
	recentVals [256]recentValue
}

type recentValue struct {
	key string // as vals keys it
	v   any
}

// recentSlot is where t goes in the recent tables.
func recentSlot(t []byte) int {
	h := uint32(len(t))
	for _, c := range t {
		h = h*31 + uint32(c)
	}
	return int((h ^ h>>8) & 255)
}

// intern is s.strs.get, through the recent strings.
func (s *opScanner) intern(t []byte) string {
	slot := &s.recentStrs[recentSlot(t)]
	if *slot == string(t) { // no allocation: the compiler sees the comparison
		return *slot
	}
	str := s.strs.get(t)
	*slot = str
	return str
}

// maxSharedValue is the longest number or string text vals keeps.
const maxSharedValue = 32

func newOpScanner(strs interner) *opScanner {
	return &opScanner{strs: strs, vals: map[string]any{}}
}

// scanMaxDepth bounds the nesting the scanner follows; deeper values go to
// decodeJSONOp.
const scanMaxDepth = 64

// scanOp decodes a trimmed line holding one op object. ok is false when
// the scanner gave up; op and has are then meaningless.
func (s *opScanner) scanOp(b []byte) (op Op, has opFields, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return op, has, false
	}
	i := skipJSONSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		return op, has, false // no fields: let decodeJSONOp say which are missing
	}
	for {
		key, j, ok := scanPlainString(b, i)
		if !ok {
			return op, has, false
		}
		i = skipJSONSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			return op, has, false
		}
		i = skipJSONSpace(b, i+1)
		if i >= len(b) {
			return op, has, false
		}
		// null in a field of its own reads as missing (or ""): decodeJSONOp's
		// business. In a value, and in fields nobody reads, it is a value.
		if b[i] == 'n' && nullMeansMissing(key) {
			return op, has, false
		}
		switch string(key) {
		case "index":
			if op.Index, i, ok = scanInt(b, i); !ok || op.Index < 0 {
				return op, has, false
			}
			has.index = true
		case "time":
			if op.Time, i, ok = scanInt(b, i); !ok {
				return op, has, false
			}
		case "type":
			var t []byte
			if t, i, ok = scanPlainString(b, i); !ok {
				return op, has, false
			}
			switch string(t) {
			case "invoke":
				op.Type = Invoke
			case "ok":
				op.Type = OK
			case "fail":
				op.Type = Fail
			case "info":
				op.Type = Info
			default:
				return op, has, false
			}
			has.typ = true
		case "process":
			if b[i] == '"' {
				var t []byte
				if t, i, ok = scanPlainString(b, i); !ok || string(t) != "nemesis" && string(t) != ":nemesis" {
					return op, has, false
				}
				op.Process = NemesisProcess
			} else if op.Process, i, ok = scanInt(b, i); !ok {
				return op, has, false
			}
			has.process = true
		case "f":
			if b[i] != '"' {
				return op, has, false
			}
			if op.F, i, ok = s.scanText(b, i, true); !ok {
				return op, has, false
			}
			has.f = true
		case "key":
			if op.Key, i, ok = s.scanText(b, i, true); !ok {
				return op, has, false
			}
		case "node":
			if op.Node, i, ok = s.scanText(b, i, true); !ok {
				return op, has, false
			}
		case "error":
			if op.Error, i, ok = s.scanText(b, i, true); !ok {
				return op, has, false
			}
		case "tx_id", "tx-id":
			if op.TxID, i, ok = s.scanText(b, i, false); !ok {
				return op, has, false
			}
		case "value":
			if op.Value, i, ok = s.scanValue(b, i, 0); !ok {
				return op, has, false
			}
		default:
			if _, i, ok = s.scanValue(b, i, 0); !ok {
				return op, has, false
			}
		}
		i = skipJSONSpace(b, i)
		if i >= len(b) {
			return op, has, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case '}':
			return op, has, i == len(b)-1
		default:
			return op, has, false
		}
	}
}

func nullMeansMissing(field []byte) bool {
	switch string(field) {
	case "index", "time", "type", "process", "f", "key", "node", "error", "tx_id", "tx-id":
		return true
	}
	return false
}

// scanText decodes a string or number field as jsonText does: a string's
// contents or a number's digits, interned when intern is set.
func (s *opScanner) scanText(b []byte, i int, intern bool) (string, int, bool) {
	var t []byte
	var ok bool
	if b[i] == '"' {
		t, i, ok = scanPlainString(b, i)
	} else {
		start := i
		if i, _, ok = scanNumber(b, i); ok {
			t = b[start:i]
		}
	}
	if !ok {
		return "", i, false
	}
	if intern {
		return s.intern(t), i, true
	}
	return string(t), i, true
}

// scanValue decodes the value at b[i] as jsonParse does.
func (s *opScanner) scanValue(b []byte, i, depth int) (any, int, bool) {
	if i >= len(b) || depth > scanMaxDepth {
		return nil, i, false
	}
	switch c := b[i]; {
	case c == '"':
		t, j, ok := scanPlainString(b, i)
		if !ok {
			return nil, i, false
		}
		return s.shared(t, false), j, true
	case c == '-' || c >= '0' && c <= '9':
		j, _, ok := scanNumber(b, i)
		if !ok {
			return nil, i, false
		}
		return s.shared(b[i:j], true), j, true
	case c == 't':
		return true, i + 4, hasWord(b, i, "true")
	case c == 'f':
		return false, i + 5, hasWord(b, i, "false")
	case c == 'n':
		return nil, i + 4, hasWord(b, i, "null")
	case c == '[':
		var buf [8]any
		elems := buf[:0]
		i = skipJSONSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return make([]any, 0), i + 1, true
		}
		for {
			v, j, ok := s.scanValue(b, i, depth+1)
			if !ok {
				return nil, i, false
			}
			elems = append(elems, v)
			if i = skipJSONSpace(b, j); i >= len(b) {
				return nil, i, false
			}
			switch b[i] {
			case ',':
				i = skipJSONSpace(b, i+1)
			case ']':
				out := make([]any, len(elems)) // exact size: a cas pair is 32 bytes, not 64
				copy(out, elems)
				return out, i + 1, true
			default:
				return nil, i, false
			}
		}
	case c == '{':
		m := map[string]any{}
		i = skipJSONSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			return m, i + 1, true
		}
		for {
			k, j, ok := scanPlainString(b, i)
			if !ok {
				return nil, i, false
			}
			if i = skipJSONSpace(b, j); i >= len(b) || b[i] != ':' {
				return nil, i, false
			}
			v, j, ok := s.scanValue(b, skipJSONSpace(b, i+1), depth+1)
			if !ok {
				return nil, i, false
			}
			m[string(k)] = v
			if i = skipJSONSpace(b, j); i >= len(b) {
				return nil, i, false
			}
			switch b[i] {
			case ',':
				i = skipJSONSpace(b, i+1)
			case '}':
				return m, i + 1, true
			default:
				return nil, i, false
			}
		}
	}
	return nil, i, false
}

// shared returns t as a json.Number or a string in an interface, one
// allocation per distinct short text.
func (s *opScanner) shared(t []byte, number bool) any {
	if len(t) > maxSharedValue {
		if number {
			return json.Number(t)
		}
		return string(t)
	}
	// Numbers and strings never collide: a number's text cannot start
	// with the marker byte.
	key := t
	if !number {
		var buf [maxSharedValue + 1]byte
		buf[0] = 's'
		key = append(buf[:1], t...)
	}
	slot := &s.recentVals[recentSlot(key)]
	if slot.key == string(key) && slot.v != nil {
		return slot.v
	}
	if v, ok := s.vals[string(key)]; ok {
		*slot = recentValue{key: string(key), v: v}
		return v
	}
	var v any
	if number {
		v = json.Number(t)
	} else {
		v = string(t)
	}
	if len(s.vals) < maxInterned {
		s.vals[string(key)] = v
	}
	*slot = recentValue{key: string(key), v: v}
	return v
}

func hasWord(b []byte, i int, w string) bool {
	return len(b)-i >= len(w) && string(b[i:i+len(w)]) == w
}

// scanPlainString returns the contents of the string literal at b[i] when
// it needs no decoding: no escapes, no control characters, valid UTF-8.
func scanPlainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			t := b[i+1 : j]
			if !ascii && !utf8.Valid(t) {
				return nil, i, false
			}
			return t, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, i, false
}

// scanNumber returns the end of the JSON number at b[i] and whether it is
// an integer (no fraction, no exponent), following JSON's grammar exactly.
func scanNumber(b []byte, i int) (end int, isInt, ok bool) {
	digits := func(j int) int {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j
	}
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		j = digits(j)
	default:
		return i, false, false
	}
	isInt = true
	if j < len(b) && b[j] == '.' {
		k := digits(j + 1)
		if k == j+1 {
			return i, false, false
		}
		j, isInt = k, false
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := digits(j)
		if k == j {
			return i, false, false
		}
		j, isInt = k, false
	}
	return j, isInt, true
}

// scanInt reads an integer field of up to 18 digits (longer ones go to
// strconv in decodeJSONOp), in one pass: digits are summed as they are
// checked against JSON's grammar (no leading zero, no fraction or
// exponent, which make it give up).
func scanInt(b []byte, i int) (int64, int, bool) {
	j := i
	neg := j < len(b) && b[j] == '-'
	if neg {
		j++
	}
	start := j
	var n int64
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		n = n*10 + int64(b[j]-'0')
		j++
	}
	digits := j - start
	if digits == 0 || digits > 18 || digits > 1 && b[start] == '0' ||
		j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return 0, i, false
	}
	if neg {
		n = -n
	}
	return n, j, true
}
