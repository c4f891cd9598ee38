package checker

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chaoscheck/chaoscheck/history"
)

// LinearizableOptions configures the linearizable checker.
type LinearizableOptions struct {
	Model string // "register", "cas-register", "kv" or "mutex"
	// Init is the initial value of every register: nil by default, a
	// json.Number for numbers (--init 0). A mutex starts unlocked.
	Init any
	// Timeout bounds the whole search; 0 means no limit. Running out makes
	// the verdict unknown, never valid.
	Timeout time.Duration
	// OutDir receives linear.html, porcupine's visualization, on an invalid
	// or unknown verdict; "" writes nothing.
	OutDir string
	// MemoryLimit is the memory budget in bytes for the whole process
	// while the search runs; 0 means none. When the live heap reaches 3/4
	// of it, the search that has cached the most is abandoned and its key
	// is unknown with a note. It is also the Go runtime's soft memory limit
	// during the check, unless a lower one is in force.
	MemoryLimit int64
	// MaxVisualizeOps skips linear.html (with a note) when the keys to
	// draw hold more operations than this; 0 means DefaultMaxVisualizeOps.
	MaxVisualizeOps int
}

// DefaultMaxVisualizeOps is the largest history drawn in linear.html by
// default: beyond a few thousand operations the page is too slow in a
// browser to be of use.
const DefaultMaxVisualizeOps = 5000

// LinearFile is the name of the visualization written into OutDir.
const LinearFile = "linear.html"

// NewLinearizable returns the linearizable checker: porcupine's search
// against Knossos's register or cas-register model.
//
// Every model checks each key on its own, as Jepsen's independent checker
// does: a history whose ops carry no key is one register; "kv" is a
// cas-register per key. At most GOMAXPROCS keys are searched at once,
// which keeps memory flat however many keys there are. Rules, after
// Knossos:
//   - ops are read, write and cas (value [from, to]); the register model
//     has no cas. The mutex model's ops are acquire and release: acquiring
//     a held lock or releasing a free one is illegal. Other fs are ignored
//     with a note (final reads and the like belong to other checkers);
//   - a fail op never happened and is dropped;
//   - an info or unfinished write or cas may take effect at any point after
//     its invocation, or never: its return is at infinity;
//   - a read constrains nothing when it did not return ok or returned nil;
//   - values compare by history.ValueKey, the one value rule (json.Number
//     "3" equals an EDN 3 and 3.0, not the string "3");
//   - real-time order is the order of ops in the history, as in Knossos,
//     so histories without times (EDN) are judged correctly;
//   - an op whose value has the wrong shape (a cas value that is not a
//     pair) is skipped as a "malformed" anomaly, and the verdict is then
//     at best unknown.
//
// Each key porcupine finds nonlinearizable is one "nonlinearizable"
// anomaly (see linExplain). Counts: ops (operations searched), keys,
// keys-invalid, keys-unknown, ignored, malformed.
func NewLinearizable(opts LinearizableOptions) (Checker, error) {
	switch opts.Model {
	case "register", "cas-register", "kv":
	case "mutex":
		opts.Init = mutexUnlocked
	default:
		return nil, fmt.Errorf("linearizable: unknown model %q: want register, cas-register, kv or mutex", opts.Model)
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("linearizable: negative timeout %v", opts.Timeout)
	}
	if opts.MemoryLimit < 0 {
		return nil, fmt.Errorf("linearizable: negative memory limit %d", opts.MemoryLimit)
	}
	initKey, err := history.ValueKey(opts.Init)
	if err != nil {
		return nil, fmt.Errorf("linearizable: initial value: %w", err)
	}
	if opts.MaxVisualizeOps <= 0 {
		opts.MaxVisualizeOps = DefaultMaxVisualizeOps
	}
	return &linearizable{opts: opts, initKey: initKey, init: &regValue{id: 0, text: initKey}}, nil
}

type linearizable struct {
	opts    LinearizableOptions
	initKey string
	init    *regValue // shared by every key's interner (see regInterner)
}

func (*linearizable) Name() string { return "linearizable" }

// linGroup is one key's operations, extracted from the history in one
// sequential pass (see groups).
type linGroup struct {
	key string
	// recs holds the operations in chunks, so that collecting them never
	// copies: growing one slice per key by append cost more than a tenth
	// of a million-op check, in copying and zeroing.
	recs      [][]linRec
	n         int // operations in recs
	in        *regInterner
	ignored   map[string]int // f → client ops the model does not have
	malformed []Anomaly
}

// linRec is one operation to check, in 24 pointer-free bytes: positions in
// the history (so real-time order is history order) and interned values.
type linRec struct {
	inv, done     int32 // positions of invocation and completion; done -1: never completed
	arg, to       int32 // value ids in the key's interner
	client        int32 // dense process number, for the visualization
	kind          linKind
	indeterminate bool
}

// linKeyResult is the verdict on one key.
type linKeyResult struct {
	key        string
	verdict    Validity
	searched   bool // false when the check stopped before this key's turn
	undecided  bool // the search did not finish
	overBudget bool // the memory budget abandoned the search
	// needHistory: the verdict needs the history, which judge was not
	// given (the key is invalid or has malformed ops; see judge).
	needHistory bool
	nops        int // operations handed to porcupine
	anomalies   []Anomaly
	malformed   []Anomaly
	ignored     map[string]int // f → ops ignored
	// ops and info are kept for linear.html, only for a key that is not
	// valid and small enough to draw.
	ops  []porcupine.Operation
	info *porcupine.LinearizationInfo
}

func (c *linearizable) Check(ctx context.Context, h history.History) Result {
	if c.opts.Model == "kv" {
		h, _ = history.UnpackIndependent(h) // Jepsen's independent keys: [k v] values
	}
	if len(h) > math.MaxInt32 {
		res := linResult()
		res.Notes = append(res.Notes, fmt.Sprintf("history of %d ops is beyond the linearizable checker's limit of %d", len(h), math.MaxInt32))
		return res
	}
	res, _ := c.judge(ctx, h, c.groups(h))
	return res
}

// linResult is the checker's result before any key is judged: unknown,
// every count at zero.
func linResult() Result {
	return Result{Checker: "linearizable", Counts: map[string]int{
		"ops": 0, "keys": 0, "keys-invalid": 0, "keys-unknown": 0, "ignored": 0, "malformed": 0,
	}}
}

// judge searches every key's operations and gives the verdict. h is the
// history the groups came from, nil when it was streamed and not held
// (see linStreamer); then complete is false, and the verdict must be
// taken with Check, when a key needs the history: one found
// nonlinearizable, to be explained, or one with malformed ops.
func (c *linearizable) judge(ctx context.Context, h history.History, groups []*linGroup) (res Result, complete bool) {
	res = linResult()
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.opts.Timeout,
			fmt.Errorf("time limit of %v reached", c.opts.Timeout))
		defer cancel()
	}
	// stop makes every model step fail once ctx ends, so a search in
	// porcupine (which takes no context) unwinds at once.
	var stop atomic.Bool
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	if ctx.Err() != nil {
		stop.Store(true)
	}

	budget := newLinBudget(c.opts.MemoryLimit)
	watching := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() { budget.watch(watching) })
	defer watcher.Wait()
	defer close(watching)

	results := make([]linKeyResult, len(groups))
	// Keys are searched GOMAXPROCS at a time, each converted to porcupine
	// operations only when its turn comes and released after: porcupine's
	// cache holds a bitset of all the partition's operations per state it
	// visits, so searching every key at once costs memory quadratic in the
	// key's length times the number of keys.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(groups)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					return
				}
				results[i] = c.checkKey(ctx, &stop, budget, h, groups[i], int32(i))
				groups[i] = nil
				if results[i].needHistory {
					stop.Store(true) // the verdict is Check's now: the other searches are wasted
				}
			}
		})
	}
	wg.Wait()
	for i := range results {
		if results[i].needHistory {
			return res, false
		}
	}

	res.Valid = Valid
	ignored := map[string]int{}
	var undecided, overBudget []string
	for i := range results {
		r := &results[i]
		r.anomalies = append(r.malformed, r.anomalies...)
		res.Valid = Merge(res.Valid, r.verdict)
		res.Anomalies = append(res.Anomalies, r.anomalies...)
		res.Counts["ops"] += r.nops
		if r.nops > 0 || !r.searched {
			res.Counts["keys"]++
		}
		switch r.verdict {
		case Invalid:
			res.Counts["keys-invalid"]++
		case Unknown:
			res.Counts["keys-unknown"]++
		}
		switch {
		case r.overBudget:
			overBudget = append(overBudget, linKeyName(r.key))
		case r.undecided:
			undecided = append(undecided, linKeyName(r.key))
		}
		for f, n := range r.ignored {
			ignored[f] += n
			res.Counts["ignored"] += n
		}
	}
	res.Counts["malformed"] = countLinKind(res.Anomalies, "malformed")
	if res.Counts["keys"] == 0 && res.Counts["malformed"] == 0 {
		// Knossos's verdict on a history with nothing to linearize.
		res.Notes = append(res.Notes, "no client read, write or cas ops: nothing to check (valid, as Knossos says of an empty history)")
	}
	if len(ignored) > 0 {
		res.Notes = append(res.Notes, c.ignoredNote(ignored))
	}
	if res.Counts["malformed"] > 0 {
		res.Notes = append(res.Notes, "ops with malformed values were skipped: the verdict cannot be valid")
	}
	if len(overBudget) > 0 {
		res.Notes = append(res.Notes, budget.note(overBudget))
	}
	if stop.Load() && len(undecided) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("linearizable checker stopped before it finished (%v): %d of %d keys undecided: %s",
			context.Cause(ctx), len(undecided), len(results), linList(undecided, 10)))
	} else if len(undecided) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("porcupine could not decide %d keys: %s", len(undecided), linList(undecided, 10)))
	}
	c.visualize(ctx, &stop, budget, &res, h, results)
	return res, true
}

// linGrouper matches invocations with completions, as history.Pairs
// does, and extracts each key's operations in one sequential pass over the
// history. Everything the search needs is taken here: reading a key's ops
// later, scattered across a history of hundreds of MiB, was a cache miss
// per op and a sixth of the check's time. It sees each op once and keeps
// only the open invocations, so a streamed history need not be held.
type linGrouper struct {
	c      *linearizable
	at     map[string]*linGroup
	groups []*linGroup
	procs  history.Processes[linProc]
	nprocs int32 // client processes seen
	n      int32 // ops seen: the next op's position
}

// linProc is one client process and its open invocation.
type linProc struct {
	g      *linGroup
	inv    history.Op
	pos    int32
	open   bool
	seen   bool
	client int32 // dense number, in order of first appearance
}

func (c *linearizable) grouper() *linGrouper {
	return &linGrouper{c: c, at: map[string]*linGroup{}}
}

// observe takes the next op of the history.
func (gr *linGrouper) observe(op *history.Op) {
	i := gr.n
	gr.n++
	if !op.IsClient() {
		return
	}
	p := gr.procs.At(op.Process)
	if !p.seen {
		p.seen, p.client = true, gr.nprocs
		gr.nprocs++
	}
	if op.Type != history.Invoke {
		if p.open {
			p.open = false
			gr.c.add(p.g, &p.inv, op, p.pos, i, p.client)
		}
		return // else a completion without invocation: nothing to judge
	}
	if p.open { // invoked again: the first invocation never completed
		gr.c.add(p.g, &p.inv, nil, p.pos, -1, p.client)
	}
	g := gr.at[op.Key]
	if g == nil {
		g = &linGroup{key: op.Key, in: newRegInterner(gr.c.initKey, gr.c.init)}
		gr.at[op.Key] = g
		gr.groups = append(gr.groups, g)
	}
	p.g, p.inv, p.pos, p.open = g, *op, i, true
}

// finish ends the invocations the history never completed and returns
// the keys, sorted.
func (gr *linGrouper) finish() []*linGroup {
	var unfinished []*linProc // no At until they are added: the pointers hold
	gr.procs.Each(func(_ int64, p *linProc) {
		if p.open {
			unfinished = append(unfinished, p)
		}
	})
	slices.SortFunc(unfinished, func(a, b *linProc) int { return cmp.Compare(a.pos, b.pos) })
	for _, p := range unfinished {
		gr.c.add(p.g, &p.inv, nil, p.pos, -1, p.client)
	}
	slices.SortFunc(gr.groups, func(a, b *linGroup) int { return strings.Compare(a.key, b.key) })
	return gr.groups
}

// groups is the keys of a history held whole.
func (c *linearizable) groups(h history.History) []*linGroup {
	gr := c.grouper()
	for i := range h {
		gr.observe(&h[i])
	}
	return gr.finish()
}

// add judges one invocation and its completion, at positions inv and done
// of the history (comp nil and done -1: none), and, when they constrain
// the register, records the operation in g.
func (c *linearizable) add(g *linGroup, invOp, comp *history.Op, inv, done int32, client int32) {
	if comp == nil {
		comp = &history.Op{Type: history.Info, Index: -1} // unfinished: indeterminate
	}
	if !c.knows(invOp.F) {
		if g.ignored == nil {
			g.ignored = map[string]int{}
		}
		g.ignored[invOp.F]++
		return
	}
	if comp.IsFail() {
		return // certainly never happened
	}
	r := linRec{inv: inv, done: done, client: client, indeterminate: !comp.IsOK()}
	var err error
	switch invOp.F {
	case "read":
		if r.indeterminate || comp.Value == nil {
			return // constrains nothing
		}
		r.kind = linRead
		r.arg, err = g.in.intern(comp.Value)
	case "write":
		r.kind = linWrite
		r.arg, err = g.in.intern(linOperand(invOp, comp))
	case "acquire", "release":
		from, to := mutexUnlocked, mutexLocked
		r.kind = linAcquire
		if invOp.F == "release" {
			from, to, r.kind = to, from, linRelease
		}
		if r.arg, err = g.in.intern(from); err == nil {
			r.to, err = g.in.intern(to)
		}
	case "cas":
		r.kind = linCAS
		v, ok := linOperand(invOp, comp).([]any)
		if !ok || len(v) != 2 {
			err = fmt.Errorf("cas value %s is not [from, to]", valueForLinDetail(linOperand(invOp, comp)))
			break
		}
		if r.arg, err = g.in.intern(v[0]); err == nil {
			r.to, err = g.in.intern(v[1])
		}
	}
	if err != nil {
		a := Anomaly{Kind: "malformed", Key: g.key, Ops: []int64{invOp.Index},
			Detail: fmt.Sprintf("%s by process %d: %v", invOp.F, invOp.Process, err)}
		if done >= 0 {
			a.Ops = append(a.Ops, comp.Index)
		}
		g.malformed = append(g.malformed, a)
		return
	}
	g.push(r)
}

// push appends r to g's chunks, which grow from 16 records to 1024 (24
// KiB, below the size where the runtime zeroes fresh pages per slice).
func (g *linGroup) push(r linRec) {
	last := len(g.recs) - 1
	if last < 0 || len(g.recs[last]) == cap(g.recs[last]) {
		g.recs = append(g.recs, make([]linRec, 0, min(max(g.n, 16), 1024)))
		last++
	}
	g.recs[last] = append(g.recs[last], r)
	g.n++
}

// operations turns a key's records into porcupine operations; part tells
// keys apart when several are checked in one call.
func (g *linGroup) operations(part int32) []porcupine.Operation {
	lin := make([]linOp, 0, g.n)
	ops := make([]porcupine.Operation, 0, g.n)
	for _, chunk := range g.recs {
		for _, r := range chunk {
			lin = append(lin, linOp{kind: r.kind, indeterminate: r.indeterminate, part: part,
				arg: g.in.vals[r.arg], to: g.in.vals[r.to], inv: r.inv, done: r.done})
			op := &lin[len(lin)-1] // lin never grows beyond g.n: the pointer stays valid
			ret := int64(r.done)
			if r.indeterminate {
				ret = math.MaxInt64
			}
			ops = append(ops, porcupine.Operation{ClientId: int(r.client), Input: op, Call: int64(r.inv), Return: ret, Metadata: op})
		}
	}
	return ops
}

// checkKey runs porcupine on one key.
func (c *linearizable) checkKey(ctx context.Context, stop *atomic.Bool, budget *linBudget, h history.History, g *linGroup, part int32) linKeyResult {
	r := linKeyResult{key: g.key, verdict: Unknown, undecided: true, malformed: g.malformed, ignored: g.ignored}
	if stop.Load() {
		return r
	}
	r.searched, r.nops = true, g.n
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= 0 {
		return r
	}
	// The typed search decides a linearizable key by finding its
	// linearization. Anything else goes to porcupine below: a key it finds
	// illegal (porcupine's verdict stands, and explains it), one with
	// malformed ops, one the deadline stopped (porcupine, halted at once,
	// still gives the partial linearizations linear.html draws).
	typed := &linSearch{stop: stop, nops: g.n, perStep: regSearchBytesPerStep, budget: budget}
	budget.begin(typed)
	found := regSearch(g.regOps(), typed)
	budget.end(typed)
	switch {
	case found == regSearchOK && len(g.malformed) == 0:
		r.verdict, r.undecided = Valid, false
		return r
	case typed.over.Load():
		r.overBudget = true
		return r
	case h == nil && found != regSearchHalted:
		r.needHistory = true
		return r
	}
	ops := g.operations(part)
	search := &linSearch{stop: stop, nops: len(ops)}
	budget.begin(search)
	model := regModel(c.init, search, false, h)
	var verdict porcupine.CheckResult
	var info *porcupine.LinearizationInfo // partial linearizations, to explain and draw
	// The deadline reaches the search through the model (search.stop), not
	// porcupine's own timeout: that one could return before the flag is
	// set, and the key would be "undecided" instead of "stopped".
	if len(ops) <= c.opts.MaxVisualizeOps {
		var li porcupine.LinearizationInfo
		verdict, li = porcupine.CheckOperationsVerbose(model, ops, 0)
		info = &li
	} else {
		// Too large to draw: the verdict first, without partial
		// linearizations, whose bookkeeping walks the whole call stack at
		// every backtrack (a tenth of the check of a 1M-op history).
		verdict = porcupine.CheckOperationsTimeout(model, ops, 0)
	}
	illegal := verdict == porcupine.Illegal && !search.halted()
	if illegal && info == nil {
		// Searched again, verbosely, only to explain it. Illegal stands if
		// this search is cut short: the first one finished.
		_, li := porcupine.CheckOperationsVerbose(model, ops, 0)
		info = &li
	}
	budget.end(search)
	r.overBudget = search.over.Load()
	switch {
	case verdict == porcupine.Ok:
		r.verdict, r.undecided = Valid, false
	case illegal:
		r.verdict, r.undecided = Invalid, false
		r.anomalies = append(r.anomalies, linExplain(h, g.key, ops, *info, c.init))
	}
	if r.verdict == Valid && len(g.malformed) > 0 {
		r.verdict = Unknown // a skipped op might have hidden an anomaly
	}
	if r.verdict != Valid && len(ops) <= c.opts.MaxVisualizeOps {
		r.ops, r.info = ops, info
	}
	return r
}

// knows reports whether the model has operation f.
func (c *linearizable) knows(f string) bool {
	if c.opts.Model == "mutex" {
		return f == "acquire" || f == "release"
	}
	switch f {
	case "read", "write":
		return true
	case "cas":
		return c.opts.Model != "register"
	}
	return false
}

// linOperand is what a write or cas asked for: the invocation's value, or
// the completion's when the invocation lacks one.
func linOperand(inv, comp *history.Op) any {
	if inv.Value == nil {
		return comp.Value
	}
	return inv.Value
}

func (c *linearizable) ignoredNote(ignored map[string]int) string {
	fs := make([]string, 0, len(ignored))
	for f := range ignored {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%q ×%d", f, ignored[f])
	}
	s := fmt.Sprintf("ignored client ops the %s model does not have: %s", c.opts.Model, strings.Join(parts, ", "))
	if ignored["cas"] > 0 {
		s += " (check cas with --workload cas-register or kv)"
	}
	return s
}

// linExplain describes why porcupine found no linearization, after Knossos:
// take the longest partial linearization porcupine found; the op that
// could not follow it is the pending op that returned first (every
// linearization must place it before anything invoked after its return).
// Ops names that op, the last op of the prefix (which set the state it
// contradicts), and up to 8 other pending ops invoked before it returned,
// which could have come first; each as invocation and completion indexes.
func linExplain(h history.History, key string, ops []porcupine.Operation, info porcupine.LinearizationInfo, init *regValue) Anomaly {
	a := Anomaly{Kind: "nonlinearizable", Key: key}
	var best []int
	if parts := info.PartialLinearizations(); len(parts) == 1 {
		for _, p := range parts[0] {
			if len(p) > len(best) {
				best = p
			}
		}
	}
	done := make([]bool, len(ops))
	var state any = init
	for _, id := range best {
		done[id] = true
		_, state = regStep(state, ops[id].Input)
	}
	stuck := -1
	for i := range ops {
		if !done[i] && (stuck < 0 || ops[i].Return < ops[stuck].Return ||
			ops[i].Return == ops[stuck].Return && ops[i].Call < ops[stuck].Call) {
			stuck = i
		}
	}
	if stuck < 0 {
		a.Detail = fmt.Sprintf("%s: porcupine found no linearization of its %d ops", linKeyName(key), len(ops))
		return a
	}
	involved := []*linOp{ops[stuck].Input.(*linOp)}
	var last *linOp
	if len(best) > 0 {
		last = ops[best[len(best)-1]].Input.(*linOp)
		involved = append(involved, last)
	}
	// Pending ops, the latest invoked first: info ops stay pending to the
	// end, and the ones from long ago rarely explain anything.
	var pending []int
	for i := range ops {
		if !done[i] && i != stuck && ops[i].Call < ops[stuck].Return {
			pending = append(pending, i)
		}
	}
	slices.SortFunc(pending, func(i, j int) int { return cmp.Compare(ops[j].Call, ops[i].Call) })
	for _, i := range pending[:min(len(pending), 8)] {
		involved = append(involved, ops[i].Input.(*linOp))
	}
	for _, op := range involved {
		a.Ops = append(a.Ops, h[op.inv].Index)
		if op.done >= 0 {
			a.Ops = append(a.Ops, h[op.done].Index)
		}
	}
	slices.Sort(a.Ops)
	a.Ops = slices.Compact(a.Ops)

	// The key is in a.Key; the detail leads with the op and the state.
	s := involved[0]
	if last == nil {
		a.Detail = fmt.Sprintf("%s by process %d (%s) cannot be linearized: the register holds %s, its initial value, and no op linearizes before it",
			s.describe(), h[s.inv].Process, s.indexes(h), state.(*regValue).text)
	} else {
		a.Detail = fmt.Sprintf("%s by process %d (%s) cannot be linearized: the register holds %s after the longest linearizable prefix (%d of %d ops), which ends with %s by process %d (%s)",
			s.describe(), h[s.inv].Process, s.indexes(h), state.(*regValue).text, len(best), len(ops),
			last.describe(), h[last.inv].Process, last.indexes(h))
	}
	return a
}

// visualize writes linear.html for the keys that are invalid (or, when
// none is, unknown): porcupine draws the history with its partial
// linearizations. Several keys are drawn together, which takes a second
// search over them since LinearizationInfo cannot be merged.
func (c *linearizable) visualize(ctx context.Context, stop *atomic.Bool, budget *linBudget, res *Result, h history.History, results []linKeyResult) {
	if c.opts.OutDir == "" || res.Valid == Valid {
		return
	}
	var show []*linKeyResult
	for _, want := range []Validity{Invalid, Unknown} {
		for i := range results {
			if r := &results[i]; r.verdict == want && r.nops > 0 {
				show = append(show, r)
			}
		}
		if len(show) > 0 {
			break
		}
	}
	if len(show) == 0 {
		return
	}
	total, drawable := 0, true
	for _, r := range show {
		total += r.nops
		drawable = drawable && r.info != nil
	}
	if !drawable && total <= c.opts.MaxVisualizeOps {
		res.Notes = append(res.Notes, fmt.Sprintf("%s not written: the check stopped before searching every key to draw", LinearFile))
		return
	}
	if total > c.opts.MaxVisualizeOps {
		res.Notes = append(res.Notes, fmt.Sprintf("%s not written: the keys to draw hold %d ops, more than the limit of %d",
			LinearFile, total, c.opts.MaxVisualizeOps))
		return
	}
	info := *show[0].info
	if len(show) > 1 && stop.Load() {
		res.Notes = append(res.Notes, fmt.Sprintf("%s shows %s only: no time was left to draw the other %d keys",
			LinearFile, linKeyName(show[0].key), len(show)-1))
		show = show[:1]
	}
	if len(show) > 1 {
		var all []porcupine.Operation
		for _, r := range show {
			all = append(all, r.ops...)
		}
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Millisecond)
		}
		search := &linSearch{stop: stop, nops: len(all)}
		budget.begin(search)
		_, info = porcupine.CheckOperationsVerbose(regModel(c.init, search, true, h), all, timeout)
		budget.end(search)
		if search.over.Load() {
			res.Notes = append(res.Notes, fmt.Sprintf("%s not written: drawing %d keys together reached the memory budget", LinearFile, len(show)))
			return
		}
	}
	if err := os.MkdirAll(c.opts.OutDir, 0o755); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%s not written: %v", LinearFile, err))
		return
	}
	if err := linWriteHTML(filepath.Join(c.opts.OutDir, LinearFile), regModel(c.init, nil, len(show) > 1, h), info); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%s not written: %v", LinearFile, err))
		return
	}
	res.Files = append(res.Files, LinearFile)
}

// linWriteHTML writes porcupine's visualization. porcupine panics if a
// replayed step fails; that would be a bug here, but it must not cost the
// verdict, so it becomes an error.
func linWriteHTML(path string, model porcupine.Model, info porcupine.LinearizationInfo) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("porcupine visualization: %v", p)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	if err := porcupine.Visualize(model, info, w); err != nil {
		return err
	}
	return w.Flush()
}

// linKeyName names a key in notes and details.
func linKeyName(key string) string {
	if key == "" {
		return "the register"
	}
	return "key " + key
}

func linList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

func countLinKind(as []Anomaly, kind string) int {
	n := 0
	for _, a := range as {
		if a.Kind == kind {
			n++
		}
	}
	return n
}

// valueForLinDetail renders a value for a detail line, short.
func valueForLinDetail(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}
