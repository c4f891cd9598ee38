package runner

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command is the `chaoscheck run` command line that reruns c: its
// scenario (or workload, nemesis and target), its seed, and every setting
// that differs from what those alone would give. It is the one spelling
// of a reproduce command: the runner records it in config.json
// (store.Record.Reproduce), and report, soak and selftest print it.
func (c Config) Command() string {
	base, err := NewConfig(c.Scenario)
	if err != nil {
		base = Defaults()
	}
	args := []string{"chaoscheck", "run"}
	if c.Scenario != "" && err == nil {
		args = append(args, "--scenario", c.Scenario)
	} else {
		base.Workload, base.Nemesis, base.Target = c.Workload, c.Nemesis, c.Target
		args = append(args, "--workload", c.Workload, "--nemesis", c.Nemesis)
		if c.Target != "" {
			args = append(args, "--target", c.Target)
		}
	}
	// What the preset leaves open resolves as it would on the rerun (the
	// nemesis interval follows the nemesis).
	if r, err := base.Resolve(); err == nil {
		base = r
	}
	flag := func(name string, differs bool, v any) {
		if differs {
			args = append(args, "--"+name, fmt.Sprint(v))
		}
	}
	dur := func(name string, v, def time.Duration) { flag(name, v != def, v) }
	flag("workload", c.Scenario != "" && c.Workload != base.Workload, c.Workload)
	flag("nemesis", c.Scenario != "" && c.Nemesis != base.Nemesis, c.Nemesis)
	flag("target", c.Scenario != "" && c.Target != base.Target && c.Target != "", c.Target)
	dur("time-limit", c.TimeLimit, base.TimeLimit)
	flag("rounds", c.Rounds != base.Rounds, c.Rounds)
	// 0 is "the nemesis's own", which the rerun resolves to as well.
	flag("nemesis-interval", c.NemesisInterval != 0 && c.NemesisInterval != base.NemesisInterval, c.NemesisInterval)
	dur("pause-before-commit", c.PauseBeforeCommit, base.PauseBeforeCommit)
	flag("concurrency", c.Concurrency != base.Concurrency, c.Concurrency)
	flag("rate", c.Rate != base.Rate, strconv.FormatFloat(c.Rate, 'g', -1, 64))
	flag("keys", c.Keys != base.Keys, c.Keys)
	flag("consistency-models", len(c.ConsistencyModels) > 0, strings.Join(c.ConsistencyModels, ","))
	dur("op-timeout", c.OpTimeout, base.OpTimeout)
	dur("check-timeout", c.CheckTimeout, base.CheckTimeout)
	dur("heal-timeout", c.HealTimeout, base.HealTimeout)
	flag("nodes", c.NodeCount != base.NodeCount, c.NodeCount)
	flag("participants", c.Participants != base.Participants, c.Participants)
	flag("seed", c.Seed != 0, c.Seed)
	for _, name := range slices.Sorted(maps.Keys(c.TargetOptions)) {
		args = append(args, "--"+name, shellQuote(c.TargetOptions[name]))
	}
	for _, b := range c.SUTBugs {
		args = append(args, "--sut-bug", b)
	}
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./:=,
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
