package checker

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/chaoscheck/chaoscheck/history"
	"github.com/chaoscheck/chaoscheck/internal/kvgen"
)

// regSearchHistory builds a small cas-register history on one key from a
// program of bytes: each byte picks a process and what it does next
// (invoke a read, write or cas with small values, or complete its open
// invocation ok, fail or info). When simulate is set, ok results come from
// a real register (the history is linearizable), else reads return values
// the program chooses (mostly not).
func regSearchHistory(prog []byte, simulate bool) history.History {
	const procs = 4
	type open struct {
		f      string
		value  any
		effect bool // simulated: took effect already
	}
	var h history.History
	pending := map[int64]*open{}
	proc := [procs]int64{0, 1, 2, 3}
	reg := 0
	emit := func(op history.Op) {
		op.Index, op.Time = int64(len(h)), int64(len(h))
		h = append(h, op)
	}
	for i, b := range prog {
		p := int(b) % procs
		v := int(b>>2) % 3
		process := proc[p]
		o := pending[process]
		if o == nil {
			o = &open{}
			switch b >> 6 {
			case 0, 1:
				o.f = "read"
			case 2:
				o.f, o.value = "write", json.Number(fmt.Sprint(v))
			default:
				o.f, o.value = "cas", []any{json.Number(fmt.Sprint(v)), json.Number(fmt.Sprint((v + i) % 3))}
			}
			pending[process] = o
			emit(history.Op{Type: history.Invoke, Process: process, F: o.f, Value: o.value})
			continue
		}
		// Simulated registers take effect at some step between invocation
		// and completion: here, at completion, unless the op fails.
		typ := history.OK
		switch b >> 5 & 7 {
		case 0:
			typ = history.Fail
		case 1:
			typ = history.Info
		}
		value := o.value
		if simulate {
			effect := typ == history.OK || typ == history.Info && b&1 == 0
			switch o.f {
			case "read":
				value = json.Number(fmt.Sprint(reg))
			case "write":
				if effect {
					w, _ := o.value.(json.Number).Int64()
					reg = int(w)
				}
			case "cas":
				pair := o.value.([]any)
				from, _ := pair[0].(json.Number).Int64()
				to, _ := pair[1].(json.Number).Int64()
				if int(from) != reg {
					if typ == history.OK {
						typ = history.Fail
					}
				} else if effect {
					reg = int(to)
				}
			}
		} else if o.f == "read" {
			value = json.Number(fmt.Sprint(v))
		}
		delete(pending, process)
		emit(history.Op{Type: typ, Process: process, F: o.f, Value: value})
		if typ == history.Info {
			proc[p] += procs // Jepsen: a crashed process continues under a new number
		}
	}
	return h
}

// regSearchAgrees checks one history's keys with the typed search and with
// porcupine and fails t when they disagree.
func regSearchAgrees(t *testing.T, h history.History) (valid bool) {
	t.Helper()
	lc, err := NewLinearizable(LinearizableOptions{Model: "cas-register", Init: json.Number("0")})
	if err != nil {
		t.Fatal(err)
	}
	c := lc.(*linearizable)
	valid = true
	for i, g := range c.groups(h) {
		typed := regSearch(g.regOps(), nil)
		ref := porcupine.CheckOperations(regModel(c.init, nil, false, h), g.operations(int32(i)))
		if (typed == regSearchOK) != ref {
			t.Fatalf("typed search %v, porcupine linearizable %v, on\n%s", typed, ref, linShow(h))
		}
		valid = valid && ref
	}
	return valid
}

func TestRegSearchMatchesPorcupineOnRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	counts := map[bool]int{}
	for i := range 4000 {
		prog := make([]byte, 4+rng.IntN(40))
		for j := range prog {
			prog[j] = byte(rng.Uint32())
		}
		valid := regSearchAgrees(t, regSearchHistory(prog, i%2 == 0))
		if i%2 == 0 && !valid {
			t.Fatalf("a simulated register's history was judged invalid:\n%s", linShow(regSearchHistory(prog, true)))
		}
		counts[valid]++
	}
	// Both verdicts must have been exercised for the comparison to mean
	// anything.
	if counts[true] < 500 || counts[false] < 500 {
		t.Errorf("valid %d, invalid %d of 4000 histories: the generator no longer covers both", counts[true], counts[false])
	}
}

func TestRegSearchOnGeneratedKVHistory(t *testing.T) {
	h := kvgen.Linearizable(7, 10, 5, 5000)
	if !regSearchAgrees(t, h) {
		t.Fatal("kvgen's linearizable history judged invalid")
	}
	// A read of a value nobody wrote, mid-history. (Near the end, proving
	// it illegal is exponential for both searches: every placement of the
	// info writes before it is tried.)
	bad := make(history.History, len(h))
	copy(bad, h)
	for i := range bad {
		if bad[i].F == "read" && bad[i].IsOK() && bad[i].Index > 4000 {
			bad[i].Value = json.Number("77")
			break
		}
	}
	if regSearchAgrees(t, bad) {
		t.Fatal("a read of a value nobody wrote was judged valid")
	}
}

func TestRegCacheAddReportsNewOnly(t *testing.T) {
	c := newRegCache(1)
	for i := range uint64(5000) { // grows several times
		if c.full() {
			c.grow()
		}
		if !c.add(zobrist(i)) {
			t.Fatalf("hash %d reported present before it was added", i)
		}
	}
	for i := range uint64(5000) {
		if c.add(zobrist(i)) {
			t.Fatalf("hash %d reported new after it was added", i)
		}
	}
	if c.full() {
		c.grow()
	}
	if !c.add(0) || c.add(0) {
		t.Error("hash 0 (stored as 1) not added exactly once")
	}
}

// FuzzRegSearchMatchesPorcupine: on any small history, the typed search
// and porcupine agree on linearizability.
func FuzzRegSearchMatchesPorcupine(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0x01, 0x41, 0x05, 0x45}, true)
	f.Add([]byte{0xc0, 0xc1, 0x00, 0x21, 0x02, 0x42}, false)
	seed := make([]byte, 8)
	binary.LittleEndian.PutUint64(seed, 0x123456789abcdef)
	f.Add(seed, false)
	f.Fuzz(func(t *testing.T, prog []byte, simulate bool) {
		if len(prog) > 200 {
			prog = prog[:200]
		}
		valid := regSearchAgrees(t, regSearchHistory(prog, simulate))
		if simulate && !valid {
			t.Fatalf("a simulated register's history was judged invalid:\n%s", linShow(regSearchHistory(prog, true)))
		}
	})
}

func TestRegInternerSharesIDsByCanonicalForm(t *testing.T) {
	same := []any{json.Number("3"), json.Number("3.0"), 3, json.Number("03"), json.Number("3e0"), json.Number("3")}
	for _, order := range [][]any{same, {same[1], same[0], same[2]}} {
		in := newRegInterner("nil", &regValue{text: "nil"})
		want, err := in.intern(order[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range order[1:] {
			if id, err := in.intern(v); err != nil || id != want {
				t.Errorf("intern(%#v) = %d, %v; want %d, the id of %#v", v, id, err, want, order[0])
			}
		}
		for _, v := range []any{"3", json.Number("30"), json.Number("63"), json.Number("64"), json.Number("-3"), nil} {
			if id, _ := in.intern(v); id == want {
				t.Errorf("intern(%#v) = %d, the id of 3", v, id)
			}
		}
		if a, _ := in.intern(json.Number("63")); a == 0 {
			t.Error("63 got the initial value's id")
		}
	}
}
