package checker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chaoscheck/chaoscheck/checker"
	_ "github.com/chaoscheck/chaoscheck/checker/elle" // registers list-append and rw-register
	"github.com/chaoscheck/chaoscheck/history"
)

// valueRuleCase is one checker judging one history in which {{V}} stands
// for the value a client wrote and {{R}} for the spelling a read returned:
// want is the verdict when the read returns the written number, in any
// spelling; wantString when it returns the string that spells it.
type valueRuleCase struct {
	checker          string
	opts             checker.Options
	want, wantString checker.Validity
	history          string // JSONL, with {{V}} and {{R}}
}

var valueRuleCases = []valueRuleCase{
	{"linearizable", checker.Options{Model: "register", Init: json.Number("0")}, checker.Valid, checker.Invalid, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"write","key":"k","value":{{V}}}
{"index":1,"time":2,"type":"ok","process":0,"f":"write","key":"k","value":{{V}}}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read","key":"k"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read","key":"k","value":{{R}}}`},
	{"set", checker.Options{}, checker.Valid, checker.Invalid, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"add","value":{{V}}}
{"index":1,"time":2,"type":"ok","process":0,"f":"add","value":{{V}}}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read-all"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read-all","value":[{{R}}]}`},
	{"set-full", checker.Options{}, checker.Valid, checker.Invalid, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"add","value":{{V}}}
{"index":1,"time":2,"type":"ok","process":0,"f":"add","value":{{V}}}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read","value":[{{R}}]}`},
	// A balance, a count or a counter's value that is a string is no
	// number at all: the read is malformed, and the verdict unknown.
	{"bank", checker.Options{Accounts: []string{"a", "b"}}, checker.Valid, checker.Unknown, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"read-balances"}
{"index":1,"time":2,"type":"ok","process":0,"f":"read-balances","value":{"a":{{V}},"b":{{V}}}}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read-balances"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read-balances","value":{"a":{{R}},"b":{{V}}}}`},
	{"txid", checker.Options{}, checker.Valid, checker.Unknown, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","tx_id":"t1","value":{"participants":["p1"]}}
{"index":1,"time":2,"type":"ok","process":0,"f":"txn","tx_id":"t1"}
{"index":2,"time":3,"type":"invoke","process":1,"f":"final-read"}
{"index":3,"time":4,"type":"ok","process":1,"f":"final-read","value":{"p1":{"t1":{{R}}}}}`},
	{"counter", checker.Options{}, checker.Valid, checker.Unknown, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"add","value":{{V}}}
{"index":1,"time":2,"type":"ok","process":0,"f":"add","value":{{V}}}
{"index":2,"time":3,"type":"invoke","process":1,"f":"read"}
{"index":3,"time":4,"type":"ok","process":1,"f":"read","value":{{R}}}`},
	// A read of an element never appended is Elle's garbage read.
	{"list-append", checker.Options{}, checker.Valid, checker.Invalid, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","value":[["append","x",{{V}}]]}
{"index":1,"time":2,"type":"ok","process":0,"f":"txn","value":[["append","x",{{V}}]]}
{"index":2,"time":3,"type":"invoke","process":1,"f":"txn","value":[["r","x",null]]}
{"index":3,"time":4,"type":"ok","process":1,"f":"txn","value":[["r","x",[{{R}}]]]}`},
	// rw-register: the write of 1 failed, so reading 1 is an aborted read
	// (G1a); reading the string "1" reads a value nobody wrote, which links
	// no transaction to another: nothing to judge (Elle's
	// empty-transaction-graph), unknown.
	{"rw-register", checker.Options{}, checker.Invalid, checker.Unknown, `
{"index":0,"time":1,"type":"invoke","process":0,"f":"txn","value":[["w","x",{{V}}]]}
{"index":1,"time":2,"type":"fail","process":0,"f":"txn","value":[["w","x",{{V}}]]}
{"index":2,"time":3,"type":"invoke","process":1,"f":"txn","value":[["r","x",null]]}
{"index":3,"time":4,"type":"ok","process":1,"f":"txn","value":[["r","x",{{R}}]]}`},
}

// TestEveryCheckerComparesValuesByOneRule: whatever a checker compares
// (a register's value, a set element, a balance, an effect-row count, a
// counter's value, a list element, a transactional register), it follows history.ValueKey:
// every numeric spelling of 1 is 1, so each spelling gets the verdict of
// 1; the string "1" is not the number 1, so it never does (the set
// checker once read "1" as 1, and called a lost element present).
func TestEveryCheckerComparesValuesByOneRule(t *testing.T) {
	sameNumber := []string{"1", "1.0", "1e0", "10e-1", "0.1e1", "1.000"}
	for _, tc := range valueRuleCases {
		for _, r := range sameNumber {
			t.Run(fmt.Sprintf("%s/read %s", tc.checker, r), func(t *testing.T) {
				if got := judgeValueRule(t, tc, "1", r); got.Valid != tc.want {
					t.Errorf("%s on a read of %s for a written 1: %v %+v %v, want %v", tc.checker, r, got.Valid, got.Anomalies, got.Notes, tc.want)
				}
			})
		}
		t.Run(tc.checker+`/read "1"`, func(t *testing.T) {
			if got := judgeValueRule(t, tc, "1", `"1"`); got.Valid != tc.wantString || got.Valid == tc.want {
				t.Errorf(`%s on a read of the string "1" for a written 1: %v %+v %v, want %v`, tc.checker, got.Valid, got.Anomalies, got.Notes, tc.wantString)
			}
		})
	}
}

func judgeValueRule(t *testing.T, tc valueRuleCase, v, r string) checker.Result {
	t.Helper()
	text := strings.NewReplacer("{{V}}", v, "{{R}}", r).Replace(tc.history)
	h, warns, err := history.Read(strings.NewReader(strings.TrimSpace(text)), tc.checker+".jsonl")
	if err != nil || len(warns) > 0 {
		t.Fatalf("read: %v %v", err, warns)
	}
	c, err := checker.New(tc.checker, tc.opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.Check(context.Background(), h)
}
