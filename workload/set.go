package workload

import (
	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

func init() { Register("set", newSet) }

// set is Jepsen's set workload: unique adds, then, once the faults have
// healed, one read-all. An add applied twice shows as a duplicate
// element, an acknowledged add missing from the read as lost.
type set struct{}

func newSet(Options) (Workload, error) { return set{}, nil }

func (set) Name() string              { return "set" }
func (set) Generator(int64) Generator { return &setGen{} }
func (set) FinalOps() []history.Op    { return []history.Op{{F: "read-all"}} }
func (set) Judgement() Judgement      { return Judgement{Checkers: []string{"set", "stats"}} }
func (s set) Checkers(outDir string) []checker.Checker {
	return s.Judgement().build(outDir)
}
