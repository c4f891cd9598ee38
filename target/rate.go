package target

// RateAdviser is a Target that knows a better default load for some
// workloads than the runner's rate. Elle finds an isolation anomaly only
// between transactions that overlap in time; a PostgreSQL transaction
// takes about a millisecond, so at the runner's 50 ops/s two of them
// rarely overlap, and a run at read committed or repeatable read (levels
// PostgreSQL documents as allowing G-single and write skew) could find
// nothing in a minute. The CLI applies the advice only when the user sets
// neither --rate nor --scenario.
type RateAdviser interface {
	// DefaultRate is the ops/s over all workers for workload, and
	// whether the target has advice for it (0 is unlimited).
	DefaultRate(workload string) (rate float64, ok bool)
}
