package checker

import (
	"cmp"
	"math"
	"slices"
)

// linearizable_search.go is the register search that decides most keys:
// the algorithm porcupine runs (Wing & Gong's search with Lowe's
// just-in-time linearization and a cache of visited configurations), on
// the register's own types. porcupine's generic search boxes every state
// and input in an interface and caches each configuration with a bitset of
// all the key's operations; on a 1M-operation kv history that is 1.8 s of
// CPU and 870 MiB. Here a state is a value id (int32), an operation is a
// small struct, the linearized set is known only by its Zobrist hash, and
// the cache is an open-addressing set of 64-bit (set, state) hashes: 8–16
// bytes per configuration.
//
// Soundness rests on one asymmetry. "Linearizable" is returned only when
// the search has linearized every operation, step by legal step, so it
// needs no trust in the cache. A hash collision can only make the search
// skip a configuration it never visited, and so at worst report
// "illegal" wrongly: the caller (checkKey) therefore hands every key this
// search finds illegal to porcupine, whose verdict stands and which
// explains it. porcupine remains the reference (FuzzRegSearchMatchesPorcupine).

// regSearchResult is what regSearch decided.
type regSearchResult uint8

const (
	regSearchOK      regSearchResult = iota // a linearization exists: it was found
	regSearchIllegal                        // none found: confirm with porcupine
	regSearchHalted                         // the check's deadline or the memory budget stopped it
)

// regSearchBytesPerStep is what one successful step costs the search in
// memory, for the memory budget: a cache slot of 8 bytes at a load of at
// most one half, doubled while the table grows.
const regSearchBytesPerStep = 32

// regOp is one operation as the search sees it.
type regOp struct {
	kind          linKind
	indeterminate bool
	arg, to       int32 // value ids; 0 is the initial value
	call, ret     int64 // history positions; ret math.MaxInt64 when indeterminate
}

// regStepTyped is Knossos's cas-register (the register simply never sees
// a cas) on value ids. A cas that returned ok must find its from value;
// an indeterminate cas that finds another value did nothing, which is
// legal because its outcome is unknown. regStep (models.go) gives
// porcupine the same step on its boxed states.
func regStepTyped(s int32, op *regOp) (bool, int32) {
	switch op.kind {
	case linRead:
		return op.arg == s, s
	case linWrite:
		return true, op.arg
	case linCAS, linAcquire, linRelease:
		if op.arg == s {
			return true, op.to
		}
		return op.indeterminate, s
	}
	return false, s
}

// regOps turns a key's records into the search's operations.
func (g *linGroup) regOps() []regOp {
	ops := make([]regOp, 0, g.n)
	for _, chunk := range g.recs {
		for _, r := range chunk {
			ret := int64(r.done)
			if r.indeterminate {
				ret = math.MaxInt64
			}
			ops = append(ops, regOp{kind: r.kind, indeterminate: r.indeterminate, arg: r.arg, to: r.to, call: int64(r.inv), ret: ret})
		}
	}
	return ops
}

// regSearch decides whether ops, all on one register starting at value id
// 0, are linearizable. search (may be nil) is polled to stop early and
// told the successful steps, for the memory budget.
func regSearch(ops []regOp, search *linSearch) regSearchResult {
	n := len(ops)
	if n == 0 {
		return regSearchOK
	}
	// Events in time order: the calls by call time, then the returns by
	// return time, merged; a call comes before a return at the same time
	// (porcupine: intervals are closed, so touching operations overlap).
	calls := make([]int32, n)
	rets := make([]int32, n)
	for i := range n {
		calls[i], rets[i] = int32(i), int32(i)
	}
	byCall := func(a, b int32) int { return cmp.Compare(ops[a].call, ops[b].call) }
	byRet := func(a, b int32) int { return cmp.Compare(ops[a].ret, ops[b].ret) }
	// Records arrive in completion order, so returns are nearly sorted and
	// calls almost so; both sorts are close to linear.
	if !slices.IsSortedFunc(calls, byCall) {
		slices.SortStableFunc(calls, byCall)
	}
	if !slices.IsSortedFunc(rets, byRet) {
		slices.SortStableFunc(rets, byRet)
	}
	// The event list is doubly linked over 2n slots plus a head (2n) and a
	// tail (2n+1): lifting an operation unlinks its call and its return,
	// backtracking links them back (Knuth's dancing links).
	head, tail := int32(2*n), int32(2*n+1)
	next := make([]int32, 2*n+2)
	prev := make([]int32, 2*n+2)
	evOp := make([]int32, 2*n) // the operation of each event
	retOf := make([]int32, n)  // each operation's return event
	// An event is a call when it is not its operation's return event.
	k, ci, ri := int32(0), 0, 0
	for ci < n || ri < n {
		if ci < n && (ri == n || ops[calls[ci]].call <= ops[rets[ri]].ret) {
			evOp[k] = calls[ci]
			ci++
		} else {
			evOp[k] = rets[ri]
			retOf[rets[ri]] = k
			ri++
		}
		k++
	}
	prevEv := head
	for e := range int32(2 * n) {
		next[prevEv], prev[e] = e, prevEv
		prevEv = e
	}
	next[prevEv], prev[tail] = tail, prevEv
	calls, rets = nil, nil

	cache := newRegCache(n)
	type frame struct {
		ev    int32 // the call event lifted
		state int32 // the state before it
	}
	stack := make([]frame, 0, 64)
	var state int32
	var set uint64 // Zobrist hash of the linearized set
	var steps, sinceSync int64
	defer func() {
		if search != nil {
			search.steps.Add(sinceSync)
		}
	}()
	e := next[head]
	for e != tail {
		if steps++; steps&1023 == 0 && search != nil {
			search.steps.Add(sinceSync)
			sinceSync = 0
			if search.halted() {
				return regSearchHalted
			}
		}
		id := evOp[e]
		if retOf[id] != e { // a call: try to linearize it here
			op := &ops[id]
			ok, ns := regStepTyped(state, op)
			if ok && cache.full() {
				// The table doubles: the old and the new one are live at
				// once, a jump the budget's watchdog, which samples the
				// heap, could miss.
				if search != nil && !search.mayAllocate(cache.growBytes()) {
					search.over.Store(true)
					return regSearchHalted
				}
				cache.grow()
			}
			if ok && cache.add(set^zobrist(uint64(id))^zobristState(ns)) {
				stack = append(stack, frame{ev: e, state: state})
				state, set = ns, set^zobrist(uint64(id))
				r := retOf[id]
				next[prev[e]], prev[next[e]] = next[e], prev[e]
				next[prev[r]], prev[next[r]] = next[r], prev[r]
				sinceSync++
				e = next[head]
				continue
			}
			e = next[e]
			continue
		}
		// A return whose call is not linearized yet: the prefix cannot be
		// extended, undo the last linearization and try what follows it.
		if len(stack) == 0 {
			return regSearchIllegal
		}
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c := top.ev
		id = evOp[c]
		r := retOf[id]
		prev[next[r]], next[prev[r]] = r, r
		prev[next[c]], next[prev[c]] = c, c
		state, set = top.state, set^zobrist(uint64(id))
		e = next[c]
	}
	return regSearchOK
}

// zobrist is operation id's random-looking 64-bit code (splitmix64's
// finalizer): the linearized set's hash is the XOR of its members' codes,
// updated in one instruction as operations are lifted and unlifted.
func zobrist(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// zobristState codes a state apart from every operation's code.
func zobristState(s int32) uint64 { return zobrist(uint64(uint32(s)) | 1<<63) }

// regCache is a set of configuration hashes, open addressing with linear
// probing; 0 marks an empty slot (a configuration hashing to 0 is stored
// as 1: one more chance of a collision, with the harmless outcome above).
type regCache struct {
	slots []uint64
	n     int
}

func newRegCache(ops int) *regCache {
	size := 1024
	for size < 2*ops {
		size <<= 1
	}
	return &regCache{slots: make([]uint64, size)}
}

// full reports whether the table must grow before the next add: its load
// is kept at most one half.
func (c *regCache) full() bool { return 2*(c.n+1) > len(c.slots) }

// growBytes is what grow allocates.
func (c *regCache) growBytes() int64 { return int64(16 * len(c.slots)) }

// add inserts h and reports whether it was new. The table must not be
// full.
func (c *regCache) add(h uint64) bool {
	if h == 0 {
		h = 1
	}
	mask := uint64(len(c.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch c.slots[i] {
		case h:
			return false
		case 0:
			c.slots[i] = h
			c.n++
			return true
		}
	}
}

func (c *regCache) grow() {
	old := c.slots
	c.slots = make([]uint64, 2*len(old))
	mask := uint64(len(c.slots) - 1)
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := h & mask
		for c.slots[i] != 0 {
			i = (i + 1) & mask
		}
		c.slots[i] = h
	}
}
