package soak

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/chaoscheck/chaoscheck/checker"
	"github.com/chaoscheck/chaoscheck/internal/errwriter"
)

// maxTableRows caps the summary table: past it the table shows every run
// that did not pass and the last few, and soak.json lists them all.
const (
	maxTableRows = 50
	lastRowsKept = 10
)

// WriteTable prints the end-of-soak summary: a table of runs (scenario,
// seed, verdict, duration, ops, run dir), the totals and why the soak
// stopped, and the command reproducing each run that did not pass.
func WriteTable(w io.Writer, s Summary, files ...string) error {
	ew := &errwriter.Writer{W: w}
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSCENARIO\tSEED\tVERDICT\tDURATION\tOPS\tRUN DIR")
	hidden := 0
	for i, r := range s.Runs {
		if len(s.Runs) > maxTableRows && r.Valid == checker.Valid && i < len(s.Runs)-lastRowsKept {
			hidden++
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%s\n", r.N, r.Scenario, r.Seed, strings.ToUpper(r.Valid.String()),
			seconds(r.DurationSec), r.Ops, r.Dir)
	}
	tw.Flush()
	if hidden > 0 {
		fmt.Fprintf(ew, "(%d valid runs not shown; soak.json lists every run)\n", hidden)
	}
	runs := "runs"
	if len(s.Runs) == 1 {
		runs = "run"
	}
	fmt.Fprintf(ew, "\n%d %s in %s: %d valid, %d invalid, %d unknown; stopped: %s; soak seed %d\n",
		len(s.Runs), runs, seconds(s.DurationSec), s.Counts["valid"], s.Counts["invalid"], s.Counts["unknown"], s.Stopped, s.Seed)
	for _, r := range s.Runs {
		if r.Valid == checker.Valid {
			continue
		}
		fmt.Fprintf(ew, "\nrun %d %s: %s\n", r.N, r.Name(), strings.ToUpper(r.Valid.String()))
		if r.Error != "" {
			fmt.Fprintf(ew, "  error: %s\n", r.Error)
		}
		for _, a := range r.Anomalies {
			fmt.Fprintf(ew, "  %s\n", a)
		}
		if len(r.Anomalies) == 0 {
			for _, n := range r.Notes {
				fmt.Fprintf(ew, "  note: %s\n", n)
			}
		}
		fmt.Fprintf(ew, "  reproduce: %s\n", r.Reproduce)
	}
	if len(files) > 0 {
		fmt.Fprintf(ew, "\nwrote %s\n", strings.Join(files, ", "))
	}
	fmt.Fprintf(ew, "soak verdict: %s (exit %d)\n", strings.ToUpper(s.Valid.String()), s.ExitCode())
	return ew.Err
}
