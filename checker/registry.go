package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Options configures checkers built by name. Each checker reads only the
// fields it needs.
type Options struct {
	Model         string        // linearizable: register, cas-register, kv or mutex
	Init          any           // linearizable: initial register value
	Timeout       time.Duration // linearizable: search time limit
	Memory        int64         // linearizable: memory budget in bytes, 0 for none (LinearizableOptions.MemoryLimit)
	OutDir        string        // where files such as linear.html go
	Total         *int64        // bank: expected sum of every read
	Accounts      []string      // bank: the accounts every read must hold
	AllowNegative bool          // bank
	// ConsistencyModels are the models a transactional history must
	// satisfy (list-append, rw-register); empty means the checker's default.
	ConsistencyModels []string
}

// Factory builds a checker from Options.
type Factory func(o Options) (Checker, error)

// registered holds checkers that live in packages of their own (such as
// checker/elle), which import this package and so cannot be imported by
// it: they call Register from an init function.
var registered = map[string]Factory{}

// Register makes New build the checker name with f, and makes each
// workload a name for judging a history with the checkers listed for it.
// Call it from an init function only.
func Register(name string, f Factory, workloads map[string][]string) {
	registered[name] = f
	for w, cs := range workloads {
		workloadCheckers[w] = struct {
			model    string
			checkers []string
		}{"", cs}
	}
}

// New builds one checker by its name: linearizable, txid, set, set-full,
// bank, counter, stats, replica-hash, or one a package registered (see
// Register).
func New(name string, o Options) (Checker, error) {
	switch name {
	case "linearizable":
		model := o.Model
		if model == "" {
			model = "kv"
		}
		return NewLinearizable(LinearizableOptions{Model: model, Init: o.Init, Timeout: o.Timeout, OutDir: o.OutDir, MemoryLimit: o.Memory})
	case "txid":
		return NewTxID(), nil
	case "set":
		return NewSet(), nil
	case "set-full":
		return NewSetFull(), nil
	case "counter":
		return NewCounter(), nil
	case "bank":
		return NewBank(BankOptions{Total: o.Total, Accounts: o.Accounts, AllowNegative: o.AllowNegative}), nil
	case "stats":
		return NewStats(), nil
	case "replica-hash":
		return NewReplicaHash(), nil
	}
	if f, ok := registered[name]; ok {
		return f(o)
	}
	names := []string{"linearizable", "txid", "set", "set-full", "bank", "counter", "stats", "replica-hash"}
	builtin := len(names)
	for n := range registered {
		names = append(names, n)
	}
	sort.Strings(names[builtin:])
	return nil, fmt.Errorf("unknown checker %q (want one of %s)", name, strings.Join(names, ", "))
}

// workloadCheckers names the checkers that judge each workload's history.
// `chaoscheck run` and `chaoscheck analyze` share it so a stored run is
// re-judged by the same checkers.
var workloadCheckers = map[string]struct {
	model    string
	checkers []string
}{
	"register":     {"register", []string{"linearizable", "stats"}},
	"cas-register": {"cas-register", []string{"linearizable", "stats"}},
	"kv":           {"kv", []string{"linearizable", "stats"}},
	"mutex":        {"mutex", []string{"linearizable", "stats"}},
	"set":          {"", []string{"set", "stats"}},
	"set-full":     {"", []string{"set-full", "stats"}},
	"bank":         {"", []string{"bank", "stats"}},
	"counter":      {"", []string{"counter", "stats"}},
	"txid":         {"", []string{"txid", "stats"}},
}

// Workloads lists the workload names ForWorkload knows, sorted.
func Workloads() []string {
	names := make([]string, 0, len(workloadCheckers))
	for n := range workloadCheckers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ForWorkload returns the checkers for a workload's histories. The
// register workload of `run` uses the per-key kv model; analyze's
// "register" means one single register, as Knossos does.
func ForWorkload(workload string, o Options) ([]Checker, error) {
	wc, ok := workloadCheckers[workload]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (want one of %s)", workload, strings.Join(Workloads(), ", "))
	}
	if o.Model == "" {
		o.Model = wc.model
	}
	return Build(wc.checkers, o)
}

// Build builds the named checkers.
func Build(names []string, o Options) ([]Checker, error) {
	var cs []Checker
	for _, n := range names {
		c, err := New(strings.TrimSpace(n), o)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}
