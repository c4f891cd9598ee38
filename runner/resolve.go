package runner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaoscheck/chaoscheck/nemesis"
	"github.com/chaoscheck/chaoscheck/target"
	_ "github.com/chaoscheck/chaoscheck/target/all" // every built-in target
	"github.com/chaoscheck/chaoscheck/workload"
)

// This file decides what a run boots and drives when the user named only
// some of target, workload and nemesis, and refuses a combination that
// cannot work before anything starts. It knows targets only through the
// target package: what each supports and can do.

// Resolve returns c with its target, workload and nemesis decided (see
// resolve), or a *ConfigError when they cannot fit together.
func (c Config) Resolve() (Config, error) {
	c, _, _, err := c.target()
	return c, err
}

// target resolves a copy of c and checks its seeded bugs and target
// flags against the target: the resolved config, the target, and the
// bugs by their names on the target's nodes.
func (c Config) target() (Config, target.Target, []string, error) {
	t, err := c.resolve()
	if err != nil {
		return c, nil, nil, err
	}
	if err := c.checkTargetOptions(t); err != nil {
		return c, nil, nil, err
	}
	bugs, err := c.bugsFor(t)
	if err != nil {
		return c, nil, nil, err
	}
	// The target's own judgement of its flags, before the run directory
	// exists: a value no run can start from writes nothing.
	if oc, ok := t.(target.OptionChecker); ok {
		if err := oc.CheckOptions(c.TargetOptions, c.NodeCount, c.Workload, bugs); err != nil {
			return c, nil, nil, &ConfigError{Err: err}
		}
	}
	return c, t, bugs, nil
}

// resolve fills c.Target, c.Workload and c.Nemesis and returns the
// target. Rules, in order:
//   - a target named is used; otherwise, of the embedded targets that
//     have the workload (when named) and every feature the nemesis (when
//     named) needs, the one that lists the workload first;
//   - no workload: the target's first workload that runs under the
//     nemesis (the register workload when no nemesis is named either, so
//     `chaoscheck run` alone is register under restart-leader);
//   - no nemesis: the workload's natural one when the target can serve
//     it, else restart-leader, kill or none, the first that fits.
func (c *Config) resolve() (target.Target, error) {
	var needs []target.Feature
	if c.Nemesis != "" {
		var err error
		if needs, err = nemesis.Needs(c.Nemesis); err != nil {
			return nil, &ConfigError{Err: err}
		}
	}
	candidates := target.Auto()
	if c.Target != "" {
		t, err := target.ByName(c.Target)
		if err != nil {
			return nil, &ConfigError{Err: err}
		}
		candidates = []target.Target{t}
	}
	fits := func(t target.Target) bool {
		if c.Workload != "" && !target.Supports(t, c.Workload) {
			return false
		}
		_, ok := target.Has(t.Features(c.TargetOptions), needs...)
		return ok
	}
	// Among the targets that fit, the one that lists the workload
	// earliest: the workload is most its own (retry runs on both embedded
	// systems, but is first a 2PC workload).
	var t target.Target
	rank := 0
	for _, cand := range candidates {
		if !fits(cand) {
			continue
		}
		r := slices.Index(cand.Workloads(), c.Workload)
		if t == nil || r < rank {
			t, rank = cand, r
		}
	}
	if t == nil {
		return nil, &ConfigError{Err: c.misfit(candidates, needs)}
	}
	c.Target = t.Name()
	if c.Workload == "" {
		c.Workload = t.Workloads()[0]
		if c.Nemesis == "" && target.Supports(t, DefaultWorkload) {
			c.Workload = DefaultWorkload
		}
	}
	defer func() {
		if c.NemesisInterval == 0 {
			c.NemesisInterval = DefaultNemesisInterval
			if ns, _ := nemesis.Needs(c.Nemesis); slices.Contains(ns, target.Partition) {
				c.NemesisInterval = PartitionNemesisInterval
			}
		}
	}()
	if c.Nemesis == "" {
		c.Nemesis = "none"
		for _, n := range []string{DefaultNemesisFor(c.Workload), "restart-leader", "kill"} {
			ns, _ := nemesis.Needs(n)
			if _, ok := target.Has(t.Features(c.TargetOptions), ns...); ok {
				c.Nemesis = n
				break
			}
		}
	}
	return t, nil
}

// misfit explains why no candidate target fits, naming what would.
func (c *Config) misfit(candidates []target.Target, needs []target.Feature) error {
	if len(candidates) == 1 {
		t := candidates[0]
		if c.Workload != "" && !target.Supports(t, c.Workload) {
			return fmt.Errorf("target %s has no %s workload (it has %s)", t.Name(), c.Workload, strings.Join(t.Workloads(), ", "))
		}
		missing, _ := target.Has(t.Features(c.TargetOptions), needs...)
		return fmt.Errorf("nemesis %s needs %s, which target %s does not offer here; with %s it can run %s",
			c.Nemesis, missing, t.Name(), t.Name(), strings.Join(NemesesFor(t, c.TargetOptions), ", "))
	}
	var fit []string
	for _, t := range candidates {
		if _, ok := target.Has(t.Features(c.TargetOptions), needs...); ok {
			for _, w := range t.Workloads() {
				fit = append(fit, w+" (target "+t.Name()+")")
			}
		}
	}
	switch {
	case c.Workload == "":
		return fmt.Errorf("no embedded target can take nemesis %s", c.Nemesis)
	case !slices.ContainsFunc(target.Auto(), func(t target.Target) bool { return target.Supports(t, c.Workload) }):
		if !slices.Contains(workload.Names(), c.Workload) {
			return fmt.Errorf("unknown workload %q (want one of %s)", c.Workload, strings.Join(workload.Names(), ", "))
		}
		return fmt.Errorf("no embedded target has the %s workload: name one with --target (%s)", c.Workload, strings.Join(target.Names(), ", "))
	case c.Nemesis != "" && len(fit) > 0:
		return fmt.Errorf("nemesis %s cannot act on what the %s workload boots; workloads that fit it: %s", c.Nemesis, c.Workload, strings.Join(fit, ", "))
	}
	return fmt.Errorf("nemesis %s fits no embedded target", c.Nemesis)
}

// NemesesFor lists the nemeses target t can serve with opts.
func NemesesFor(t target.Target, opts target.Options) []string {
	return nemesesWith(t.Features(opts))
}

// nemesesWith lists the nemeses a system with features fs can take.
func nemesesWith(fs []target.Feature) []string {
	var ns []string
	for _, n := range nemesis.Names() {
		needs, _ := nemesis.Needs(n)
		if _, ok := target.Has(fs, needs...); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// MoreNemeses lists, for a target.Conditional, the nemeses its options
// can add beyond NemesesFor(t, nil), grouped by the conditions that add
// the features they need: "when a node's command names its peers:
// partition, partition-one, …".
func MoreNemeses(t target.Target) []string {
	c, ok := t.(target.Conditional)
	if !ok {
		return nil
	}
	base := t.Features(nil)
	all := slices.Clone(base)
	more := c.MoreFeatures()
	for f := range more {
		all = append(all, f)
	}
	byCond := map[string][]string{}
	var conds []string
	for _, n := range nemesesWith(all) {
		needs, _ := nemesis.Needs(n)
		var cs []string
		for _, f := range needs {
			if !slices.Contains(base, f) {
				cs = append(cs, more[f])
			}
		}
		if len(cs) == 0 {
			continue
		}
		slices.Sort(cs)
		k := strings.Join(cs, " and ")
		if _, seen := byCond[k]; !seen {
			conds = append(conds, k)
		}
		byCond[k] = append(byCond[k], n)
	}
	slices.SortFunc(conds, func(a, b string) int { return len(a) - len(b) })
	out := make([]string, len(conds))
	for i, k := range conds {
		out[i] = "when " + k + ": " + strings.Join(byCond[k], ", ")
	}
	return out
}

// bugsFor maps the seeded bugs of c onto t's nodes: each given as
// "target/name" or, where unambiguous, "name". A bug t's nodes do not
// have would make a self-test pass vacuously, so it is refused.
func (c *Config) bugsFor(t target.Target) ([]string, error) {
	var out []string
	for _, b := range c.SUTBugs {
		name := b
		if sys, bare, ok := strings.Cut(b, "/"); ok {
			if sys != t.Name() {
				return nil, configErrorf("SUT bug %q is a bug of target %s, but the run's target is %s", b, sys, t.Name())
			}
			name = bare
		}
		if !slices.Contains(t.Bugs(), name) {
			var known []string
			for _, k := range t.Bugs() {
				known = append(known, t.Name()+"/"+k)
			}
			if len(known) == 0 {
				return nil, configErrorf("SUT bug %q: target %s has no seeded bugs", b, t.Name())
			}
			return nil, configErrorf("unknown SUT bug %q for target %s (it has %s)", b, t.Name(), strings.Join(known, ", "))
		}
		out = append(out, name)
	}
	return out, nil
}

// checkTargetOptions checks that every target flag given belongs to t.
func (c *Config) checkTargetOptions(t target.Target) error {
	for name := range c.TargetOptions {
		if !slices.ContainsFunc(t.Flags(), func(f target.Flag) bool { return f.Name == name }) {
			return configErrorf("--%s is not a flag of target %s", name, t.Name())
		}
	}
	return nil
}

// DefaultRateFor is the rate a run of workload on the named target gets
// when the user sets none: the target's advice (target.RateAdviser), or
// DefaultRate.
func DefaultRateFor(targetName, workload string) float64 {
	if t, err := target.ByName(targetName); err == nil {
		if a, ok := t.(target.RateAdviser); ok {
			if r, ok := a.DefaultRate(workload); ok {
				return r
			}
		}
	}
	return DefaultRate
}
