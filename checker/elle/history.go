package elle

import (
	"context"
	"fmt"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// history.go turns a history's txn ops into the transactions the analysis
// works on: each a completed (or unfinished) invocation with its micro-ops
// ("mops") decoded once into compact form.

type txnType uint8

const (
	txnOK   txnType = iota // committed
	txnInfo                // may or may not have committed
	txnFail                // certainly did not commit
)

func (t txnType) String() string {
	switch t {
	case txnOK:
		return "ok"
	case txnInfo:
		return "info"
	}
	return "fail"
}

type mopKind uint8

const (
	mopRead mopKind = iota
	mopAppend
	mopWrite
)

// mop is one micro-op. For a list-append read, v is the last element of
// the list read, n its length (-1: the read's value is unknown, as in an
// info op) and hash its hash; for an rw-register read, v is the value read
// (nilVal for nil). el caches the element's index so later passes need no
// map lookups (they dominated the profile).
type mop struct {
	kind mopKind
	key  int32
	n    int32
	el   int32 // list-append: the element appended, or a read's last; -1 none
	v    val
	hash uint64
}

// txn is one transaction: positions of its invocation and completion in
// the history (done -1: it never completed, an info), and its mops.
type txn struct {
	inv, done int32
	typ       txnType
	m0, m1    int32 // mops[m0:m1]
}

// analysis holds what every workload builds: the transactions, key and
// value tables, and what was found outside the dependency graph.
type analysis struct {
	h         history.History
	vals      *values
	keyID     map[val]int32
	keys      []val // key id → key
	txns      []txn
	mops      []mop
	anomalies []checker.Anomaly // non-cycle anomalies, and malformed ops
	counts    map[string]int
	notes     []string
	unjudged  bool // something was skipped: the verdict cannot be valid
}

func newAnalysis(h history.History) *analysis {
	return &analysis{h: h, vals: newValues(), keyID: map[val]int32{},
		counts: map[string]int{"ok": 0, "info": 0, "fail": 0, "mops": 0, "keys": 0, "malformed": 0}}
}

func (a *analysis) key(k val) int32 {
	id, ok := a.keyID[k]
	if !ok {
		id = int32(len(a.keys))
		a.keyID[k] = id
		a.keys = append(a.keys, k)
	}
	return id
}

func (a *analysis) keyText(k int32) string { return a.vals.text(a.keys[k]) }

// op returns the op that stands for t in anomalies: its completion, or its
// invocation when it never completed.
func (a *analysis) op(t int32) *history.Op {
	x := &a.txns[t]
	if x.done >= 0 {
		return &a.h[x.done]
	}
	return &a.h[x.inv]
}

func (a *analysis) opIndex(t int32) int64 { return a.op(t).Index }

// txnValue is the list of mops a transaction is known by: the completion's
// for an ok txn (it holds what the reads returned), otherwise the
// completion's when it has one, else the invocation's.
func (a *analysis) txnValue(t *txn) any {
	if t.done >= 0 && (t.typ == txnOK || a.h[t.done].Value != nil) {
		return a.h[t.done].Value
	}
	return a.h[t.inv].Value
}

// malformed records an op whose value the analysis cannot read; the
// verdict is then at best unknown.
func (a *analysis) malformed(op *history.Op, format string, args ...any) {
	a.counts["malformed"]++
	a.unjudged = true
	if a.counts["malformed"] <= 20 {
		a.anomalies = append(a.anomalies, checker.Anomaly{Kind: "malformed", Ops: []int64{op.Index},
			Detail: fmt.Sprintf(format, args...)})
	}
}

// pair pairs every client txn invocation with its completion, in
// invocation order. A txn is an op with f txn, or any client op whose
// value is a list of micro-ops (Elle reads every client op: Jepsen tests
// such as braft's name their transactions read and write). Other ops are
// counted as ignored: a txn history may hold reads of other workloads.
func (a *analysis) pair() {
	open := make(map[int64]int32)
	for i := range a.h {
		op := &a.h[i]
		if !op.IsClient() {
			continue
		}
		if op.Type == history.Invoke {
			if op.F != "txn" && !history.IsTxnValue(op.Value) {
				a.counts["ignored"]++
				continue
			}
			open[op.Process] = int32(len(a.txns))
			a.txns = append(a.txns, txn{inv: int32(i), done: -1, typ: txnInfo})
			continue
		}
		t, ok := open[op.Process]
		if !ok {
			continue
		}
		delete(open, op.Process)
		a.txns[t].done = int32(i)
		switch op.Type {
		case history.OK:
			a.txns[t].typ = txnOK
		case history.Fail:
			a.txns[t].typ = txnFail
		}
	}
	for i := range a.txns {
		a.counts[a.txns[i].typ.String()]++
	}
}

// decode decodes every transaction's mops with parse, in invocation
// order. A txn whose value cannot be read is reported malformed and
// judged as if it never happened.
func (a *analysis) decode(ctx context.Context, parse func(ti int32, t *txn, mops []any) bool) error {
	// Size the mops once: growing them by append cost five times their
	// size in garbage on a 1M-txn history.
	n := 0
	for i := range a.txns {
		if l, ok := a.txnValue(&a.txns[i]).([]any); ok {
			n += len(l)
		}
	}
	a.mops = make([]mop, 0, n)
	for i := range a.txns {
		if i&0x3fff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		t := &a.txns[i]
		t.m0 = int32(len(a.mops))
		t.m1 = t.m0
		v := a.txnValue(t)
		list, ok := v.([]any)
		if !ok {
			if v == nil && t.typ != txnOK {
				continue // an info or fail without a value: nothing known
			}
			a.malformed(a.op(int32(i)), "txn value %s is not a list of micro-ops", short(v))
			t.typ = txnFail
			continue
		}
		if !parse(int32(i), t, list) {
			a.mops = a.mops[:t.m0]
			t.typ = txnFail
		}
		t.m1 = int32(len(a.mops))
	}
	a.counts["mops"] = len(a.mops)
	a.counts["keys"] = len(a.keys)
	return nil
}

// mopValue returns the v of mop m ([f k v]) of txn t, as the history holds it.
func (a *analysis) mopValue(t *txn, m int32) any {
	list, _ := a.txnValue(t).([]any)
	_, _, v, _ := mopParts(list[m-t.m0])
	return v
}

// mopOf reads micro-op mi of txn ti, [f k v]: its f, key id and raw
// value. A mop of another shape, or whose key is not a scalar, is
// recorded as malformed and ok is false: the caller drops the txn.
func (a *analysis) mopOf(ti int32, mi int, m any) (f string, key int32, v any, ok bool) {
	f, k, v, isMop := mopParts(m)
	if !isMop {
		a.malformed(a.op(ti), "micro-op %d, %s, is not [f k v]", mi, short(m))
		return "", 0, nil, false
	}
	kval, isKey := a.vals.of(k)
	if !isKey {
		a.malformed(a.op(ti), "micro-op %d: key %s is not a scalar", mi, short(k))
		return "", 0, nil, false
	}
	return f, a.key(kval), v, true
}

// mopParts splits a micro-op [f k v] into its parts.
func mopParts(m any) (f string, k, v any, ok bool) {
	l, isList := m.([]any)
	if !isList || len(l) != 3 {
		return "", nil, nil, false
	}
	f, ok = l[0].(string)
	return f, l[1], l[2], ok
}

// short renders a value for a detail line.
func short(v any) string {
	s := fmt.Sprint(v)
	if b, err := jsonText(v); err == nil {
		s = b
	}
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}
