package history

import (
	"encoding/json"
	"strconv"
)

// independent.go unpacks Jepsen's independent-key tuples. Jepsen's
// jepsen.independent runs one workload per key and records every client
// op's value as a tuple [k v]: {:f :write, :value [3 5]} writes 5 to key 3,
// {:f :read, :value [3 nil]} invokes a read of key 3. Per-key checkers
// (kv, set-full) want the key in Op.Key and v in Op.Value.

// UnpackIndependent returns h with every client op's tuple [k v] unpacked
// into Key k and Value v, and true, when h is an independent-key history:
// every client op has no Key and a two-element value whose first element is
// a number or string, at least one op has one. Otherwise it returns h
// itself and false. Nemesis ops are kept as they are. h is not modified.
//
// A history that only ever casts (a cas value is [from to]) looks like an
// independent one; reads, whose values are not pairs, tell them apart.
func UnpackIndependent(h History) (History, bool) {
	tuples := 0
	for i := range h {
		op := &h[i]
		if !op.IsClient() {
			continue
		}
		if _, _, ok := independentTuple(op); !ok {
			return h, false
		}
		tuples++
	}
	if tuples == 0 {
		return h, false
	}
	out := make(History, len(h))
	copy(out, h)
	for i := range out {
		op := &out[i]
		if !op.IsClient() {
			continue
		}
		op.Key, op.Value, _ = independentTuple(op)
	}
	return out, true
}

// independentTuple splits op's value [k v] into the key's text and v.
// Op.Key is text, so a string key "3" and a number key 3 become one key
// here: histories do not mix the two (docs/values.md, Limitations).
func independentTuple(op *Op) (string, any, bool) {
	if op.Key != "" {
		return "", nil, false
	}
	t, ok := op.Value.([]any)
	if !ok || len(t) != 2 {
		return "", nil, false
	}
	switch k := t[0].(type) {
	case json.Number:
		// By value (ValueKey's rule), so [3.0 v] and [3 v] are one key.
		n, err := numberKey(string(k))
		return n, t[1], err == nil
	case string:
		return k, t[1], true
	case int:
		return strconv.Itoa(k), t[1], true
	case int64:
		return strconv.FormatInt(k, 10), t[1], true
	}
	return "", nil, false
}
