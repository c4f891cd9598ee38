package raftsql

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Every replica applies each committed command on its own, so a statement
// must evaluate the same everywhere or the replicas diverge. CheckDeterministic
// rejects the SQLite constructs that do not, and the constructs that would
// break the state machine's own transaction or bookkeeping.
//
// It works on tokens, not a parse tree: a small tokenizer that knows string
// literals, quoted identifiers, comments and parameters, so 'random()' in a
// string or a comment is not flagged. Its limits, all on the side of letting
// something through:
//   - a value only known at run time is not seen: date(col) where a row
//     holds 'now', or 'no'||'w' assembled from pieces;
//   - functions are recognised by name followed by "(", so a table or CTE
//     named like one (WITH a AS (…), random(x) AS (…)) is rejected by
//     mistake in the rare positions not recognised as a table name.
//
// Row order without ORDER BY is deterministic here (every replica has the
// same file, page for page, because snapshots copy pages), so it is allowed.

// nondeterministicFuncs maps a function to why it differs between replicas.
var nondeterministicFuncs = map[string]string{
	"random":            "returns a different value on each replica",
	"randomblob":        "returns different bytes on each replica",
	"changes":           "depends on the connection's previous statement",
	"total_changes":     "depends on the connection's history",
	"last_insert_rowid": "depends on the connection's history",
	"sqlite_version":    "may differ between replica binaries",
	"sqlite_source_id":  "may differ between replica binaries",
	"load_extension":    "loads code from the replica's disk",
}

// dateFuncs default to the current time without a time-value argument.
// minArgs is how many arguments they need to be given a time explicitly.
var dateFuncs = map[string]int{
	"date": 1, "time": 1, "datetime": 1, "julianday": 1, "unixepoch": 1,
	"strftime": 2, "timediff": 2,
}

// timeWords are time-value arguments and modifiers that read the clock or
// the replica's time zone.
var timeWords = map[string]bool{"now": true, "localtime": true, "utc": true}

// forbiddenFirst are statements that would step outside the one SQLite
// transaction per command or outside the replicated database.
var forbiddenFirst = map[string]string{
	"begin":     "transaction control",
	"commit":    "transaction control",
	"end":       "transaction control",
	"rollback":  "transaction control",
	"savepoint": "transaction control",
	"release":   "transaction control",
	"attach":    "attaching another database",
	"detach":    "detaching a database",
	"pragma":    "PRAGMA",
	"vacuum":    "VACUUM",
}

// notFuncBefore are tokens after which "name(" is a table or index name
// with a column list, not a function call.
var notFuncBefore = map[string]bool{
	"into": true, "table": true, "references": true, "on": true, "exists": true,
	"view": true, "with": true, "recursive": true, ".": true,
}

// CheckDeterministic returns an error naming the first construct in sql that
// a replica could evaluate differently from another, or that a command must
// not contain. sql must be exactly one statement.
func CheckDeterministic(sql string) error {
	toks, err := tokenize(sql)
	if err != nil {
		return err
	}
	stmt, err := singleStatement(toks)
	if err != nil {
		return err
	}
	_, err = checkTokens(stmt)
	return err
}

// CheckStmt is CheckDeterministic plus the arguments: a date function fed
// 'now' through a parameter reads the clock too.
func CheckStmt(s Stmt) error {
	return analyzeSQL(s.SQL).check(s.Args)
}

// sqlFacts is what applying a statement needs to know of its text.
type sqlFacts struct {
	err      error  // why the text may not be a command's statement
	usesDate bool   // a date function: the arguments must be checked too
	readOnly bool   // IsReadOnly
	kind     string // the first keyword, lower case; "" if none
	// partial: the text names FAIL or ROLLBACK, the conflict resolutions
	// under which a failing statement keeps part of its changes or ends
	// the whole transaction.
	partial bool
}

func analyzeSQL(sql string) sqlFacts {
	f := sqlFacts{readOnly: IsReadOnly(sql)}
	toks, err := tokenize(sql)
	if len(toks) > 0 {
		f.kind = toks[0].lower()
	}
	for _, t := range toks {
		if w := t.lower(); t.kind == tokWord && (w == "fail" || w == "rollback") {
			f.partial = true
		}
	}
	if err != nil {
		f.err = err
		return f
	}
	stmt, err := singleStatement(toks)
	if err != nil {
		f.err = err
		return f
	}
	f.usesDate, f.err = checkTokens(stmt)
	return f
}

// check is CheckStmt of a statement with this text and args.
func (f sqlFacts) check(args []any) error {
	if f.err != nil || !f.usesDate {
		return f.err
	}
	for j, a := range args {
		if s, ok := a.(string); ok && timeWords[strings.ToLower(strings.TrimSpace(s))] {
			return fmt.Errorf("date/time function with argument %d = %q depends on the replica's clock or time zone", j, s)
		}
	}
	return nil
}

// factsCache holds the sqlFacts of the statement texts seen, so that a
// text is tokenized once, not three times per entry on every replica (a
// sixth of applying an upsert, BenchmarkStateMachineApplyBatchOf8Upserts).
// Safe for concurrent use.
type factsCache struct {
	mu sync.Mutex
	m  map[string]sqlFacts
}

// maxCachedFacts bounds the cache; texts past it are analyzed every time.
const maxCachedFacts = 1024

func (c *factsCache) get(sql string) sqlFacts {
	c.mu.Lock()
	f, ok := c.m[sql]
	c.mu.Unlock()
	if ok {
		return f
	}
	f = analyzeSQL(sql)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]sqlFacts{}
	}
	if len(c.m) < maxCachedFacts {
		c.m[sql] = f
	}
	return f
}

// IsReadOnly reports whether sql is a single statement that only reads:
// SELECT, VALUES, EXPLAIN, or WITH … SELECT. The query path enforces it again
// with a read-only connection; this is for choosing /query over /exec.
func IsReadOnly(sql string) bool {
	toks, err := tokenize(sql)
	if err != nil {
		return false
	}
	stmt, err := singleStatement(toks)
	if err != nil {
		return false
	}
	switch stmt[0].lower() {
	case "select", "values", "explain":
		return true
	case "with":
		depth := 0
		for i, t := range stmt {
			switch {
			case t.kind == tokPunct && t.text == "(":
				depth++
			case t.kind == tokPunct && t.text == ")":
				depth--
			case depth == 0 && t.kind == tokWord:
				switch t.lower() {
				case "insert", "update", "delete", "replace":
					if i+1 < len(stmt) && stmt[i+1].text == "(" {
						continue // the replace() function
					}
					return false
				}
			}
		}
		return true
	}
	return false
}

func checkTokens(stmt []token) (usesDate bool, err error) {
	if why, ok := forbiddenFirst[stmt[0].lower()]; ok {
		return false, fmt.Errorf("%s is not allowed in a command (%s)", strings.ToUpper(stmt[0].text), why)
	}
	var timeWord string
	for i, t := range stmt {
		switch t.kind {
		case tokString:
			if w := strings.ToLower(strings.TrimSpace(t.text)); timeWords[w] && timeWord == "" {
				timeWord = t.text
			}
			continue
		case tokWord, tokQuotedIdent:
		default:
			continue
		}
		name := t.lower()
		if strings.HasPrefix(name, "_chaoscheck_") {
			return false, fmt.Errorf("%s is reserved for the state machine's bookkeeping", t.text)
		}
		if t.kind == tokWord {
			switch name {
			case "current_timestamp", "current_date", "current_time":
				return false, fmt.Errorf("%s reads the replica's clock: pass the time as an argument", strings.ToUpper(name))
			case "create":
				if i+1 < len(stmt) {
					if n := stmt[i+1].lower(); n == "temp" || n == "temporary" {
						return false, errors.New("CREATE TEMP is not allowed: temporary objects are not replicated")
					}
				}
			}
		}
		if (name == "temp" || name == "temporary") && i+1 < len(stmt) && stmt[i+1].text == "." {
			return false, fmt.Errorf("schema %s is not replicated", t.text)
		}
		if i+1 >= len(stmt) || stmt[i+1].text != "(" || stmt[i+1].kind != tokPunct {
			continue
		}
		if i > 0 && notFuncBefore[stmt[i-1].lower()] {
			continue
		}
		if why, ok := nondeterministicFuncs[name]; ok {
			return false, fmt.Errorf("non-deterministic function %s(): %s", name, why)
		}
		if minArgs, ok := dateFuncs[name]; ok {
			usesDate = true
			if n := countArgs(stmt[i+1:]); n < minArgs {
				return false, fmt.Errorf("%s() with %d argument(s) reads the replica's clock: pass the time as an argument", name, n)
			}
		}
	}
	if usesDate && timeWord != "" {
		return false, fmt.Errorf("date/time function with '%s' depends on the replica's clock or time zone", timeWord)
	}
	return usesDate, nil
}

// countArgs counts the arguments of the call whose "(" is toks[0].
func countArgs(toks []token) int {
	if len(toks) < 2 || (toks[1].kind == tokPunct && toks[1].text == ")") {
		return 0
	}
	depth, n := 0, 1
	for _, t := range toks {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(":
			depth++
		case ")":
			if depth--; depth == 0 {
				return n
			}
		case ",":
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

// singleStatement returns the tokens of the one statement in toks, without
// trailing semicolons. A CREATE TRIGGER body holds statements of its own,
// so its semicolons count only after the END that closes it.
func singleStatement(toks []token) ([]token, error) {
	end := len(toks)
	from := 0
	if isCreateTrigger(toks) {
		from = triggerEnd(toks)
	}
	for i := from; i < len(toks); i++ {
		if t := toks[i]; t.kind == tokPunct && t.text == ";" {
			end = i
			for _, r := range toks[i+1:] {
				if !(r.kind == tokPunct && r.text == ";") {
					return nil, errors.New("more than one statement: send each as its own Stmt")
				}
			}
			break
		}
	}
	if end == 0 {
		return nil, errors.New("empty statement")
	}
	return toks[:end], nil
}

// isCreateTrigger matches CREATE [TEMP|TEMPORARY] TRIGGER.
func isCreateTrigger(toks []token) bool {
	if len(toks) < 2 || toks[0].kind != tokWord || toks[0].lower() != "create" {
		return false
	}
	for _, t := range toks[1:min(3, len(toks))] {
		if t.kind == tokWord && t.lower() == "trigger" {
			return true
		}
	}
	return false
}

// triggerEnd returns the index just past the END that closes a trigger's
// BEGIN, counting CASE … END inside it; len(toks) if there is none.
func triggerEnd(toks []token) int {
	depth, begun := 0, false
	for i, t := range toks {
		if t.kind != tokWord {
			continue
		}
		switch t.lower() {
		case "begin":
			begun = true
			depth++
		case "case":
			depth++
		case "end":
			if depth--; depth == 0 && begun {
				return i + 1
			}
		}
	}
	return len(toks)
}

type tokKind int

const (
	tokWord        tokKind = iota // keyword or bare identifier
	tokQuotedIdent                // "x", [x], `x`
	tokString                     // 'x' (text unquoted)
	tokBlob                       // x'..'
	tokNumber
	tokParam // ?, ?1, :a, @a, $a
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

func (t token) lower() string { return strings.ToLower(t.text) }

// tokenize splits sql into tokens, dropping whitespace and comments. It
// follows SQLite's lexical rules closely enough to find strings, quoted
// identifiers and comments; an unterminated one is an error.
func tokenize(sql string) ([]token, error) {
	var toks []token
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				i = len(sql) // SQLite accepts an unterminated block comment at the end
				break
			}
			i += 2 + end + 2
		case c == '\'':
			s, n, err := quoted(sql[i:], '\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, s})
			i += n
		case c == '"' || c == '`':
			s, n, err := quoted(sql[i:], c)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokQuotedIdent, s})
			i += n
		case c == '[':
			end := strings.IndexByte(sql[i:], ']')
			if end < 0 {
				return nil, errors.New("unterminated [identifier]")
			}
			toks = append(toks, token{tokQuotedIdent, sql[i+1 : i+end]})
			i += end + 1
		case (c == 'x' || c == 'X') && i+1 < len(sql) && sql[i+1] == '\'':
			s, n, err := quoted(sql[i+1:], '\'')
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokBlob, s})
			i += 1 + n
		case isDigit(c) || (c == '.' && i+1 < len(sql) && isDigit(sql[i+1])):
			j := i + 1
			for j < len(sql) && (isIdentChar(sql[j]) || sql[j] == '.' ||
				((sql[j] == '+' || sql[j] == '-') && (sql[j-1] == 'e' || sql[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{tokNumber, sql[i:j]})
			i = j
		case c == '?' || c == ':' || c == '@' || c == '$':
			j := i + 1
			for j < len(sql) && isIdentChar(sql[j]) {
				j++
			}
			toks = append(toks, token{tokParam, sql[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && isIdentChar(sql[j]) {
				j++
			}
			toks = append(toks, token{tokWord, sql[i:j]})
			i = j
		default:
			toks = append(toks, token{tokPunct, sql[i : i+1]})
			i++
		}
	}
	return toks, nil
}

// quoted reads a literal opened by q at s[0], where a doubled q stands for
// itself. It returns the unquoted text and the bytes consumed.
func quoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, fmt.Errorf("unterminated %c-quoted literal", q)
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) || c == '$' }
