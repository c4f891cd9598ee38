package history

import (
	"errors"
	"strings"
	"testing"
)

func mkOp(index int64, typ Type, process int64, f string) Op {
	return Op{Index: index, Type: typ, Process: process, F: f}
}

func TestValidateAcceptsWellFormedHistories(t *testing.T) {
	tests := []struct {
		name string
		h    History
	}{
		{"invoke and ok", History{mkOp(0, Invoke, 0, "read"), mkOp(1, OK, 0, "read")}},
		{"concurrent processes interleave", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Invoke, 1, "write"), mkOp(2, Fail, 0, "read"), mkOp(3, OK, 1, "write")}},
		{"process invokes again after fail", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Fail, 0, "read"), mkOp(2, Invoke, 0, "write")}},
		{"open invocations at the end are indeterminate", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Invoke, 1, "read")}},
		{"crashed process continues under a new number", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Info, 0, "read"), mkOp(2, Invoke, 5, "read")}},
		{"nemesis info/info pairs are not paired", History{mkOp(0, Info, -1, "start"), mkOp(1, Info, -1, "start"), mkOp(2, Invoke, -1, "kill"), mkOp(3, Invoke, -1, "heal")}},
		{"indexes may have gaps", History{mkOp(3, Invoke, 0, "read"), mkOp(10, OK, 0, "read")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.h, nil, "h"); err != nil {
				t.Errorf("Validate(%v): %v", tt.h, err)
			}
		})
	}
}

func TestValidateRejectsMalformedHistories(t *testing.T) {
	tests := []struct {
		name    string
		h       History
		line    int // with lines nil: position + 1
		message string
	}{
		{"completion without invoke", History{mkOp(0, Invoke, 1, "read"), mkOp(1, OK, 0, "read")}, 2, `ok completion of "read" has no open invocation`},
		{"second completion", History{mkOp(0, Invoke, 0, "read"), mkOp(1, OK, 0, "read"), mkOp(2, Fail, 0, "read")}, 3, "no open invocation"},
		{"invoke while in flight", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Invoke, 0, "write")}, 2, `invokes "write" while its "read" invoked at line 1 is still open`},
		{"invoke after info", History{mkOp(0, Invoke, 0, "read"), mkOp(1, Info, 0, "read"), mkOp(2, Invoke, 0, "read")}, 3, "after its info completion at line 2"},
		{"completion with another f", History{mkOp(0, Invoke, 0, "read"), mkOp(1, OK, 0, "write")}, 2, `has f "write" but its invocation at line 1 has f "read"`},
		{"unknown client type", History{mkOp(0, "done", 0, "read")}, 1, `unknown type "done"`},
		{"unknown nemesis type", History{mkOp(0, Info, -1, "start"), mkOp(1, "", -1, "start")}, 2, `unknown type ""`},
		{"index repeats", History{mkOp(0, Invoke, 0, "read"), mkOp(0, OK, 0, "read")}, 2, "indexes must ascend"},
		{"index descends", History{mkOp(5, Invoke, 0, "read"), mkOp(2, OK, 0, "read")}, 2, "indexes must ascend"},
		{"negative index", History{mkOp(-1, Invoke, 0, "read")}, 1, "negative index"},
		{"process below the nemesis", History{mkOp(0, Invoke, -7, "read")}, 1, "process must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.h, nil, "h")
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != "h" || pe.Line != tt.line || !strings.Contains(pe.Msg, tt.message) {
				t.Errorf("Validate(%v) = %v; want h:%d: …%s…", tt.h, err, tt.line, tt.message)
			}
		})
	}
}

func TestValidateReportsSourceLines(t *testing.T) {
	h := History{mkOp(0, Invoke, 0, "read"), mkOp(1, Invoke, 0, "read")}
	err := Validate(h, []int{4, 9}, "history.edn")
	if err == nil || err.Error() != `history.edn:9: op 1 (process 0): invokes "read" while its "read" invoked at line 4 is still open` {
		t.Errorf("Validate(%v, lines 4 and 9) = %v", h, err)
	}
}
