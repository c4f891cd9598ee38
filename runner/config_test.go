package runner

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaoscheck/chaoscheck/workload"
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
		{"no nodes", func(c *Config) { c.NodeCount = 0 }, "nodes"},
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
	raft := workload.BootSpec{RaftNodes: 3}
	twopc := workload.BootSpec{TwoPC: &workload.TwoPCSpec{Participants: []string{"p1", "p2"}}}
	for _, tc := range []struct {
		name string
		bugs []string
		spec workload.BootSpec
		ok   bool
	}{
		{"raft bug on raft", []string{"stale-read"}, raft, true},
		{"2pc bug on 2pc", []string{"one-phase"}, twopc, true},
		{"bug both kinds know", []string{"no-dedup"}, twopc, true},
		{"raft bug on 2pc", []string{"stale-read"}, twopc, false},
		{"unknown bug", []string{"typo"}, raft, false},
	} {
		err := checkBugs(tc.bugs, tc.spec, "w")
		if (err == nil) != tc.ok || (err != nil && !IsConfigError(err)) {
			t.Errorf("%s: checkBugs = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	r, tp := bugArgs([]string{"stale-read", "one-phase", "no-dedup"})
	if strings.Join(r, " ") != "--sut-bug stale-read --sut-bug no-dedup" || strings.Join(tp, " ") != "--sut-bug one-phase --sut-bug no-dedup" {
		t.Errorf("bugArgs: raft %v, 2pc %v", r, tp)
	}
}

func TestNemesisMustHaveSomethingToActOn(t *testing.T) {
	raft := workload.BootSpec{RaftNodes: 3}
	twopc := workload.BootSpec{TwoPC: &workload.TwoPCSpec{Participants: []string{"p1", "p2"}}}
	for _, tc := range []struct {
		nemesis string
		spec    workload.BootSpec
		ok      bool
	}{
		{"restart-leader", raft, true},
		{"kill, pause", twopc, true},
		{"alternate-kill", twopc, true},
		{"kill,restart-leader", twopc, false},
		{"alternate-kill", raft, false},
	} {
		err := checkNemesis(tc.nemesis, tc.spec, "w")
		if (err == nil) != tc.ok || (err != nil && !IsConfigError(err)) {
			t.Errorf("%s on %+v: %v, want ok %v", tc.nemesis, tc.spec, err, tc.ok)
		}
	}
}
