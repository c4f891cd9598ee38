package process

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/target"
)

func init() { target.Register(Target{}, false) }

// supported are the workloads whose ops the protocol carries: the op is
// handed to the client program as its history line, whatever its f.
// register, bank and retry need setup data (keys; accounts), sent in the
// hello. retry's transactions are transfers here, as on any target but
// the embedded Raft store.
var supported = []string{"register", "set", "bank", "retry", "list-append", "rw-register"}

// Target is the process target: a system described by a TOML file
// (--config) whose nodes chaoscheck starts as processes and whose client
// is the user's own program, spoken to over JSON lines.
type Target struct{}

// ConfigFlag is the flag naming the config file.
const ConfigFlag = "config"

func (Target) Name() string { return "process" }

func (Target) Doc() string {
	return "your own system: nodes and a client program described in a TOML file (--config; docs/own-system.md)"
}

func (Target) Workloads() []string { return slices.Clone(supported) }

// Features: Kill and Pause always (chaoscheck starts the nodes);
// Partition when a node's command names its peers through a peer
// placeholder (else there is no link to cut); Leader when the config
// says how to ask. An unreadable config gets the base set: Boot reports
// the error.
func (Target) Features(opts target.Options) []target.Feature {
	cfg, err := LoadConfig(opts.Get(ConfigFlag, ""))
	if err != nil {
		return []target.Feature{target.Kill, target.Pause}
	}
	return cfg.Features()
}

// MoreFeatures says which features a config adds to Kill and Pause, and
// when (run's help lists the nemeses they add).
func (Target) MoreFeatures() map[target.Feature]string {
	return map[target.Feature]string{
		target.Partition:           "a node's command names its peers",
		target.LeaderFeature:       "the config has [leader]",
		target.CommitWindowFeature: "the config has [commit_window]",
	}
}

// Features says what a system booted from c can do (see Target.Features).
func (c *Config) Features() []target.Feature {
	fs := []target.Feature{target.Kill, target.Pause}
	if c.namesPeers() {
		fs = append(fs, target.Partition)
	}
	if c.Leader != nil {
		fs = append(fs, target.LeaderFeature)
	}
	if c.Window != nil {
		fs = append(fs, target.CommitWindowFeature)
	}
	return fs
}

// namesPeers says whether a node's command or environment mentions a peer
// placeholder, the links the partition layer sits on.
func (c *Config) namesPeers() bool {
	texts := slices.Clone(c.Node.Command)
	for _, v := range c.Node.Env {
		texts = append(texts, v)
	}
	for _, t := range texts {
		for _, m := range placeholderRE.FindAllStringSubmatch(t, -1) {
			name, _, _ := strings.Cut(m[1], ":")
			if name == "peers" || name == "peer_addrs" || name == "peer" {
				return true
			}
		}
	}
	return false
}

func (Target) Flags() []target.Flag {
	return []target.Flag{{Name: ConfigFlag, Usage: "TOML file describing your system's nodes and client program (docs/own-system.md)"}}
}

// Bugs is nil: a user's system switches its seeded bugs on itself (an
// environment variable its nodes read).
func (Target) Bugs() []string { return nil }

// CheckOptions reads the config and checks that it fits the run before
// the run starts (target.OptionChecker); Boot reads it again.
func (Target) CheckOptions(opts target.Options, nodes int, workload string, _ []string) error {
	cfg, err := loadConfigFlag(opts)
	if err != nil {
		return err
	}
	return cfg.fits(nodes, workload)
}

// loadConfigFlag reads the config --config names.
func loadConfigFlag(opts target.Options) (*Config, error) {
	path := opts.Get(ConfigFlag, "")
	if path == "" {
		return nil, errors.New("process target: --config is required: the TOML file describing your system (docs/own-system.md)")
	}
	return LoadConfig(path)
}

// Boot reads the config named by --config and starts its nodes.
func (Target) Boot(ctx context.Context, env target.Env) (target.System, error) {
	cfg, err := loadConfigFlag(env.Options)
	if err != nil {
		return nil, &target.ConfigError{Err: err}
	}
	s, err := boot(ctx, cfg, env)
	if err != nil {
		return nil, err
	}
	return s.withAbilities(), nil
}

// withAbilities returns s as a target.System that implements target.Leader
// and target.CommitWindow exactly when the config says how: a nemesis
// tests for them with a type assertion.
func (s *system) withAbilities() target.System {
	l, w := leaderPart{s}, window{s}
	switch {
	case s.leader && s.cfg.Window != nil:
		return struct {
			*system
			leaderPart
			window
		}{s, l, w}
	case s.leader:
		return struct {
			*system
			leaderPart
		}{s, l}
	case s.cfg.Window != nil:
		return struct {
			*system
			window
		}{s, w}
	}
	return s
}

// leaderPart is target.Leader for a system whose config has [leader].
type leaderPart struct{ s *system }

func (l leaderPart) Leader(ctx context.Context) (string, error) { return l.s.leaderOf(ctx) }
