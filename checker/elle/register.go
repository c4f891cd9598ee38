package elle

import "github.com/chaoscheck/chaoscheck/checker"

// Register list-append and rw-register as checkers and as analyze
// workloads (each with the stats checker, like the other workloads).
func init() {
	for _, w := range Workloads() {
		checker.Register(w, func(o checker.Options) (checker.Checker, error) {
			return NewChecker(Options{Workload: w, Models: o.ConsistencyModels, Timeout: o.Timeout})
		}, map[string][]string{w: {w, "stats"}})
	}
}
