package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/errwriter"
	"github.com/chaoscheck/chaoscheck/store"
)

// Caps on what the summary prints; results.json holds everything.
const (
	MaxAnomalies   = 10 // per checker
	MaxOpsPerLine  = 12 // op indexes per anomaly
	maxNotesShown  = 5  // per checker
	maxDetailRunes = 160
)

// Exit codes, Jepsen's (docs/promises.md says what each means).
const (
	ExitValid    = 0
	ExitInvalid  = 1
	ExitUnknown  = 2
	ExitBadInput = 254
	ExitInternal = 255
)

// ExitCode maps a verdict to the process exit code: 0 valid, 1 invalid,
// 2 unknown.
func ExitCode(v checker.Validity) int {
	switch v {
	case checker.Valid:
		return ExitValid
	case checker.Invalid:
		return ExitInvalid
	default:
		return ExitUnknown
	}
}

// WriteSummary prints the human summary of a run or an analysis: the
// verdict, each checker's verdict with its anomalies and the op indexes
// that show them (capped, "… and N more"), client ops per f by type with
// latency quantiles, nemesis ops, and where the run is stored. Fields of
// r that are zero are left out, so analyze can pass a Results filled only
// by SetVerdict (and History).
func WriteSummary(w io.Writer, r store.Results) error {
	return WriteSummaryExit(w, r, ExitCode(r.Valid))
}

// WriteSummaryExit is WriteSummary for a command that exits with code
// rather than the verdict's own: a run that failed (255) after it was
// stored must not end its summary saying "exit 2".
func WriteSummaryExit(w io.Writer, r store.Results, code int) error {
	ew := &errwriter.Writer{W: w}
	verdict := strings.ToUpper(r.Valid.String())
	fmt.Fprintf(ew, "verdict: %s\n", verdict)
	if r.Interrupted {
		fmt.Fprintln(ew, "  (interrupted: the verdict covers the history recorded until then)")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(ew, "  note: %s\n", n)
	}

	if len(r.Checkers) > 0 {
		fmt.Fprintln(ew, "\ncheckers:")
		for _, c := range r.Checkers {
			writeChecker(ew, c, r.Dir)
		}
	}
	if len(r.Counts) > 0 {
		fmt.Fprintln(ew, "\nclient ops:")
		writeCounts(ew, r.Counts, true)
	}
	if len(r.NemesisCounts) > 0 {
		fmt.Fprintln(ew, "\nnemesis ops:")
		writeCounts(ew, r.NemesisCounts, false)
	}
	if len(r.Partitions) > 0 {
		fmt.Fprintln(ew, "\npartitions (grudge: each node → the nodes it dropped traffic from):")
		for _, p := range r.Partitions {
			g, _ := json.Marshal(p.Grudge)
			fmt.Fprintf(ew, "  %7.1fs  %s\n", p.AtSec, g)
		}
	}

	fmt.Fprintln(ew)
	var facts []string
	if r.Workload != "" {
		test := r.Workload
		if r.Nemesis != "" {
			test += " under " + r.Nemesis
		}
		if r.Scenario != "" {
			test += " (scenario " + r.Scenario + ")"
		}
		facts = append(facts, test)
	}
	if r.Seed != 0 {
		facts = append(facts, fmt.Sprintf("seed %d", r.Seed))
	}
	if r.Ops > 0 {
		facts = append(facts, fmt.Sprintf("%d ops", r.Ops))
	}
	if r.DurationSec > 0 {
		facts = append(facts, (time.Duration(r.DurationSec * float64(time.Second))).Round(100*time.Millisecond).String())
	}
	if len(facts) > 0 {
		fmt.Fprintf(ew, "%s\n", strings.Join(facts, ", "))
	}
	if r.History != "" && (r.Dir == "" || filepath.Dir(r.History) != r.Dir) {
		fmt.Fprintf(ew, "history: %s\n", r.History)
	}
	if r.Dir != "" {
		fmt.Fprintf(ew, "stored in %s\n", r.Dir)
	}
	fmt.Fprintf(ew, "verdict: %s (exit %d)\n", verdict, code)
	return ew.Err
}

// writeChecker prints one checker's verdict, anomalies, notes and files.
func writeChecker(w io.Writer, c checker.Result, dir string) {
	line := fmt.Sprintf("  %-13s %s", c.Checker, strings.ToUpper(c.Valid.String()))
	if n := len(c.Anomalies); n > 0 {
		var kinds []string
		for _, k := range c.AnomalyKinds() {
			kinds = append(kinds, fmt.Sprintf("%s ×%d", k, checker.CountKind(c.Anomalies, k)))
		}
		line += fmt.Sprintf("  %d anomalies: %s", n, strings.Join(kinds, ", "))
	}
	fmt.Fprintln(w, line)
	for i, a := range c.Anomalies {
		if i == MaxAnomalies {
			fmt.Fprintf(w, "      … and %d more anomalies\n", len(c.Anomalies)-i)
			break
		}
		s := "      " + a.Kind
		if a.Key != "" {
			s += " " + a.Key
		}
		if len(a.Ops) > 0 {
			s += " ops " + OpList(a.Ops, MaxOpsPerLine)
		}
		if a.Detail != "" {
			s += ": " + clip(a.Detail, maxDetailRunes)
		}
		fmt.Fprintln(w, s)
	}
	for i, n := range c.Notes {
		if i == maxNotesShown {
			fmt.Fprintf(w, "      … and %d more notes\n", len(c.Notes)-i)
			break
		}
		fmt.Fprintf(w, "      note: %s\n", clip(n, maxDetailRunes))
	}
	for _, f := range c.Files {
		if dir != "" && !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		fmt.Fprintf(w, "      wrote %s\n", f)
	}
}

// writeCounts prints a table of ops per f by type; latency quantiles of
// ok ops when withLatency.
func writeCounts(w io.Writer, counts map[string]*checker.FStats, withLatency bool) {
	fs := slices.SortedFunc(maps.Keys(counts), func(a, b string) int { return cmp.Compare(a, b) })
	width := len("f")
	for _, f := range fs {
		width = max(width, len(f))
	}
	head := fmt.Sprintf("  %-*s %7s %7s %7s %7s", width, "f", "invoke", "ok", "fail", "info")
	if withLatency {
		head += fmt.Sprintf(" %8s %8s %8s %8s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	}
	fmt.Fprintln(w, head)
	for _, f := range fs {
		s := counts[f]
		if s == nil {
			continue
		}
		row := fmt.Sprintf("  %-*s %7d %7d %7d %7d", width, f, s.Invoke, s.OK, s.Fail, s.Info)
		if withLatency {
			if l := s.Latency; l != nil {
				row += fmt.Sprintf(" %8.1f %8.1f %8.1f %8.1f", l.P50, l.P90, l.P99, l.Max)
			} else {
				row += fmt.Sprintf(" %8s %8s %8s %8s", "-", "-", "-", "-")
			}
		}
		fmt.Fprintln(w, row)
	}
}

// OpList prints op indexes, at most max of them, then "… and N more".
func OpList(ops []int64, max int) string {
	var b strings.Builder
	for i, o := range ops {
		if i == max {
			fmt.Fprintf(&b, " … and %d more", len(ops)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, o)
	}
	return b.String()
}

// clip shortens s to n runes, so one huge detail stays one line.
func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
