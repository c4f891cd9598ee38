package checker

import (
	"encoding/json"
	"fmt"

	"github.com/anishathalye/porcupine"

	"github.com/chaoscheck/chaoscheck/history"
)

// This file holds the sequential specifications the linearizable checker
// hands to porcupine: Knossos's register and cas-register, one per key, and
// Knossos's mutex, which is a cas-register of two values: acquire is cas
// unlocked→locked, release cas locked→unlocked.

// linKind is what an operation does to a register.
type linKind uint8

const (
	linRead linKind = iota
	linWrite
	linCAS
	linAcquire // a cas unlocked→locked, named for the mutex model
	linRelease // a cas locked→unlocked
)

// The mutex model's two states.
const (
	mutexUnlocked = "unlocked"
	mutexLocked   = "locked"
)

// regValue is one distinct register value. Values are interned per key, so
// equal values (by history.ValueKey, the one value rule) share one
// *regValue: a model state is a *regValue, porcupine's Equal is pointer
// equality and Hash is the id, which lets its cache of (linearized set,
// state) pairs work without rendering or comparing values during the
// search.
type regValue struct {
	id   uint64
	text string // history.ValueKey: the value as a person reads it, 3, "x", [1 2]
}

// regInterner interns one key's values; id 0 is the initial value. Every
// key's interner maps the initial value to the same shared *regValue, so
// one Model.Init serves all keys even when porcupine checks several keys in
// one call.
type regInterner struct {
	m    map[string]int32
	vals []*regValue // by id
	// small holds id+1 of the canonical numbers 0 … len-1 interned so far:
	// the values of most histories, found without rendering a key.
	small [64]int32
}

func newRegInterner(initKey string, init *regValue) *regInterner {
	return &regInterner{m: map[string]int32{initKey: 0}, vals: []*regValue{init}}
}

func (in *regInterner) intern(v any) (int32, error) {
	n, small := regSmall(v)
	if small && in.small[n] > 0 {
		return in.small[n] - 1, nil
	}
	id, err := in.internSlow(v)
	if small && err == nil {
		in.small[n] = id + 1
	}
	return id, err
}

// regSmall tells a json.Number that is the canonical text of an integer
// in 0 … 63 (one digit, or two without a leading zero).
func regSmall(v any) (int, bool) {
	t, ok := v.(json.Number)
	if !ok || len(t) == 0 || len(t) > 2 || t[0] < '0' || t[0] > '9' {
		return 0, false
	}
	n := int(t[0] - '0')
	if len(t) == 2 {
		if n == 0 || t[1] < '0' || t[1] > '9' {
			return 0, false
		}
		n = 10*n + int(t[1]-'0')
	}
	return n, n < 64
}

func (in *regInterner) internSlow(v any) (int32, error) {
	k, err := history.ValueKey(v)
	if err != nil {
		return 0, err
	}
	if id, ok := in.m[k]; ok {
		return id, nil
	}
	id := int32(len(in.vals))
	in.m[k] = id
	in.vals = append(in.vals, &regValue{id: uint64(id), text: k})
	return id, nil
}

// linOp is the input of one porcupine operation (Output is unused: a read's
// result is folded into the input, so Step needs one type assertion).
type linOp struct {
	kind linKind
	// indeterminate marks an info or unfinished write/cas. Its return is at
	// infinity (Knossos): it may take effect at any point after its
	// invocation, or never, which porcupine covers by linearizing it last.
	indeterminate bool
	part          int32     // which key, when porcupine checks several at once
	arg, to       *regValue // read: value read; write: value; cas: from, to
	inv, done     int32     // history positions of invocation and completion (-1: none)
}

// regStep is regStepTyped (linearizable_search.go) on porcupine's boxed
// states and inputs.
func regStep(state, input any) (bool, any) {
	s, op := state.(*regValue), input.(*linOp)
	typed := regOp{kind: op.kind, indeterminate: op.indeterminate, arg: int32(op.arg.id), to: int32(op.to.id)}
	ok, next := regStepTyped(int32(s.id), &typed)
	switch next { // ids are unique within a key, and a search sees one key's values
	case typed.arg:
		return ok, op.arg
	case typed.to:
		return ok, op.to
	}
	return ok, s
}

// regModel is the porcupine model for one or more keys' registers starting
// at init. When search is non-nil and halted, every step fails so that a
// running search unwinds within a few steps; the caller must then read an
// Illegal verdict as unknown. Successful steps are counted in search for
// the memory budget. Visualization replays steps, so it gets a model
// without search. byKey adds a partition function for histories holding
// several keys' operations. h is the history the operations came from,
// for descriptions.
func regModel(init *regValue, search *linSearch, byKey bool, h history.History) porcupine.Model {
	m := porcupine.Model{
		Init: func() any { return init },
		Step: func(state, input, _ any) (bool, any) {
			return regStep(state, input)
		},
		Equal: func(a, b any) bool { return a == b },
		Hash:  func(s any) uint64 { return s.(*regValue).id },
		DescribeOperation: func(input, _ any) string {
			return input.(*linOp).describe()
		},
		DescribeState: func(s any) string { return s.(*regValue).text },
		DescribeOperationMetadata: func(meta any) string {
			if op, ok := meta.(*linOp); ok {
				return fmt.Sprintf("process %d, %s", h[op.inv].Process, op.indexes(h))
			}
			return ""
		},
	}
	if search != nil {
		m.Step = func(state, input, _ any) (bool, any) {
			if search.halted() {
				return false, state
			}
			ok, next := regStep(state, input)
			if ok {
				search.steps.Add(1)
			}
			return ok, next
		}
	}
	if byKey {
		m.Partition = linPartitionByKey
	}
	return m
}

// linPartitionByKey splits operations by key, keeping their order: keys are
// independent registers (Jepsen's independent checker), and porcupine
// checks a history partition by partition.
func linPartitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	at := map[int32]int{}
	var parts [][]porcupine.Operation
	for _, o := range ops {
		k := o.Input.(*linOp).part
		i, ok := at[k]
		if !ok {
			i = len(parts)
			at[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], o)
	}
	return parts
}

// describe renders an operation as Knossos would print it: read 3,
// write 4, cas 1→2, marked when its outcome is unknown.
func (op *linOp) describe() string {
	var s string
	switch op.kind {
	case linRead:
		s = "read " + op.arg.text
	case linWrite:
		s = "write " + op.arg.text
	case linAcquire:
		s = "acquire"
	case linRelease:
		s = "release"
	default:
		s = "cas " + op.arg.text + "→" + op.to.text
	}
	if op.indeterminate {
		s += " (info)"
	}
	return s
}

// indexes names the op's history lines: "index 12→15", or "index 12→?"
// for an invocation the history never completed.
func (op *linOp) indexes(h history.History) string {
	if op.done < 0 {
		return fmt.Sprintf("index %d→?", h[op.inv].Index)
	}
	return fmt.Sprintf("index %d→%d", h[op.inv].Index, h[op.done].Index)
}
