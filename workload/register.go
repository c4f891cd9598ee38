package workload

import (
	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func init() {
	Register("register", newRegister("register"))
	Register("register-per-node", newRegister("register-per-node"))
}

// register is Jepsen's linearizable register workload, one register per
// key ("k0" …): reads, writes of unique values and compare-and-set. Every
// key starts at 0 (the driver's Setup creates it so).
//
// register-per-node is the same workload with every client process bound
// to one node (process p to the p-th node, mod the cluster size), the way
// Jepsen binds its clients: most reads then arrive at followers, which a
// correct replica forwards or serves through a read index and a buggy one
// serves stale. The binding is the driver's: a target whose driver does
// not know register-per-node does not list it.
type register struct {
	name string
	opts Options
}

func newRegister(name string) func(Options) (Workload, error) {
	return func(opts Options) (Workload, error) { return &register{name: name, opts: opts}, nil }
}

func (w *register) Name() string                   { return w.name }
func (w *register) Generator(seed int64) Generator { return newRegisterGen(seed, w.opts.Keys) }

// FinalOps is empty: the linearizable checker judges the reads made
// during the run.
func (*register) FinalOps() []history.Op { return nil }

func (*register) Judgement() Judgement { return registerJudgement() }

func (w *register) Checkers(outDir string) []checker.Checker { return w.Judgement().build(outDir) }

// RegisterKey is the name of register key i.
func RegisterKey(i int) string { return registerKey(i) }
