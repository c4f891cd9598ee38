package runner

import (
	"fmt"
	"math"
)

// Upper bounds on the numbers a run takes. Each is far above any useful
// test and far below what would exhaust the machine before the run could
// even start: the register workload's setup holds one statement per key
// in one request, every worker is a goroutine with its own client, every
// node a process with its own ports and data dir.
const (
	MaxKeys        = 10_000 // the register setup's one request stays well under raftsql.MaxCommandBytes (4 MiB)
	MaxConcurrency = 10_000
	MaxNodes       = 15
	MaxRate        = 1e6 // ops/s; beyond it the rate limiter is "unlimited" anyway
	MaxRounds      = 1_000_000
)

// boundErrors lists the settings of c outside what a run can do: not
// finite, or past a bound above. Validate reports them with the rest, so
// they are a *ConfigError (exit 254) and nothing is written.
func (c Config) boundErrors() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate > MaxRate {
		bad("rate %g: want a number from 0 (unlimited) to %g", c.Rate, MaxRate)
	}
	if c.Keys > MaxKeys {
		bad("keys %d: want at most %d", c.Keys, MaxKeys)
	}
	if c.Concurrency > MaxConcurrency {
		bad("concurrency %d: want at most %d", c.Concurrency, MaxConcurrency)
	}
	if c.NodeCount > MaxNodes {
		bad("nodes %d: want at most %d", c.NodeCount, MaxNodes)
	}
	if c.Participants < 0 || c.Participants == 1 || c.Participants > MaxNodes {
		bad("participants %d: want 2 to %d (or 0, two)", c.Participants, MaxNodes)
	}
	if c.Rounds > MaxRounds {
		bad("rounds %d: want at most %d", c.Rounds, MaxRounds)
	}
	return errs
}
