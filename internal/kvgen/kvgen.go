package kvgen

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"

	"github.com/chaoscheck/chaoscheck/history"
)

// Linearizable returns a linearizable kv history of n operations
// (2n ops in the history: invocation and completion) by clients processes
// over keys keys, every register starting at 0. It simulates the registers:
// each client's operation is invoked, takes effect at a later step and
// completes later still, while the other clients' operations interleave,
// so operations on a key overlap for real. About 3% fail without effect,
// 2% become info without effect and 2% become info after taking effect (a
// client that saw info continues under a new process, as in Jepsen). The
// same seed gives the same history.
func Linearizable(seed uint64, clients, keys, n int) history.History {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	vals := make([]json.Number, 5)
	for i := range vals {
		vals[i] = json.Number(strconv.Itoa(i))
	}
	keyNames := make([]string, keys)
	for i := range keyNames {
		keyNames[i] = "k" + strconv.Itoa(i)
	}
	reg := make([]int, keys) // every register starts at 0 (Init "0")

	type client struct {
		process int64
		phase   int // 0 idle, 1 invoked, 2 took effect or decided
		key, f  int // f: 0 read, 1 write, 2 cas
		arg, to int
		result  history.Type
		read    int
	}
	cs := make([]client, clients)
	for i := range cs {
		cs[i].process = int64(i)
	}
	h := make(history.History, 0, 2*n)
	var now int64
	emit := func(op history.Op) {
		now += 1 + rng.Int64N(1000)
		op.Index, op.Time = int64(len(h)), now
		h = append(h, op)
	}
	fs := [...]string{"read", "write", "cas"}
	invoked, busy := 0, 0
	for invoked < n || busy > 0 {
		c := &cs[rng.IntN(clients)]
		switch c.phase {
		case 0:
			if invoked == n {
				continue
			}
			invoked++
			busy++
			c.key, c.arg, c.to = rng.IntN(keys), rng.IntN(len(vals)), rng.IntN(len(vals))
			switch r := rng.IntN(10); {
			case r < 5:
				c.f = 0
			case r < 8:
				c.f = 1
			default:
				c.f = 2
			}
			op := history.Op{Type: history.Invoke, Process: c.process, F: fs[c.f], Key: keyNames[c.key]}
			switch c.f {
			case 1:
				op.Value = vals[c.arg]
			case 2:
				op.Value = []any{vals[c.arg], vals[c.to]}
			}
			emit(op)
			c.phase = 1
		case 1:
			c.phase = 2
			switch r := rng.IntN(100); {
			case r < 3:
				c.result = history.Fail
				continue
			case r < 5:
				c.result = history.Info
				continue
			case r < 7:
				c.result = history.Info // takes effect, then times out
			default:
				c.result = history.OK
			}
			switch c.f {
			case 0:
				c.read = reg[c.key]
			case 1:
				reg[c.key] = c.arg
			case 2:
				if reg[c.key] != c.arg {
					if c.result == history.OK {
						c.result = history.Fail
					}
					continue
				}
				reg[c.key] = c.to
			}
		case 2:
			op := history.Op{Type: c.result, Process: c.process, F: fs[c.f], Key: keyNames[c.key]}
			switch {
			case c.f == 0 && c.result == history.OK:
				op.Value = vals[c.read]
			case c.f == 1:
				op.Value = vals[c.arg]
			case c.f == 2:
				op.Value = []any{vals[c.arg], vals[c.to]}
			}
			emit(op)
			if c.result == history.Info {
				c.process += int64(clients)
			}
			c.phase = 0
			busy--
		}
	}
	return h
}

// InfoWrites returns a history of about ops ops that makes a
// linearizability search exponential in writers: writers processes invoke
// a write of distinct values to key "hot" at the start and time out (info:
// each may take effect at any time, or never), then one client reads "hot"
// again and again and always sees 0, the initial value. That is
// linearizable (no write took effect), but porcupine tries the writes
// first and backtracks through every subset of them, caching each. The
// other ops are Linearizable's, on ten keys, so the history is ordinary
// around the one key. Every register starts at 0.
func InfoWrites(seed uint64, ops, writers int) history.History {
	base := Linearizable(seed, 10, 10, max(ops/2-writers-ops/400, 1))
	h := make(history.History, 0, ops+writers*2)
	emit := func(op history.Op) {
		op.Index = int64(len(h))
		if len(h) > 0 {
			op.Time = h[len(h)-1].Time + 1
		}
		h = append(h, op)
	}
	const firstWriter = 1 << 20 // process numbers far above Linearizable's
	for i := range writers {
		emit(history.Op{Type: history.Invoke, Process: int64(firstWriter + i), F: "write", Key: "hot", Value: json.Number(strconv.Itoa(i + 1))})
	}
	for i := range writers {
		emit(history.Op{Type: history.Info, Process: int64(firstWriter + i), F: "write", Key: "hot", Value: json.Number(strconv.Itoa(i + 1)), Error: "timeout"})
	}
	reader := int64(firstWriter + writers)
	for i, op := range base {
		if i%200 == 0 {
			emit(history.Op{Type: history.Invoke, Process: reader, F: "read", Key: "hot"})
			emit(history.Op{Type: history.OK, Process: reader, F: "read", Key: "hot", Value: json.Number("0")})
		}
		emit(op)
	}
	return h
}
