package target

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/chaoscheck/chaoscheck/workload"
)

// Target is a kind of system chaoscheck can test: how to boot it and what
// it can do. Implementations are stateless; Boot makes the state.
type Target interface {
	// Name is the target's name on the command line (--target NAME).
	Name() string
	// Doc is one line for --help.
	Doc() string
	// Workloads lists the workloads it has drivers for, the one to run
	// when none is named first.
	Workloads() []string
	// Features says what a system booted with opts can do. It may depend
	// on opts: attached to a running cluster, a target has no process
	// control.
	Features(opts Options) []Feature
	// Flags are the target's own command-line flags (--etcd-bin …); their
	// values reach Boot in Env.Options.
	Flags() []Flag
	// Bugs lists the seeded bugs its nodes can carry (chaoscheck's own
	// self-test only); nil for a real system.
	Bugs() []string
	// Boot starts the system for env.Workload and returns once it serves.
	// On error nothing is left running.
	Boot(ctx context.Context, env Env) (System, error)
}

// Options are the values of a target's Flags by flag name; a flag not set
// has its default.
type Options map[string]string

// Get returns the value of flag name, or def when it is unset or empty.
func (o Options) Get(name, def string) string {
	if v, ok := o[name]; ok && v != "" {
		return v
	}
	return def
}

// Flag is one target-specific command-line flag. Every flag is a string;
// the target parses it in Boot and reports a bad value as a *ConfigError.
type Flag struct {
	Name    string
	Default string
	Usage   string
}

// Env is what Boot gets from the runner.
type Env struct {
	// Dir is the run's nodes directory: node X keeps its data and its log
	// (node.log) in Dir/X.
	Dir string
	// Nodes is the cluster size asked for; 0: the target's default.
	Nodes int
	// Workload is the workload to run; Options are its settings (keys,
	// accounts, op timeout).
	Workload        string
	WorkloadOptions workload.Options
	// Options are the target's own flags.
	Options Options
	// Bugs are seeded bugs to switch on (only names from Target.Bugs).
	Bugs []string
	// Net, when set, is the partition layer: every node-to-node address a
	// node is given must be Net.Via(from, to, addr). nil: nodes talk
	// directly.
	Net Net
	// Log receives the target's remarks (how it started the nodes).
	Log *slog.Logger
}

// Logger returns e.Log, or slog.Default() when it is nil.
func (e Env) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.Default()
	}
	return e.Log
}

// Net is the partition layer as a target sees it.
type Net interface {
	// Via returns the address node from must dial to reach node to's
	// endpoint addr (a loopback proxy the nemeses can cut).
	Via(from, to, addr string) (string, error)
}

// System is a booted target: the nodes a nemesis faults and the driver a
// workload runs through.
type System interface {
	// Nodes lists the node names, as they appear in the history (n1 …).
	Nodes() []string
	// Running says whether node's process is alive (paused counts).
	Running(node string) bool
	// Kill sends SIGKILL to node and reaps it.
	Kill(node string) error
	// Start starts a node that is not running on its existing data and
	// returns once it serves (or ctx ends).
	Start(ctx context.Context, node string) error
	// Pause stops node with SIGSTOP; Resume continues it.
	Pause(node string) error
	Resume(node string) error
	// WaitHealthy waits until every node is up and the system serves as a
	// whole (a leader elected, replicas caught up, nothing in doubt).
	WaitHealthy(ctx context.Context, timeout time.Duration) error
	// Driver is the workload's setup and clients on this system.
	Driver() workload.Driver
	// Stop ends every node: SIGKILL when kill is true (an interrupted
	// run), a graceful stop otherwise. Nothing is left running.
	Stop(kill bool) error
}

// ErrNoProcessControl is what Kill, Start, Pause and Resume return on a
// system chaoscheck attached to rather than started.
var ErrNoProcessControl = errors.New("attached to a running system: no process control")

// Leader is a System with a leader (Raft). Leader returns the node that
// leads now, waiting until one is agreed or ctx ends.
type Leader interface {
	Leader(ctx context.Context) (string, error)
}

// CommitWindow is a System with a two-phase-commit coordinator whose
// commit window (decision durable, no commit message sent yet) a nemesis
// can hold open: the mission's kill-a-participant-in-the-window fault.
type CommitWindow interface {
	// Participants lists the participant nodes, sorted.
	Participants() []string
	// Hold opens the window: the next transaction that spans participant
	// and reaches its commit decision is held there for at most hold.
	// Hold returns that transaction's tx_id once it is held.
	Hold(ctx context.Context, participant string, hold time.Duration) (txID string, err error)
	// Release closes the window and waits until txID has left it.
	Release(ctx context.Context, txID string) error
	// Observe reports, per participant, what it has prepared but not
	// resolved (in doubt) and how many effect rows each tx_id has.
	Observe(ctx context.Context) (map[string]Observation, error)
}

// Observation is one participant's state as CommitWindow.Observe sees it.
type Observation struct {
	InDoubt []string       // tx_ids prepared and not yet resolved
	Effects map[string]int // tx_id → effect rows
}

// ClientRouter is a System whose clients can be sent through a proxy: the
// duplicate-retry nemesis puts one on the client path.
type ClientRouter interface {
	// ClientAddrs lists the addresses clients dial.
	ClientAddrs() []string
	// RouteClients makes clients created from now on dial via instead of
	// addr; via "" removes the route.
	RouteClients(addr, via string)
}
