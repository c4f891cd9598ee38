package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/chaoscheck/chaoscheck/history"
)

func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: code, Message: "m"}) }
	broken := &net.OpError{Op: "read", Net: "tcp", Err: io.ErrUnexpectedEOF}
	for _, tc := range []struct {
		name string
		err  error
		ph   phase
		want history.Type
	}{
		{"serialization failure at commit", pg("40001"), atCommit, history.Fail},
		{"deadlock at commit", pg("40P01"), atCommit, history.Fail},
		{"serialization failure in a statement", pg("40001"), beforeCommit, history.Fail},
		{"deadlock in a statement", pg("40P01"), beforeCommit, history.Fail},
		{"deferred unique violation at commit", pg("23505"), atCommit, history.Fail},
		{"commit answered ROLLBACK", pgx.ErrTxCommitRollback, atCommit, history.Fail},
		{"connection broken during commit", broken, atCommit, history.Info},
		{"timeout during commit", context.DeadlineExceeded, atCommit, history.Info},
		{"server shutting down during commit", pg("57P01"), atCommit, history.Info},
		{"disk full during commit", pg("53100"), atCommit, history.Info},
		{"unknown error during commit", errors.New("something else"), atCommit, history.Info},
		{"malformed SQLSTATE during commit", pg("4"), atCommit, history.Info},
		{"connect refused before anything was sent", &net.OpError{Op: "dial", Err: errors.New("refused")}, beforeCommit, history.Fail},
		{"connection broken during a statement: no COMMIT sent", broken, beforeCommit, history.Fail},
		{"timeout during a statement: no COMMIT sent", context.DeadlineExceeded, beforeCommit, history.Fail},
		{"unknown error before commit", errors.New("something else"), beforeCommit, history.Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err, tc.ph); got != tc.want {
				t.Errorf("classify(%v, %s) = %s, want %s", tc.err, tc.ph, got, tc.want)
			}
		})
	}
}

func TestParseMops(t *testing.T) {
	kinds := listAppendMops
	for _, tc := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"append and read", []any{[]any{"append", int64(3), int64(1)}, []any{"r", 4, nil}}, true},
		{"numbers from JSON", []any{[]any{"append", 3.0, 1.0}}, true},
		{"empty txn", []any{}, true},
		{"not a list", "txn", false},
		{"short micro-op", []any{[]any{"r", 1}}, false},
		{"unknown f", []any{[]any{"w", 1, 2}}, false},
		{"string key", []any{[]any{"r", "x", nil}}, false},
		{"fractional value", []any{[]any{"append", 1, 1.5}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseMops(tc.v, kinds)
			if (err == nil) != tc.ok {
				t.Errorf("parseMops(%v) error %v, want ok %v", tc.v, err, tc.ok)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	for in, want := range map[string]int{"": 0, "7": 1, "1,2,3": 3} {
		l, err := parseList(in)
		if err != nil || len(l) != want {
			t.Errorf("parseList(%q) = %v, %v; want %d elements", in, l, err, want)
		}
	}
	if _, err := parseList("1,,2"); err == nil {
		t.Error("parseList(1,,2) accepted an empty element")
	}
}
