package history

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// edn.go reads the EDN that Jepsen and Knossos write: maps, vectors,
// lists, sets, keywords, symbols, strings, characters, numbers, nil and
// booleans, tagged values (#jepsen.history.Op{…}, #inst "…"), comments and
// #_ discards. It is hand-written because the design rules out adding a
// module for it, and it normalizes as it parses (see Op): a checker never
// sees an EDN-specific type.

// ednKind is what a parsed value was in the source, which the normalized
// Go value no longer says (a keyword and a string both become string).
type ednKind uint8

const (
	ednNil ednKind = iota
	ednBool
	ednInt
	ednFloat
	ednString
	ednKeyword
	ednSymbol
	ednChar
	ednVector
	ednList
	ednSet
	ednMap
)

// ednMaxDepth bounds nesting so hostile input cannot exhaust the stack;
// real op values are a few levels deep.
const ednMaxDepth = 1000

// ednError is a syntax error. eof marks input that ended inside a form,
// which is what a crashed writer leaves behind.
type ednError struct {
	line int
	msg  string
	eof  bool
}

func (e *ednError) Error() string { return e.msg }

type ednParser struct {
	data  []byte
	pos   int
	line  int // 1-based line of data[pos]
	depth int
	strs  interner          // keywords and symbols; may be nil
	nums  map[string]ednNum // numbers already read, by token; may be nil
	// keywords holds keywords already read, boxed; may be nil.
	keywords map[string]any
}

// ednNum is a number value as value returns it.
type ednNum struct {
	v    any
	kind ednKind
}

func newEDNParser(data []byte) *ednParser { return &ednParser{data: data, line: 1} }

func (p *ednParser) errorf(format string, args ...any) *ednError {
	return &ednError{line: p.line, msg: fmt.Sprintf(format, args...)}
}

func (p *ednParser) eofError(what string) *ednError {
	return &ednError{line: p.line, msg: "unexpected end of input in " + what, eof: true}
}

func isEDNSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '\f' || c == '\v'
}

// isEDNDelim reports whether c ends a token (symbol, keyword, number).
func isEDNDelim(c byte) bool {
	switch c {
	case '(', ')', '[', ']', '{', '}', '"', ';', '\\':
		return true
	}
	return isEDNSpace(c)
}

// skip passes whitespace, commas, comments and #_ discarded forms.
func (p *ednParser) skip() error {
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '\n':
			p.line++
			p.pos++
		case isEDNSpace(c):
			p.pos++
		case c == ';':
			for p.pos < len(p.data) && p.data[p.pos] != '\n' {
				p.pos++
			}
		case c == '#' && p.pos+1 < len(p.data) && p.data[p.pos+1] == '_':
			p.pos += 2
			if err := p.discard(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// discard parses and drops the form after #_.
func (p *ednParser) discard() error {
	if err := p.enter(); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	if err := p.skip(); err != nil {
		return err
	}
	if p.pos >= len(p.data) {
		return p.eofError("#_ discard")
	}
	_, _, err := p.value()
	return err
}

// atEOF skips ignorable input and reports whether nothing is left.
func (p *ednParser) atEOF() (bool, error) {
	if err := p.skip(); err != nil {
		return false, err
	}
	return p.pos >= len(p.data), nil
}

// value parses one form at p.pos, which must not be ignorable input.
func (p *ednParser) value() (any, ednKind, error) {
	if p.pos >= len(p.data) {
		return nil, ednNil, p.eofError("value")
	}
	switch c := p.data[p.pos]; c {
	case '"':
		s, err := p.str()
		return s, ednString, err
	case '[':
		v, err := p.seq(']', "vector")
		return v, ednVector, err
	case '(':
		v, err := p.seq(')', "list")
		return v, ednList, err
	case '{':
		m, err := p.mapValue()
		return m, ednMap, err
	case '\\':
		s, err := p.char()
		return s, ednChar, err
	case '#':
		return p.dispatch()
	case ')', ']', '}':
		return nil, ednNil, p.errorf("unexpected %q", c)
	case ':':
		tok := p.tokenBytes()
		name := bytes.TrimLeft(tok, ":")
		if len(name) == 0 {
			return nil, ednNil, p.errorf("empty keyword %q", tok)
		}
		if v, ok := p.keywords[string(name)]; ok {
			return v, ednKeyword, nil
		}
		var v any = p.text(name) // boxed once per distinct keyword
		if p.keywords != nil && len(p.keywords) < maxInterned {
			p.keywords[v.(string)] = v
		}
		return v, ednKeyword, nil
	}
	tok := p.text(p.tokenBytes())
	if tok == "" {
		return nil, ednNil, p.errorf("unexpected %q", p.data[p.pos])
	}
	switch tok {
	case "nil":
		return nil, ednNil, nil
	case "true":
		return true, ednBool, nil
	case "false":
		return false, ednBool, nil
	}
	c := tok[0]
	if c >= '0' && c <= '9' || (c == '-' || c == '+') && len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9' {
		if n, ok := p.nums[tok]; ok {
			return n.v, n.kind, nil
		}
		n, kind, err := ednNumber(tok)
		if err != nil {
			return nil, ednNil, p.errorf("%v", err)
		}
		var v any = n // boxed once per distinct number: values are immutable
		if p.nums != nil && len(p.nums) < maxInterned {
			p.nums[tok] = ednNum{v, kind}
		}
		return v, kind, nil
	}
	return tok, ednSymbol, nil
}

// tokenBytes reads the run of non-delimiter bytes at p.pos.
func (p *ednParser) tokenBytes() []byte {
	start := p.pos
	p.pos++ // the first byte may be ':' or '#', never a delimiter here
	for p.pos < len(p.data) && !isEDNDelim(p.data[p.pos]) {
		p.pos++
	}
	return p.data[start:p.pos]
}

func (p *ednParser) token() string { return validText(p.tokenBytes()) }

// text is b as valid UTF-8, shared with earlier equal tokens.
func (p *ednParser) text(b []byte) string {
	if utf8.Valid(b) {
		return p.strs.get(b)
	}
	return validText(b)
}

// validText returns b as a string, replacing invalid UTF-8 as
// encoding/json does, so a value reads the same from EDN and from JSON.
func validText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (p *ednParser) enter() error {
	p.depth++
	if p.depth > ednMaxDepth {
		return p.errorf("nesting deeper than %d", ednMaxDepth)
	}
	return nil
}

// seq parses a vector, list or set body into a non-nil []any; p.pos is at
// the opening bracket.
func (p *ednParser) seq(closer byte, what string) ([]any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++
	out := make([]any, 0, 4)
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos >= len(p.data) {
			return nil, p.eofError(what)
		}
		if p.data[p.pos] == closer {
			p.pos++
			return out, nil
		}
		v, _, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// mapEntries parses a map body, p.pos at '{', calling each for every
// entry with the key's text, the value, its kind and its source text.
func (p *ednParser) mapEntries(each func(key string, v any, kind ednKind, raw []byte) error) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer func() { p.depth-- }()
	p.pos++
	for {
		if err := p.skip(); err != nil {
			return err
		}
		if p.pos >= len(p.data) {
			return p.eofError("map")
		}
		if p.data[p.pos] == '}' {
			p.pos++
			return nil
		}
		kstart := p.pos
		k, kkind, err := p.value()
		if err != nil {
			return err
		}
		key := ednText(k, kkind, p.data[kstart:p.pos])
		if err := p.skip(); err != nil {
			return err
		}
		if p.pos >= len(p.data) {
			return p.eofError("map")
		}
		if p.data[p.pos] == '}' {
			return p.errorf("map key %q has no value", key)
		}
		vstart := p.pos
		v, vkind, err := p.value()
		if err != nil {
			return err
		}
		if err := each(key, v, vkind, p.data[vstart:p.pos]); err != nil {
			return err
		}
	}
}

func (p *ednParser) mapValue() (map[string]any, error) {
	m := make(map[string]any)
	err := p.mapEntries(func(key string, v any, _ ednKind, _ []byte) error {
		m[key] = v
		return nil
	})
	return m, err
}

// ednText is the text Op.Key, Op.Node, Op.Error and Op.TxID take from any
// EDN value: a string's contents, a keyword without its colon, a number's
// digits, and the source text of anything else.
func ednText(v any, kind ednKind, raw []byte) string {
	switch kind {
	case ednNil:
		return ""
	case ednString, ednKeyword, ednSymbol, ednChar:
		return v.(string)
	case ednInt, ednFloat:
		return string(v.(json.Number))
	case ednBool:
		return strconv.FormatBool(v.(bool))
	}
	return validText(raw)
}

// dispatch parses a form starting with '#': a set, a symbolic value
// (##Inf) or a tagged value, whose tag is dropped (#jepsen.history.Op{…}
// reads as the map, #inst "…" as the string).
func (p *ednParser) dispatch() (any, ednKind, error) {
	if p.pos+1 >= len(p.data) {
		p.pos++
		return nil, ednNil, p.eofError("# form")
	}
	switch p.data[p.pos+1] {
	case '{':
		p.pos++
		v, err := p.seq('}', "set")
		return v, ednSet, err
	case '#':
		// ##Inf, ##-Inf, ##NaN have no JSON number; keep their text.
		return p.token(), ednSymbol, nil
	}
	if err := p.enter(); err != nil {
		return nil, ednNil, err
	}
	defer func() { p.depth-- }()
	tag := p.token()
	if len(tag) < 2 {
		return nil, ednNil, p.errorf("bad tag %q", tag)
	}
	if err := p.skip(); err != nil {
		return nil, ednNil, err
	}
	if p.pos >= len(p.data) {
		return nil, ednNil, p.eofError("tagged value " + tag)
	}
	return p.value()
}

// str parses a string literal at p.pos.
func (p *ednParser) str() (string, error) {
	startLine := p.line
	p.pos++
	start := p.pos
	// Fast path: no escapes.
	for i := p.pos; i < len(p.data); i++ {
		c := p.data[i]
		if c == '\\' {
			break
		}
		if c == '"' {
			s := validText(p.data[start:i])
			p.line += strings.Count(s, "\n")
			p.pos = i + 1
			return s, nil
		}
	}
	var b strings.Builder
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch c {
		case '"':
			p.pos++
			return strings.ToValidUTF8(b.String(), "\uFFFD"), nil
		case '\n':
			p.line++
		case '\\':
			p.pos++
			if p.pos >= len(p.data) {
				return "", &ednError{line: startLine, msg: "unterminated string", eof: true}
			}
			e := p.data[p.pos]
			p.pos++
			switch e {
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				b.WriteRune(r)
			default:
				return "", p.errorf("bad escape \\%c in string", e)
			}
			continue
		}
		b.WriteByte(c)
		p.pos++
	}
	return "", &ednError{line: startLine, msg: "unterminated string", eof: true}
}

// hex4 reads the XXXX of \uXXXX (p.pos just past the u), joining a UTF-16
// surrogate pair when one follows.
func (p *ednParser) hex4() (rune, error) {
	read := func() (rune, error) {
		if p.pos+4 > len(p.data) {
			return 0, p.eofError("\\u escape")
		}
		n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
		if err != nil {
			return 0, p.errorf("bad \\u escape %q", p.data[p.pos:p.pos+4])
		}
		p.pos += 4
		return rune(n), nil
	}
	r, err := read()
	if err != nil {
		return 0, err
	}
	if r >= 0xD800 && r < 0xDC00 && p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
		save := p.pos
		p.pos += 2
		lo, err := read()
		if err == nil && lo >= 0xDC00 && lo < 0xE000 {
			return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), nil
		}
		p.pos = save
	}
	if r >= 0xD800 && r < 0xE000 {
		// U+FFFD in its place would make two different strings one.
		return 0, p.errorf("\\u%04X is half of a UTF-16 surrogate pair: histories must be valid Unicode", r)
	}
	return r, nil
}

var ednCharNames = map[string]string{
	"newline": "\n", "space": " ", "tab": "\t", "return": "\r",
	"backspace": "\b", "formfeed": "\f",
}

// char parses a character literal (\a, \newline, \u00e9) as a string.
func (p *ednParser) char() (string, error) {
	p.pos++
	if p.pos >= len(p.data) {
		return "", p.eofError("character")
	}
	r, size := utf8.DecodeRune(p.data[p.pos:])
	start := p.pos
	p.pos += size
	if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
		for p.pos < len(p.data) && !isEDNDelim(p.data[p.pos]) {
			p.pos++
		}
	}
	name := string(p.data[start:p.pos])
	if utf8.RuneCountInString(name) == 1 {
		return validText(p.data[start:p.pos]), nil
	}
	if s, ok := ednCharNames[name]; ok {
		return s, nil
	}
	if name[0] == 'u' && len(name) == 5 {
		if n, err := strconv.ParseUint(name[1:], 16, 16); err == nil && (n < 0xD800 || n >= 0xE000) {
			return string(rune(n)), nil
		}
	}
	if name[0] == 'o' && len(name) >= 2 && len(name) <= 4 {
		// Clojure's reader takes octal characters up to \o377.
		if n, err := strconv.ParseUint(name[1:], 8, 16); err == nil && n <= 0377 {
			return string(rune(n)), nil
		}
	}
	return "", p.errorf("unknown character literal \\%s", name)
}

// ednNumber normalizes an EDN number token to a json.Number that
// encoding/json accepts: no '+' sign, no N or M suffix, ratios as floats.
func ednNumber(tok string) (json.Number, ednKind, error) {
	body := tok
	neg := false
	switch body[0] {
	case '+':
		body = body[1:]
	case '-':
		neg = true
		body = body[1:]
	}
	sign := ""
	if neg {
		sign = "-"
	}
	bad := errInvalidNumber(tok)
	if strings.HasSuffix(body, "N") && allDigits(body[:len(body)-1]) {
		body = body[:len(body)-1]
	}
	if allDigits(body) {
		if len(body) > 1 && body[0] == '0' {
			return "", 0, bad // Clojure would read octal; EDN forbids it
		}
		return json.Number(sign + body), ednInt, nil
	}
	if num, den, ok := strings.Cut(body, "/"); ok && allDigits(num) && allDigits(den) {
		n, err1 := strconv.ParseFloat(num, 64)
		d, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || d == 0 {
			return "", 0, bad
		}
		return json.Number(sign + strconv.FormatFloat(n/d, 'g', -1, 64)), ednFloat, nil
	}
	body = strings.TrimSuffix(body, "M")
	if isJSONNumber(body) {
		return json.Number(sign + body), ednFloat, nil
	}
	f, err := strconv.ParseFloat(body, 64)
	if err != nil || math.IsInf(f, 0) || strings.ContainsAny(body, "xX_pP") {
		return "", 0, bad
	}
	return json.Number(sign + strconv.FormatFloat(f, 'g', -1, 64)), ednFloat, nil
}

// errInvalidNumber is ednNumber's error, a type so that numbers that
// parse pay nothing for it (fmt.Errorf per number was a sixth of reading
// an EDN history).
type errInvalidNumber string

func (e errInvalidNumber) Error() string { return fmt.Sprintf("invalid number %q", string(e)) }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether s (without a sign) is a JSON number.
func isJSONNumber(s string) bool {
	i := 0
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// readEDN reads Jepsen EDN: top-level op maps, or top-level vectors or
// lists of op maps.
func (b *builder) readEDN(data []byte) error {
	data = bytes.TrimPrefix(data, bom)
	b.size = int64(len(data))
	b.nilProcess = true
	p := newEDNParser(data)
	p.strs = b.strs
	p.nums, p.keywords = map[string]ednNum{}, map[string]any{}
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
	b.read = int64(p.pos)
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
