package process

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/chaoscheck/chaoscheck/history"
)

// The client protocol, version 1 (docs/own-system.md is the reference a
// user reads). chaoscheck starts the client program once per history
// process and talks to it in JSON lines: one message per line on the
// program's stdin, one answer per line on its stdout. stderr is the
// program's log (clients.log in the run's nodes directory).
//
//	→ {"type":"hello","protocol":1,"process":3,"workload":"register","nodes":[{"name":"n1","addrs":{"http":"127.0.0.1:41001"}}],"keys":["k0","k1"],"op_timeout_ms":2000}
//	← {"type":"ready"}
//	→ {"index":7,"time":1520333,"type":"invoke","process":3,"f":"write","key":"k1","value":4}
//	← {"type":"ok","index":7,"node":"n2"}
//
// The setup session is a hello without "process", then {"type":"setup"},
// answered ok (done), fail or info (not yet: chaoscheck asks again).
const protocolVersion = 1

// hello opens a session.
type hello struct {
	Type     string     `json:"type"` // "hello"
	Protocol int        `json:"protocol"`
	Process  *int64     `json:"process,omitempty"` // nil: the setup session
	Workload string     `json:"workload"`
	Nodes    []nodeInfo `json:"nodes"`
	Keys     []string   `json:"keys,omitempty"` // register: every key, each starting at 0
	// bank: every account ("p1/a1": participant/account), each starting
	// at InitialBalance.
	Accounts       []string `json:"accounts,omitempty"`
	InitialBalance int64    `json:"initial_balance,omitempty"`
	OpTimeoutMS    int64    `json:"op_timeout_ms"`
}

type nodeInfo struct {
	Name  string            `json:"name"`
	Addrs map[string]string `json:"addrs"` // port name → 127.0.0.1:port, direct (clients are not partitioned)
}

// answer is any line the program writes. Unknown fields are a protocol
// error: a misspelt "value" must not turn into a read of nothing.
type answer struct {
	Type  string          `json:"type"`
	Index *int64          `json:"index"`
	Value json.RawMessage `json:"value"` // absent: the invocation's value stands
	Node  string          `json:"node"`
	Error string          `json:"error"`
}

// maxLine bounds one answer line, so a runaway program cannot make
// chaoscheck's memory grow without bound.
const maxLine = 16 << 20

func parseAnswer(b []byte) (answer, error) {
	var a answer
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return a, fmt.Errorf("not a JSON answer (%v): %s", err, quote(b))
	}
	if dec.More() {
		return a, fmt.Errorf("more than one JSON value on the line: %s", quote(b))
	}
	return a, nil
}

// completion turns the program's answer to inv into the op's completion,
// or says why the answer is not one (a protocol error: the outcome is then
// unknown).
func completion(inv history.Op, b []byte) (history.Op, error) {
	a, err := parseAnswer(b)
	if err != nil {
		return inv, err
	}
	switch history.Type(a.Type) {
	case history.OK, history.Fail, history.Info:
	default:
		return inv, fmt.Errorf("type %q is not ok, fail or info: %s", a.Type, quote(b))
	}
	if a.Index == nil || *a.Index != inv.Index {
		got := "none"
		if a.Index != nil {
			got = fmt.Sprint(*a.Index)
		}
		return inv, fmt.Errorf("answered index %s, the op in flight is %d: %s", got, inv.Index, quote(b))
	}
	done := inv
	done.Type, done.Node, done.Error = history.Type(a.Type), a.Node, a.Error
	if a.Value != nil {
		// Decoded as every history reader does: numbers stay json.Number.
		dec := json.NewDecoder(bytes.NewReader(a.Value))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return inv, fmt.Errorf("value: %v: %s", err, quote(b))
		}
		done.Value = v
	}
	return done, nil
}

// quote shows at most 200 bytes of a line in an error.
func quote(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%q…", b[:200])
	}
	return fmt.Sprintf("%q", b)
}
