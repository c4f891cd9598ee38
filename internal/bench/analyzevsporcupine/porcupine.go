package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
)

// This file is the baseline: porcupine as its README teaches it, with a kv
// model written the way a porcupine user would write one for this history.

// kvCall is one operation's input: what the client asked for.
type kvCall struct {
	f       byte // 'r' read, 'w' write, 'c' cas
	key     string
	arg, to int // write: arg; cas: arg → to
	// maybe marks an info cas: it may have taken effect or not.
	maybe bool
}

// kvRet is a read's result.
type kvRet struct{ value int }

var kvModel = porcupine.Model{
	Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range ops {
			k := op.Input.(kvCall).key
			by[k] = append(by[k], op)
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			parts[i] = by[k]
		}
		return parts
	},
	Init: func() any { return 0 },
	Step: func(state, input, output any) (bool, any) {
		s, in := state.(int), input.(kvCall)
		switch in.f {
		case 'r':
			return output.(kvRet).value == s, s
		case 'w':
			return true, in.arg
		default:
			if s == in.arg {
				return true, in.to
			}
			return in.maybe, s
		}
	},
	Hash: func(state any) uint64 { return uint64(state.(int)) },
}

// porcupineChild reads the history file the way a porcupine user would
// (encoding/json, one line at a time, nothing kept but the operations),
// then times the check alone.
func porcupineChild(file string) error {
	ops, err := porcupineOps(file)
	if err != nil {
		return err
	}
	runtime.GC()
	debug.FreeOSMemory()
	m := measurement{Ops: len(ops)}
	m.RSSBefore, m.HWMBefore = procStatus("VmRSS:"), procStatus("VmHWM:")
	start, cpu := time.Now(), cpuTime()
	ok := porcupine.CheckOperations(kvModel, ops)
	m.Seconds, m.CPU = time.Since(start).Seconds(), cpuTime()-cpu
	if !ok {
		return fmt.Errorf("porcupine judged the generated history nonlinearizable")
	}
	runtime.KeepAlive(ops)
	return json.NewEncoder(os.Stdout).Encode(m)
}

// jsonOp is the part of a history line the kv model needs.
type jsonOp struct {
	Index   int64           `json:"index"`
	Time    int64           `json:"time"`
	Type    string          `json:"type"`
	Process int64           `json:"process"`
	F       string          `json:"f"`
	Key     string          `json:"key"`
	Value   json.RawMessage `json:"value"`
}

// porcupineOps pairs invocations with completions: fail ops are dropped,
// info and unfinished ones return at infinity, reads that did not return
// ok constrain nothing (Knossos's rules, which chaoscheck applies too).
func porcupineOps(file string) ([]porcupine.Operation, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []porcupine.Operation
	open := map[int64]jsonOp{} // process → its open invocation
	add := func(inv, comp jsonOp) error {
		if comp.Type == "fail" || inv.F == "read" && comp.Type != "ok" {
			return nil
		}
		c := kvCall{f: inv.F[0], key: inv.Key, maybe: comp.Type != "ok"}
		op := porcupine.Operation{ClientId: int(inv.Process), Call: inv.Time, Return: comp.Time}
		if c.maybe {
			op.Return = math.MaxInt64
		}
		var err error
		switch inv.F {
		case "read":
			var v kvRet
			err = json.Unmarshal(comp.Value, &v.value)
			op.Output = v
		case "write":
			err = json.Unmarshal(inv.Value, &c.arg)
		case "cas":
			var pair [2]int
			err = json.Unmarshal(inv.Value, &pair)
			c.arg, c.to = pair[0], pair[1]
		}
		if err != nil {
			return fmt.Errorf("op %d: %w", inv.Index, err)
		}
		op.Input = c
		ops = append(ops, op)
		return nil
	}
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	for {
		var op jsonOp
		if err := dec.Decode(&op); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		if op.Type == "invoke" {
			open[op.Process] = op
			continue
		}
		inv, ok := open[op.Process]
		if !ok {
			continue
		}
		delete(open, op.Process)
		if err := add(inv, op); err != nil {
			return nil, err
		}
	}
	for _, inv := range open {
		if err := add(inv, jsonOp{Type: "info"}); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// procStatus reads one figure of /proc/self/status in bytes, 0 if absent.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the user+system CPU seconds this process has used.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
