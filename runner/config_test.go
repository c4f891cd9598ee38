package runner

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/target"
)

func TestScenarioPresets(t *testing.T) {
	for _, tc := range []struct {
		scenario, workload, nemesis string
		check                       func(Config) string
	}{
		{"leader-restart", "set", "restart-leader", func(c Config) string {
			// At least 3 restarts, allowing each one 2s to bring the node
			// back before the next interval starts.
			if n := int(c.TimeLimit / (c.NemesisInterval + 2*time.Second)); n < 3 {
				return "restarts the leader fewer than 3 times"
			}
			return ""
		}},
		{"prepare-commit-alternate", "bank", "alternate-kill", func(c Config) string {
			if c.Rounds < 4 || c.TimeLimit != 0 {
				return "want at least 4 rounds deciding the length of the run"
			}
			return ""
		}},
		{"retry-idempotent", "retry", "duplicate-retry", func(c Config) string {
			if c.Target != "twopc" || c.TimeLimit <= 0 {
				return "want the 2PC target and a time limit"
			}
			return ""
		}},
	} {
		c, err := NewConfig(tc.scenario)
		if err != nil {
			t.Fatalf("%s: %v", tc.scenario, err)
		}
		if c.Workload != tc.workload || c.Nemesis != tc.nemesis || c.Scenario != tc.scenario {
			t.Errorf("%s: workload %s nemesis %s scenario %s; want %s, %s", tc.scenario, c.Workload, c.Nemesis, c.Scenario, tc.workload, tc.nemesis)
		}
		if msg := tc.check(c); msg != "" {
			t.Errorf("%s: %s: %+v", tc.scenario, msg, c)
		}
		if c.Concurrency != DefaultConcurrency || c.Store != DefaultStore {
			t.Errorf("%s: preset lost the defaults it does not set: %+v", tc.scenario, c)
		}
	}
	if _, err := NewConfig("nope"); !IsConfigError(err) || !strings.Contains(err.Error(), "leader-restart") {
		t.Errorf("unknown scenario: %v, want a ConfigError listing the scenarios", err)
	}
	if c, _ := NewConfig(""); c.Workload != DefaultWorkload || c.TimeLimit != DefaultTimeLimit || c.Scenario != "" {
		t.Errorf("no scenario: %+v, want the defaults", c)
	}
}

func TestValidateRejectsRunsThatCannotStartOrEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"unknown workload", func(c *Config) { c.Workload = "nope" }, "unknown workload"},
		{"unknown nemesis", func(c *Config) { c.Nemesis = "kill,nope" }, "nope"},
		{"no end", func(c *Config) { c.TimeLimit, c.Rounds = 0, 0 }, "never end"},
		{"rounds without a nemesis", func(c *Config) { c.Nemesis, c.TimeLimit, c.Rounds = "none", 0, 3 }, "needs a nemesis"},
		{"no workers", func(c *Config) { c.Concurrency = 0 }, "concurrency"},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "rate"},
		{"bad target", func(c *Config) { c.Target = "mongo" }, "target"},
		{"negative nodes", func(c *Config) { c.NodeCount = -1 }, "nodes"},
	} {
		c := Defaults()
		tc.mod(&c)
		err := c.Validate()
		if !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want a ConfigError mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestSeedsDeriveIndependentlyAndReproducibly(t *testing.T) {
	if DeriveSeed(42, "workload") != DeriveSeed(42, "workload") {
		t.Fatal("DeriveSeed is not a function of its inputs")
	}
	seen := map[int64]string{}
	for _, seed := range []int64{1, 2, 42, -7} {
		for _, p := range []string{"workload", "nemesis"} {
			d := DeriveSeed(seed, p)
			if d < 0 {
				t.Errorf("DeriveSeed(%d, %s) = %d, want non-negative", seed, p, d)
			}
			if prev, dup := seen[d]; dup {
				t.Errorf("DeriveSeed(%d, %s) = DeriveSeed of %s", seed, p, prev)
			}
			seen[d] = p
		}
	}
	c := Defaults().withSeed()
	if c.Seed <= 0 || c.Seed >= 1<<53 {
		t.Errorf("random seed %d: want in (0, 2^53)", c.Seed)
	}
	c2 := Defaults()
	c2.Seed = 99
	if c2.withSeed().Seed != 99 {
		t.Error("withSeed replaced an explicit seed")
	}
	if c2.workloadOptions().Seed != DeriveSeed(99, "workload") || c2.nemesisOptions().Seed != DeriveSeed(99, "nemesis") {
		t.Error("workload and nemesis seeds do not derive from the run's seed")
	}
}

func TestConfigJSONWritesReadableDurationsAndRoundTrips(t *testing.T) {
	c, _ := NewConfig("prepare-commit-alternate")
	c.Seed, c.SUTBugs, c.OpTimeout = 7, []string{"skip-dedup"}, 1500*time.Millisecond
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	json.Unmarshal(b, &raw)
	for k, want := range map[string]any{"workload": "bank", "nemesis": "alternate-kill", "op_timeout": "1.5s",
		"time_limit": "0s", "pause_before_commit": "4s", "seed": 7.0, "rounds": 4.0} {
		if raw[k] != want {
			t.Errorf("config.json %s = %v, want %v (all: %s)", k, raw[k], want, b)
		}
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Progress, back.Log = c.Progress, c.Log
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed config.json:\n%s\n%s", b, b2)
	}
}

func TestSeededBugsMustReachANodeThatHasThem(t *testing.T) {
	for _, tc := range []struct {
		name, workload string
		bugs           []string
		want           []string // as passed to the nodes; nil: refused
	}{
		{"raft bug on raft", "register", []string{"stale-read"}, []string{"stale-read"}},
		{"qualified name", "register", []string{"raft/stale-read"}, []string{"stale-read"}},
		{"2pc bug on 2pc", "bank", []string{"twopc/one-phase"}, []string{"one-phase"}},
		{"bare name both kinds know", "bank", []string{"no-dedup"}, []string{"no-dedup"}},
		{"raft bug on 2pc", "bank", []string{"stale-read"}, nil},
		{"qualified for the other target", "bank", []string{"raft/no-dedup"}, nil},
		{"unknown bug", "register", []string{"typo"}, nil},
	} {
		c := Defaults()
		c.Workload, c.Nemesis, c.SUTBugs = tc.workload, "", tc.bugs
		_, _, bugs, err := c.target()
		switch {
		case tc.want == nil && (err == nil || !IsConfigError(err)):
			t.Errorf("%s: %v, want a ConfigError", tc.name, err)
		case tc.want != nil && (err != nil || !slices.Equal(bugs, tc.want)):
			t.Errorf("%s: bugs %v, %v; want %v", tc.name, bugs, err, tc.want)
		}
	}
}

func TestResolvePicksTargetWorkloadAndNemesisThatFit(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		target, workload, nemesis string
		want                      [3]string // target, workload, nemesis; "" target: refused
		errHas                    string
	}{
		{"no flags", "", "", "", [3]string{"raft", "register", "restart-leader"}, ""},
		{"the mission's command", "", "", "alternate-kill", [3]string{"twopc", "bank", "alternate-kill"}, ""},
		{"bank alone", "", "bank", "", [3]string{"twopc", "bank", "alternate-kill"}, ""},
		{"set alone", "", "set", "", [3]string{"raft", "set", "restart-leader"}, ""},
		{"retry alone", "", "retry", "", [3]string{"twopc", "retry", "duplicate-retry"}, ""},
		{"retry on raft", "raft", "retry", "", [3]string{"raft", "retry", "duplicate-retry"}, ""},
		{"retry on twopc", "twopc", "retry", "", [3]string{"twopc", "retry", "duplicate-retry"}, ""},
		{"target alone", "twopc", "", "", [3]string{"twopc", "bank", "alternate-kill"}, ""},
		{"kill fits both", "", "", "kill", [3]string{"raft", "register", "kill"}, ""},
		{"alternate-kill on register", "", "register", "alternate-kill", [3]string{}, "bank (target twopc)"},
		{"restart-leader on twopc", "twopc", "bank", "restart-leader", [3]string{}, "leader"},
		{"no such workload on the target", "raft", "bank", "", [3]string{}, "has no bank workload"},
		{"unknown target", "mongo", "", "", [3]string{}, "unknown target"},
	} {
		c := Defaults()
		c.Target, c.Workload, c.Nemesis = tc.target, tc.workload, tc.nemesis
		_, err := c.resolve()
		if tc.want[0] == "" {
			if !IsConfigError(err) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("%s: %v, want a ConfigError mentioning %q", tc.name, err, tc.errHas)
			}
			continue
		}
		if got := [3]string{c.Target, c.Workload, c.Nemesis}; err != nil || got != tc.want {
			t.Errorf("%s: resolved to %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
}

// The process target's option-less features are kill and pause; help must
// still name the nemeses a config adds, each under the condition that
// adds it, and none the config cannot add.
func TestMoreNemesesNamesWhatAConfigAdds(t *testing.T) {
	pt, err := target.ByName("process")
	if err != nil {
		t.Fatal(err)
	}
	more := strings.Join(MoreNemeses(pt), "\n")
	for _, want := range []string{
		"when the config has [leader]: restart-leader",
		"when the config has [commit_window]: alternate-kill",
		"partition-leader",
	} {
		if !strings.Contains(more, want) {
			t.Errorf("MoreNemeses(process) lacks %q:\n%s", want, more)
		}
	}
	for _, never := range []string{"lag-follower", "coordinator-crash", "duplicate-retry", "kill,"} {
		if strings.Contains(more, never) {
			t.Errorf("MoreNemeses(process) offers %q, which no config gives:\n%s", never, more)
		}
	}
	raft, _ := target.ByName("raft")
	if got := MoreNemeses(raft); got != nil {
		t.Errorf("raft's features do not depend on options, yet MoreNemeses = %v", got)
	}
}
