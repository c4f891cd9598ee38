package raftsql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Command is what goes through the raft log: the statements of one client
// request, applied together in one SQLite transaction on every replica.
type Command struct {
	// RequestID is chosen by the client and is the dedup key: a retry with
	// the same id gets the first result back instead of applying again.
	// Empty means no dedup.
	RequestID string `json:"request_id"`
	Stmts     []Stmt `json:"stmts"`
}

// Stmt is one SQL statement with its positional arguments.
type Stmt struct {
	SQL  string `json:"sql"`
	Args []any  `json:"args,omitempty"`
}

// ExecResult is the outcome of applying one command. A statement that failed
// (constraint, syntax, non-deterministic function) is an outcome too: Error
// is set, Results is empty, and nothing of the command was applied.
type ExecResult struct {
	Results []StmtResult `json:"results"`
	// Index is the log index at which the command took effect; for a
	// duplicate, the index of the first application.
	Index     uint64 `json:"index"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// StmtResult is what SQLite reports for one statement: for a read-only
// statement (SELECT, VALUES, WITH … SELECT) its columns and rows, read
// inside the command's transaction; for any other, the counters.
type StmtResult struct {
	RowsAffected int64    `json:"rows_affected"`
	LastInsertID int64    `json:"last_insert_id"`
	Columns      []string `json:"columns,omitempty"`
	Rows         [][]any  `json:"rows,omitempty"`
}

// Limits on a command, so a bad client cannot make every replica hold a
// huge entry in memory.
const (
	MaxRequestIDLen = 256
	MaxStmts        = 1000
	MaxCommandBytes = 4 << 20
)

// EncodeCommand validates c and encodes it for the log.
func EncodeCommand(c Command) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	if len(b) > MaxCommandBytes {
		return nil, fmt.Errorf("encode command: %d bytes, limit %d", len(b), MaxCommandBytes)
	}
	return b, nil
}

// DecodeCommand decodes a log entry's data. Numbers in Args decode as int64
// when their value is an integer and float64 otherwise, so `1` stays an
// INTEGER in SQLite instead of turning into the REAL 1.0 that plain
// encoding/json would give. JSON does not tell 2.0 from 2, so a float with an
// integral value also arrives as an integer, on every replica alike.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	if len(b) > MaxCommandBytes {
		return c, fmt.Errorf("decode command: %d bytes, limit %d", len(b), MaxCommandBytes)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	if d.More() {
		return Command{}, errors.New("decode command: trailing data")
	}
	for i := range c.Stmts {
		if len(c.Stmts[i].Args) == 0 {
			c.Stmts[i].Args = nil // "args": [] and no args are the same command
		}
		for j, a := range c.Stmts[i].Args {
			v, err := normalizeArg(a)
			if err != nil {
				return Command{}, fmt.Errorf("decode command: stmt %d arg %d: %w", i, j, err)
			}
			c.Stmts[i].Args[j] = v
		}
	}
	if err := c.validate(); err != nil {
		return Command{}, fmt.Errorf("decode command: %w", err)
	}
	return c, nil
}

func (c Command) validate() error {
	if len(c.RequestID) > MaxRequestIDLen {
		return fmt.Errorf("request id is %d bytes, limit %d", len(c.RequestID), MaxRequestIDLen)
	}
	if !utf8.ValidString(c.RequestID) {
		return errors.New("request id is not valid UTF-8")
	}
	if len(c.Stmts) == 0 {
		return errors.New("command has no statements")
	}
	if len(c.Stmts) > MaxStmts {
		return fmt.Errorf("command has %d statements, limit %d", len(c.Stmts), MaxStmts)
	}
	for i, s := range c.Stmts {
		if !utf8.ValidString(s.SQL) {
			return fmt.Errorf("stmt %d: SQL is not valid UTF-8", i)
		}
		for j, a := range s.Args {
			if err := checkArg(a); err != nil {
				return fmt.Errorf("stmt %d arg %d: %w", i, j, err)
			}
		}
	}
	return nil
}

// checkArg accepts the values that survive a JSON round trip unchanged in
// meaning: NULL, booleans, integers, finite floats and UTF-8 strings. Blobs
// ([]byte) would come back as base64 text, so they are refused rather than
// silently changed.
func checkArg(a any) error {
	switch v := a.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint8, uint16, uint32:
		return nil
	case uint:
		if uint64(v) > math.MaxInt64 {
			return fmt.Errorf("integer %d overflows int64", v)
		}
	case uint64:
		if v > math.MaxInt64 {
			return fmt.Errorf("integer %d overflows int64", v)
		}
	case float32:
		return checkFloat(float64(v))
	case float64:
		return checkFloat(v)
	case json.Number:
		_, err := normalizeArg(v)
		return err
	case string:
		if !utf8.ValidString(v) {
			return errors.New("string is not valid UTF-8")
		}
	default:
		return fmt.Errorf("unsupported argument type %T (want null, bool, number or string)", a)
	}
	return nil
}

func checkFloat(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("float %v cannot be encoded", f)
	}
	return nil
}

// normalizeArg turns a decoded JSON value into the Go value bound to SQLite.
func normalizeArg(a any) (any, error) {
	switch v := a.(type) {
	case nil, bool, string:
		return v, nil
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i, nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", v, err)
		}
		if err := checkFloat(f); err != nil {
			return nil, err
		}
		if f == math.Trunc(f) && f >= -(1<<63) && f < (1<<63) {
			return int64(f), nil // 1.0 and 1e3 are the integers JSON cannot tell from 1 and 1000
		}
		return f, nil
	default:
		return nil, fmt.Errorf("unsupported argument type %T (want null, bool, number or string)", a)
	}
}
