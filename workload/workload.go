package workload

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/history"
)

// Workload is one kind of test: what ops to generate, which final
// observations to make, and how to judge the history. It says nothing
// about the system: a target's Driver performs the ops (Jepsen splits the
// same way: the generator and checker are the workload's, the client is
// the database's).
type Workload interface {
	// Name is the workload's name on the command line and in store paths.
	Name() string
	// Generator returns the op stream for seed. The same seed yields the
	// same sequence of ops (Run serializes calls to it, so a Generator
	// need not be safe for concurrent use).
	Generator(seed int64) Generator
	// FinalOps are the final observations (read-all, read-balances,
	// final-read) made in order once the faults have healed, each by a
	// fresh client and retried until it completes ok (FinalReads).
	FinalOps() []history.Op
	// Checkers judge the history; outDir is where they may write files
	// (linear.html).
	Checkers(outDir string) []checker.Checker
}

// Driver runs one workload on one booted system: the setup and the
// clients (Jepsen's client protocol: setup!, then invoke! per process). A
// target provides one per workload it supports (target.System.Driver).
type Driver interface {
	// Setup prepares the system (tables, keys, accounts) before the first
	// op. It is not recorded in the history and is retried by the driver
	// until the system answers or ctx ends.
	Setup(ctx context.Context) error
	// NewClient returns a client acting as process. The worker loop opens
	// one per process: after an info, the worker continues with a new
	// process and a new client.
	NewClient(process int64) (Client, error)
}

// Client performs ops against the system under test as one process.
type Client interface {
	// Invoke performs the invocation op and returns its completion: ok
	// (took effect), fail (certainly did not) or info (unknown, e.g. a
	// timeout). ctx carries the per-op timeout.
	Invoke(ctx context.Context, op history.Op) history.Op
	Close() error
}

// Generator yields the next invocation: F, Key, Value, TxID. Run sets
// Type and Process.
type Generator interface {
	Next(process int64) history.Op
}

// Updater is implemented by generators that react to completions (the
// retry workload resubmits a tx_id whose attempt ended info). Run calls
// Update with every recorded completion, serialized with Next. The op
// stream then depends on outcomes as well as on the seed.
type Updater interface {
	Update(completion history.Op)
}

// Recorder records an op into the history, stamping its Index and Time,
// and returns it as recorded. *history.Recorder satisfies it.
type Recorder interface {
	Record(op history.Op) history.Op
}

// Options configure a workload and the worker loop.
type Options struct {
	Concurrency int           // workers, each one process at a time; default 5
	Rate        float64       // ops per second over all workers; 0: unlimited
	TimeLimit   time.Duration // how long Run issues ops; 0: until ctx ends
	OpTimeout   time.Duration // per-op timeout, after which the op is info; default 2s
	Seed        int64         // fixes the op stream

	Keys int // register: number of keys; list-append, rw-register: active keys at a time; default 5

	// ConsistencyModels are what list-append and rw-register histories
	// must satisfy (Elle's names); empty: strict-serializable.
	ConsistencyModels []string

	// Target is the name of the target the workload runs on. Only retry
	// looks at it: on "raft" a transaction is an insert keyed by its
	// tx_id, elsewhere a transfer.
	Target string
	// DuplicateFraction is the share of retry ops that reuse a recent
	// tx_id, sent as a concurrent duplicate; default 0.2.
	DuplicateFraction float64

	Participants   int   // 2PC participants; default 2
	Accounts       int   // bank accounts over all participants; default 8
	InitialBalance int64 // per account; default 100
}

// WithDefaults fills the zero fields of o with their defaults.
func (o Options) WithDefaults() Options {
	if o.Concurrency <= 0 {
		o.Concurrency = 5
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 2 * time.Second
	}
	if o.Keys <= 0 {
		o.Keys = 5
	}
	if o.DuplicateFraction <= 0 {
		o.DuplicateFraction = 0.2
	}
	if o.Participants <= 0 {
		o.Participants = 2
	}
	if o.Accounts <= 0 {
		o.Accounts = 8
	}
	if o.InitialBalance <= 0 {
		o.InitialBalance = 100
	}
	return o
}

// constructors maps each workload name to its constructor.
var constructors = map[string]func(Options) (Workload, error){}

// Register adds a workload under name, for a workload of the user's own
// (from another module) as for the built-in ones. Registering a name
// twice panics: it is a programming error.
func Register(name string, constructor func(Options) (Workload, error)) {
	if _, dup := constructors[name]; dup {
		panic("workload: " + name + " registered twice")
	}
	constructors[name] = constructor
}

// Names lists the workloads ByName knows, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(constructors))
}

// ByName returns the named workload configured by opts (defaults filled
// in).
func ByName(name string, opts Options) (Workload, error) {
	c, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	return c(opts.WithDefaults())
}
