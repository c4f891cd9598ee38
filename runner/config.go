package runner

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/target"
	"github.com/chaoscheck/chaoscheck/workload"
)

// Config is one run's configuration; config.json records it whole, with
// the seed actually used.
type Config struct {
	Workload string `json:"workload"`           // register, set, bank, retry
	Nemesis  string `json:"nemesis"`            // none, restart-leader, kill, … or a comma list
	Scenario string `json:"scenario,omitempty"` // the preset the values came from, if any
	// Target is the system under test (target.ByName); "" picks the
	// first embedded target that fits the workload and nemesis.
	Target string `json:"target,omitempty"`
	// TargetOptions are the target's own flags (--etcd-bin …) by name.
	TargetOptions map[string]string `json:"target_options,omitempty"`

	Concurrency int           `json:"concurrency"`
	Rate        float64       `json:"rate"`       // ops/s over all workers; 0: unlimited
	TimeLimit   time.Duration `json:"time_limit"` // load duration; 0 with Rounds: until the rounds are done
	Keys        int           `json:"keys"`
	// ConsistencyModels are what list-append and rw-register histories
	// must satisfy (Elle's names); empty: strict-serializable.
	ConsistencyModels []string      `json:"consistency_models,omitempty"`
	OpTimeout         time.Duration `json:"op_timeout"`
	NodeCount         int           `json:"nodes"` // cluster size, where the target has one; 0: the target's default
	// Participants is the number of 2PC participants (bank, retry on a
	// 2PC target); 0: two.
	Participants int `json:"participants,omitempty"`

	// Seed fixes every random choice: the workload generator and the
	// nemesis schedule get seeds derived from it. 0: pick one at random
	// (and record it).
	Seed int64 `json:"seed"`

	NemesisInterval   time.Duration `json:"nemesis_interval"`    // 0: the nemesis's own (DefaultNemesisInterval, PartitionNemesisInterval)
	Rounds            int           `json:"rounds"`              // nemesis actions; 0: until the load ends
	PauseBeforeCommit time.Duration `json:"pause_before_commit"` // alternate-kill's commit window hold

	// SUTBugs are passed to every node as --sut-bug NAME: deliberate bugs
	// for chaoscheck's self-test, to show the checkers catch them.
	SUTBugs []string `json:"sut_bugs,omitempty"`

	Store        string        `json:"store"`
	CheckTimeout time.Duration `json:"check_timeout"` // the checkers' time limit; over it, unknown
	// HealTimeout bounds the wait, after the faults are undone, for the
	// system to be healthy again; a system that never is (a seeded bug
	// that leaves a transaction in doubt) costs this much per run.
	HealTimeout time.Duration `json:"heal_timeout"`

	Version string `json:"chaoscheck_version,omitempty"`

	// Progress receives the live progress line when it is a terminal;
	// otherwise progress goes to Log every few seconds. nil: no progress.
	Progress io.Writer `json:"-"`
	// Log receives the run's phases; nil: slog.Default().
	Log *slog.Logger `json:"-"`
}

// Defaults of a run with no scenario and no flags: the register workload
// (linearizability, the strongest check) with the Raft leader restarted
// every few seconds, for 20 seconds.
const (
	DefaultWorkload        = "register"
	DefaultNemesis         = "restart-leader"
	DefaultConcurrency     = 5
	DefaultRate            = 50
	DefaultTimeLimit       = 20 * time.Second
	DefaultKeys            = 5
	DefaultOpTimeout       = 2 * time.Second
	DefaultNemesisInterval = 5 * time.Second
	// PartitionNemesisInterval is the interval when the nemesis cuts the
	// network: partitions alternate start and stop, so 3s gives a 30s run
	// five partitions.
	PartitionNemesisInterval = 3 * time.Second
	DefaultPauseBeforeCommit = 4 * time.Second
	DefaultStore             = "store"
	DefaultCheckTimeout      = 2 * time.Minute
	DefaultHealTimeout       = time.Minute
)

// DefaultNemesisFor is the nemesis a workload gets when none is named:
// the fault its checkers are built to catch.
func DefaultNemesisFor(workload string) string {
	switch workload {
	case "bank":
		return "alternate-kill"
	case "retry":
		return "duplicate-retry"
	}
	return "restart-leader"
}

// Defaults returns a Config with every default set and no scenario.
func Defaults() Config {
	return Config{
		Workload: DefaultWorkload, Nemesis: DefaultNemesis,
		Concurrency: DefaultConcurrency, Rate: DefaultRate, TimeLimit: DefaultTimeLimit,
		Keys: DefaultKeys, OpTimeout: DefaultOpTimeout,
		PauseBeforeCommit: DefaultPauseBeforeCommit,
		Store:             DefaultStore, CheckTimeout: DefaultCheckTimeout, HealTimeout: DefaultHealTimeout,
	}
}

// Scenario is a named preset: a workload, a nemesis and the schedule that
// makes the fault happen often enough to matter.
type Scenario struct {
	Name        string
	Description string
	apply       func(*Config)
}

// Scenarios are the presets `--scenario` names.
var Scenarios = []Scenario{
	{
		Name:        "leader-restart",
		Description: "set; restart-leader 2s after the last restart, for 15s (4+ restarts)",
		apply: func(c *Config) {
			c.Workload, c.Nemesis = "set", "restart-leader"
			c.NemesisInterval, c.TimeLimit, c.Rounds = 2*time.Second, 15*time.Second, 0
		},
	},
	{
		Name:        "prepare-commit-alternate",
		Description: "bank; alternate-kill: p1, p2, p1, p2 killed in the commit window (4 rounds)",
		apply: func(c *Config) {
			c.Workload, c.Nemesis = "bank", "alternate-kill"
			c.NemesisInterval, c.Rounds, c.TimeLimit = 2*time.Second, 4, 0
		},
	},
	{
		Name:        "retry-idempotent",
		Description: "retry over 2PC; duplicate-retry makes clients resubmit tx_ids, for 15s",
		apply: func(c *Config) {
			c.Workload, c.Nemesis, c.Target = "retry", "duplicate-retry", "twopc"
			c.NemesisInterval, c.TimeLimit, c.Rounds = 3*time.Second, 15*time.Second, 0
		},
	},
	{
		Name:        "partition-leader",
		Description: "register, clients bound to replicas; the Raft leader cut off from the majority every 3s and healed, for 20s",
		apply: func(c *Config) {
			// Bound clients, as in deposed-leader: clients free to change
			// node would follow the new leader and never read from the
			// old one while it still believes it leads.
			c.Workload, c.Nemesis, c.Target = "register-per-node", "partition-leader", "raft"
			c.NemesisInterval, c.TimeLimit, c.Rounds = 3*time.Second, 20*time.Second, 0
			c.Concurrency, c.OpTimeout, c.Keys, c.CheckTimeout = 15, 500*time.Millisecond, 8, 20*time.Second
		},
	},
	{
		Name:        "deposed-leader",
		Description: "register, clients bound to replicas; the Raft leader cut off and frozen until the others elect a new one, thawed still cut off, twice in 30s",
		apply: func(c *Config) {
			// Clients that may change node follow the new leader and never
			// ask the old one again; clients bound to it do, and a short
			// op timeout keeps them from hanging on writes it cannot
			// commit through the window where it still believes it leads.
			// Those writes end info, and a key with dozens of them can
			// take the search minutes to refute: 8 keys spread them, and
			// the check is bounded (a key out of time is unknown).
			c.Workload, c.Nemesis, c.Target = "register-per-node", "deposed-leader", "raft"
			c.NemesisInterval, c.TimeLimit, c.Rounds = 3*time.Second, 30*time.Second, 0
			c.Concurrency, c.OpTimeout, c.Keys, c.CheckTimeout = 15, 500*time.Millisecond, 8, 20*time.Second
		},
	},
	{
		Name:        "partition-commit-window",
		Description: "bank over 2PC; the coordinator cut from p1, then p2, inside the commit window (4 rounds)",
		apply: func(c *Config) {
			c.Workload, c.Nemesis, c.Target = "bank", "partition-coordinator", "twopc"
			c.NemesisInterval, c.Rounds, c.TimeLimit = 2*time.Second, 4, 0
		},
	},
}

// ScenarioNames lists the presets.
func ScenarioNames() []string {
	names := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		names[i] = s.Name
	}
	return names
}

// NewConfig returns the defaults with scenario's presets applied ("" for
// none). Callers then set what the user gave explicitly, which so
// overrides the preset.
func NewConfig(scenario string) (Config, error) {
	c := Defaults()
	if scenario == "" {
		return c, nil
	}
	i := slices.IndexFunc(Scenarios, func(s Scenario) bool { return s.Name == scenario })
	if i < 0 {
		return c, configErrorf("unknown scenario %q (want one of %s)", scenario, strings.Join(ScenarioNames(), ", "))
	}
	Scenarios[i].apply(&c)
	c.Scenario = scenario
	return c, nil
}

// ConfigError is a configuration no run can start from: the CLI's exit
// code 254.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// IsConfigError reports whether err is (or wraps) a ConfigError, or a
// target's (a bad target flag or config file that only Boot could find).
func IsConfigError(err error) bool {
	var ce *ConfigError
	var tce *target.ConfigError
	return errors.As(err, &ce) || errors.As(err, &tce)
}

// Validate checks c without starting anything: names known, numbers in
// range, a run that ends.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Workload != "" && !slices.Contains(workload.Names(), c.Workload) {
		bad("unknown workload %q (want one of %s)", c.Workload, strings.Join(workload.Names(), ", "))
	} else if _, _, _, err := c.target(); err != nil {
		bad("%v", err)
	}
	if c.Concurrency < 1 {
		bad("concurrency %d: want at least 1", c.Concurrency)
	}
	if c.Rate < 0 {
		bad("rate %g: want 0 (unlimited) or more", c.Rate)
	}
	if c.TimeLimit < 0 || c.Rounds < 0 {
		bad("time limit %s, rounds %d: want neither negative", c.TimeLimit, c.Rounds)
	}
	if c.TimeLimit == 0 && c.Rounds == 0 {
		bad("time limit 0 and rounds 0: the run would never end (give --time-limit or --rounds)")
	}
	if c.TimeLimit == 0 && c.Nemesis == "none" {
		bad("time limit 0 with no nemesis: --rounds needs a nemesis to count, give --time-limit")
	}
	if c.Keys < 1 {
		bad("keys %d: want at least 1", c.Keys)
	}
	if c.OpTimeout <= 0 || c.CheckTimeout <= 0 || c.HealTimeout <= 0 || c.NemesisInterval < 0 || c.PauseBeforeCommit < 0 {
		bad("op, check and heal timeouts must be positive, nemesis interval and pause before commit not negative")
	}
	if c.NodeCount < 0 {
		bad("nodes %d: want at least 1 (or 0, the target's default)", c.NodeCount)
	}
	if c.Store == "" {
		bad("no store directory")
	}
	errs = append(errs, c.boundErrors()...)
	if err := errors.Join(errs...); err != nil {
		return &ConfigError{Err: err}
	}
	return nil
}

// withSeed returns c with a seed: its own, or a fresh random one.
func (c Config) withSeed() Config {
	for c.Seed == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			c.Seed = time.Now().UnixNano()
		} else {
			// Positive and below 2^53, so a JSON reader that turns it into
			// a float64 (jq, JavaScript) gives it back unchanged.
			c.Seed = int64(binary.LittleEndian.Uint64(b[:]) & (1<<53 - 1))
		}
	}
	return c
}

// DeriveSeed gives each consumer of randomness (the workload generator,
// the nemesis schedule) its own seed from the run's, so that changing how
// one draws does not shift the other's choices.
func DeriveSeed(seed int64, purpose string) int64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(purpose))
	// splitmix64 finalizer: FNV alone leaves nearby seeds correlated.
	z := h.Sum64() + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64((z ^ (z >> 31)) & (1<<63 - 1))
}

// workloadOptions and nemesisOptions translate the run's Config.
func (c Config) workloadOptions() workload.Options {
	o := workload.Options{
		Concurrency: c.Concurrency, Rate: c.Rate, TimeLimit: c.TimeLimit, OpTimeout: c.OpTimeout,
		Seed: DeriveSeed(c.Seed, "workload"), Keys: c.Keys, Target: c.Target, ConsistencyModels: c.ConsistencyModels,
		Participants: c.Participants,
	}
	return o
}

func (c Config) nemesisOptions() nemesis.Options {
	return nemesis.Options{Interval: c.NemesisInterval, Rounds: c.Rounds,
		PauseBeforeCommit: c.PauseBeforeCommit, Seed: DeriveSeed(c.Seed, "nemesis")}
}

// configJSON is how config.json spells durations: "20s", not nanoseconds.
type configJSON struct {
	*configAlias
	TimeLimit         string `json:"time_limit"`
	OpTimeout         string `json:"op_timeout"`
	NemesisInterval   string `json:"nemesis_interval"`
	PauseBeforeCommit string `json:"pause_before_commit"`
	CheckTimeout      string `json:"check_timeout"`
	HealTimeout       string `json:"heal_timeout"`
}

type configAlias Config

// MarshalJSON writes durations as Go duration strings.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(configJSON{configAlias: (*configAlias)(&c),
		TimeLimit: c.TimeLimit.String(), OpTimeout: c.OpTimeout.String(), NemesisInterval: c.NemesisInterval.String(),
		PauseBeforeCommit: c.PauseBeforeCommit.String(), CheckTimeout: c.CheckTimeout.String(), HealTimeout: c.HealTimeout.String()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Config) UnmarshalJSON(b []byte) error {
	j := configJSON{configAlias: (*configAlias)(c)}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{j.TimeLimit, &c.TimeLimit}, {j.OpTimeout, &c.OpTimeout}, {j.NemesisInterval, &c.NemesisInterval},
		{j.PauseBeforeCommit, &c.PauseBeforeCommit}, {j.CheckTimeout, &c.CheckTimeout}, {j.HealTimeout, &c.HealTimeout}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		*d.dst = v
	}
	return nil
}
