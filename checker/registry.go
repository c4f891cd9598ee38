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
	Model         string        // linearizable: register, cas-register or kv
	Init          any           // linearizable: initial register value
	Timeout       time.Duration // linearizable: search time limit
	Memory        int64         // linearizable: memory budget in bytes, 0 for none (LinearizableOptions.MemoryLimit)
	OutDir        string        // where files such as linear.html go
	Total         *int64        // bank: expected sum of every read
	Accounts      []string      // bank: the accounts every read must hold
	AllowNegative bool          // bank
}

// New builds one checker by its name: linearizable, txid, set, bank or
// stats.
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
	case "bank":
		return NewBank(BankOptions{Total: o.Total, Accounts: o.Accounts, AllowNegative: o.AllowNegative}), nil
	case "stats":
		return NewStats(), nil
	}
	return nil, fmt.Errorf("unknown checker %q (want one of linearizable, txid, set, bank, stats)", name)
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
	"set":          {"", []string{"set", "stats"}},
	"bank":         {"", []string{"bank", "stats"}},
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
