package elle

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// models.go is the consistency-model lattice, after Elle's
// consistency-model namespace and the sources it cites (Adya; Adya, Liskov
// and O'Neil; Bailis et al.; Cerone et al.; Daudjee and Salem): which
// models imply which, which anomalies each model forbids, and which
// anomalies imply which. From these follow the anomalies a set of models
// forbids, and the models a set of found anomalies rules out.

// modelImplies: a history that satisfies the model satisfies each listed
// (weaker) model.
var modelImplies = map[string][]string{
	"strict-serializable":               {"serializable", "strong-snapshot-isolation", "strong-session-serializable"},
	"strong-session-serializable":       {"serializable", "strong-session-snapshot-isolation"},
	"serializable":                      {"repeatable-read", "snapshot-isolation", "update-serializable"},
	"update-serializable":               {"forward-consistent-view"},
	"forward-consistent-view":           {"consistent-view"},
	"consistent-view":                   {"cursor-stability", "monotonic-view"},
	"monotonic-view":                    {"read-committed"},
	"monotonic-snapshot-read":           {"read-committed"},
	"strong-snapshot-isolation":         {"strong-session-snapshot-isolation", "strong-read-committed"},
	"strong-session-snapshot-isolation": {"snapshot-isolation", "strong-session-read-committed"},
	"snapshot-isolation":                {"update-atomic", "monotonic-atomic-view", "forward-consistent-view", "monotonic-snapshot-read"},
	"repeatable-read":                   {"cursor-stability", "monotonic-atomic-view"},
	"update-atomic":                     {"read-atomic"},
	"read-atomic":                       {"monotonic-atomic-view"},
	"monotonic-atomic-view":             {"read-committed"},
	"cursor-stability":                  {"read-committed"},
	"strong-read-committed":             {"strong-session-read-committed", "strong-read-uncommitted"},
	"strong-session-read-committed":     {"read-committed", "strong-session-read-uncommitted"},
	"read-committed":                    {"read-uncommitted"},
	"strong-read-uncommitted":           {"strong-session-read-uncommitted"},
	"strong-session-read-uncommitted":   {"read-uncommitted"},
	"read-uncommitted":                  nil,
}

// modelAliases maps other names of a model to the one used here.
var modelAliases = map[string]string{
	"strong-serializable":   "strict-serializable",
	"PL-SS":                 "strict-serializable",
	"conflict-serializable": "serializable",
	"PL-3":                  "serializable",
	"PL-2.99":               "repeatable-read",
	"PL-SI":                 "snapshot-isolation",
	"PL-2":                  "read-committed",
	"PL-1":                  "read-uncommitted",
	"PL-CS":                 "cursor-stability",
	"PL-2+":                 "consistent-view",
	"PL-FCV":                "forward-consistent-view",
	"PL-3U":                 "update-serializable",
	"PL-2L":                 "monotonic-view",
	"PL-MSR":                "monotonic-snapshot-read",
}

// modelForbids: the anomalies each model forbids directly; the weaker
// models it implies forbid the rest.
var modelForbids = map[string][]string{
	"read-uncommitted":                  {"G0", "duplicate-elements"},
	"read-committed":                    {"G1"},
	"consistent-view":                   {"G1", "G-single"},
	"forward-consistent-view":           {"G1", "GSIb"},
	"cursor-stability":                  {"G1", "lost-update"},
	"read-atomic":                       {"internal", "G1a", "future-read"},
	"update-atomic":                     {"lost-update"},
	"repeatable-read":                   {"G1", "G2-item", "lost-update"},
	"snapshot-isolation":                {"internal", "G1", "G-nonadjacent"},
	"serializable":                      {"internal", "G1", "G2"},
	"strict-serializable":               {"G1", "G1c-realtime", "G2-realtime"},
	"strong-session-read-uncommitted":   {"G0-process"},
	"strong-session-read-committed":     {"G1c-process"},
	"strong-read-uncommitted":           {"G0-realtime"},
	"strong-read-committed":             {"G1c-realtime"},
	"strong-session-snapshot-isolation": {"internal", "G1-process", "G-nonadjacent-process"},
	"strong-snapshot-isolation":         {"internal", "G1-realtime", "G-nonadjacent-realtime"},
	"strong-session-serializable":       {"G1-process", "G2-process"},
}

// anomalyImplies: finding the anomaly means finding each listed one too.
// Every G-single here is Elle's G-single-item (no predicates), so it is
// also G-nonadjacent and G2-item. A process edge is a realtime edge too,
// since a process runs one txn at a time.
var anomalyImplies = map[string][]string{
	"G0":                     {"G1c", "G0-process"},
	"G0-process":             {"G1c-process", "G0-realtime"},
	"G0-realtime":            {"G1c-realtime"},
	"G1a":                    {"G1"},
	"G1b":                    {"G1"},
	"G1c":                    {"G1", "G1c-process"},
	"G1c-process":            {"G1c-realtime", "G1-process"},
	"G1c-realtime":           {"G1-realtime"},
	"G1":                     {"G1-process"},
	"G1-process":             {"G1-realtime"},
	"G-single":               {"G-nonadjacent", "G-single-process", "GSIb"},
	"G-single-process":       {"G-nonadjacent-process", "G-single-realtime"},
	"G-single-realtime":      {"G-nonadjacent-realtime"},
	"G-nonadjacent":          {"G2-item", "G-nonadjacent-process"},
	"G-nonadjacent-process":  {"G2-item-process", "G-nonadjacent-realtime"},
	"G-nonadjacent-realtime": {"G2-item-realtime"},
	"G2-item":                {"G2", "G2-item-process"},
	"G2-item-process":        {"G2-process", "G2-item-realtime"},
	"G2-item-realtime":       {"G2-realtime"},
	"G2":                     {"G2-process"},
	"G2-process":             {"G2-realtime"},
	"incompatible-order":     {"G1a"},
	"dirty-update":           {"G1a"},
	"future-read":            {"G1c"},
	"lost-update":            {"G2-item"},
}

// Models lists the consistency models NewChecker accepts, strongest first
// within each family.
func Models() []string {
	ms := make([]string, 0, len(modelImplies))
	for m := range modelImplies {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}

func canonicalModel(m string) (string, error) {
	if a, ok := modelAliases[m]; ok {
		m = a
	}
	if _, ok := modelImplies[m]; !ok {
		return "", fmt.Errorf("unknown consistency model %q (want one of %s)", m, strings.Join(Models(), ", "))
	}
	return m, nil
}

// closure walks edges from the starts and returns every node reached,
// starts included.
func closure(starts []string, next func(string) []string) map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(starts)
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[x] {
			continue
		}
		seen[x] = true
		stack = append(stack, next(x)...)
	}
	return seen
}

func reverse(m map[string][]string) map[string][]string {
	r := map[string][]string{}
	for k, vs := range m {
		for _, v := range vs {
			r[v] = append(r[v], k)
		}
	}
	return r
}

var (
	anomalyImpliedBy = reverse(anomalyImplies)
	modelImpliedBy   = reverse(modelImplies)
	forbiddenBy      = reverse(modelForbids)
)

// Forbidden returns every anomaly a history must not show for all the
// models to hold: what the models and every weaker model they imply forbid,
// and every anomaly that implies one of those.
func Forbidden(models []string) map[string]bool {
	var direct []string
	for m := range closure(models, func(m string) []string { return modelImplies[m] }) {
		direct = append(direct, modelForbids[m]...)
	}
	return closure(direct, func(a string) []string { return anomalyImpliedBy[a] })
}

// RuledOut returns the models that the found anomalies rule out: every
// model that forbids one of them or what they imply, and every stronger
// model. weakest holds those no other ruled-out model is weaker than
// (Elle's "not"), also the rest ("also-not").
func RuledOut(anomalies []string) (weakest, also []string) {
	implied := closure(anomalies, func(a string) []string { return anomalyImplies[a] })
	var direct []string
	for a := range implied {
		direct = append(direct, forbiddenBy[a]...)
	}
	out := closure(direct, func(m string) []string { return modelImpliedBy[m] })
	for m := range out {
		weaker := false
		for _, w := range modelImplies[m] {
			if out[w] {
				weaker = true
				break
			}
		}
		if weaker {
			also = append(also, m)
		} else {
			weakest = append(weakest, m)
		}
	}
	sort.Strings(weakest)
	sort.Strings(also)
	return weakest, also
}

// headlineModels are the models users name when they ask what a database
// gives them (the ANSI levels, snapshot isolation, cursor stability and
// the serializable pair), strongest first.
var headlineModels = []string{"strict-serializable", "serializable", "snapshot-isolation", "repeatable-read",
	"cursor-stability", "read-committed", "read-uncommitted"}

// NotRuledOut returns the headline models (strict-serializable,
// serializable, snapshot-isolation, repeatable-read, cursor-stability,
// read-committed, read-uncommitted) that the found anomalies do not rule
// out, strongest first. RuledOut names only what fails, so without this a
// reader has to know the lattice to learn that, say, a history with write
// skew (G2-item) may still be snapshot isolation. Not ruled out is not
// proven: other anomalies may hide in what was not observed.
func NotRuledOut(anomalies []string) []string {
	weakest, also := RuledOut(anomalies)
	var possible []string
	for _, m := range headlineModels {
		if !slices.Contains(weakest, m) && !slices.Contains(also, m) {
			possible = append(possible, m)
		}
	}
	return possible
}

// implied reports whether anomaly b follows from anomaly a.
func implied(a, b string) bool {
	return closure([]string{a}, func(x string) []string { return anomalyImplies[x] })[b]
}
